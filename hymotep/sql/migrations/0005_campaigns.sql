-- Reprocessing campaigns: a collection replayed with a chain version over a zone and a period, at a priority.
-- A new chain version makes older products outdated everywhere, but only an active campaign covering a unit
-- gets it planned (hymotep/sql/gaps.sql); its jobs carry its name, so that pausing it stops their claims.

CREATE TABLE hesp.campaigns (
    name text PRIMARY KEY,
    title text,
    collection text NOT NULL,
    chain_version text NOT NULL,
    zone jsonb NOT NULL,
    start_date date NOT NULL,
    end_date date CHECK (end_date IS NULL OR end_date >= start_date),
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused')),
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL
);

CREATE TABLE hesp.campaign_tiles (
    campaign text NOT NULL REFERENCES hesp.campaigns (name) ON DELETE CASCADE,
    tile text NOT NULL REFERENCES hesp.tiles (id),
    PRIMARY KEY (campaign, tile)
);
CREATE INDEX campaign_tiles_tile_idx ON hesp.campaign_tiles (tile, campaign);

-- The campaign a job was planned for (NULL: a request's new unit); a removed campaign leaves its past jobs.
ALTER TABLE hesp.jobs ADD COLUMN campaign text REFERENCES hesp.campaigns (name) ON DELETE SET NULL;
CREATE INDEX jobs_campaign_idx ON hesp.jobs (campaign, state) WHERE campaign IS NOT NULL;

-- The campaign that replays a unit of `collection` with `version` on `tile` over `dates`: an active one first,
-- then the best priority. Looked up for outdated units only.
CREATE FUNCTION hesp.campaign_cover(collection text, version text, tile text, dates daterange)
RETURNS TABLE (name text, priority smallint, active boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.name, c.priority, c.state = 'active'
    FROM hesp.campaign_tiles t
    JOIN hesp.campaigns c ON c.name = t.campaign
    WHERE t.tile = campaign_cover.tile AND c.collection = campaign_cover.collection
      AND c.chain_version = campaign_cover.version AND daterange(c.start_date, c.end_date, '[]') && dates
    ORDER BY c.state = 'active' DESC, c.priority, c.name
    LIMIT 1
$$;

-- The campaign whose job replaced the unit's input (`upstream` on the same tile and slot), if any: a product
-- made from that input is replayed for it, at its priority.
CREATE FUNCTION hesp.cascade_campaign(upstream text, tile text, slot integer)
RETURNS TABLE (name text, priority smallint, active boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.name, c.priority, c.state = 'active'
    FROM hesp.jobs j
    JOIN hesp.campaigns c ON c.name = j.campaign
    WHERE j.collection = upstream AND j.tile = cascade_campaign.tile AND j.slot = cascade_campaign.slot
    ORDER BY j.id DESC
    LIMIT 1
$$;

-- Why a made unit of `collection` (its products on `tile` in slots `first` to `last`: one acquisition, or a
-- period) is stale: every current product of it (not superseded, of the requested version or newer) names an
-- `upstream` input that has since been superseded: "made from maja-l2a X, superseded by Y". NULL when one of
-- them is made from current inputs. Looked up only for the units whose upstream products include a superseded
-- one (the gap queries know it from the inventory's index).
CREATE FUNCTION hesp.stale_input(collection text, upstream text, tile text, first integer, last integer, version text)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN bool_and(s.input IS NOT NULL) THEN min(s.input) END
    FROM hesp.inventory p
    CROSS JOIN LATERAL (
        SELECT min('made from ' || l.input_collection || ' ' || l.input_id || ', superseded by '
                   || coalesce(r.successor, 'a newer version')) AS input
        FROM hesp.lineage l
        JOIN hesp.inventory i ON i.collection = l.input_collection AND i.id = l.input_id AND i.superseded
        LEFT JOIN hesp.supersessions r ON r.collection = l.input_collection AND r.id = l.input_id
        WHERE l.collection = p.collection AND l.id = p.id AND l.input_collection = upstream
    ) AS s
    WHERE p.collection = stale_input.collection AND p.tile = stale_input.tile AND p.slot BETWEEN first AND last
      AND NOT p.superseded AND hesp.product_rank(p.version, p.valid, version) >= 2
$$;

-- The verdict of a unit to replay ({state, reason, campaign, held}): outdated, with the campaign that replays it
-- (`campaign`, `active`) or why none does. `held` (not NULL) keeps it out of planning: a version change
-- needs an active campaign (`needs_campaign`), and a paused campaign holds its units. NULL when `reason` is.
CREATE FUNCTION hesp.replay_verdict(reason text, campaign text, active boolean, needs_campaign boolean)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN reason IS NULL THEN NULL
        WHEN campaign IS NULL AND needs_campaign THEN ARRAY['outdated', reason || '; no campaign covers it', NULL, 'held']
        WHEN campaign IS NULL THEN ARRAY['outdated', reason]
        WHEN active THEN ARRAY['outdated', reason || '; campaign ' || campaign, campaign]
        ELSE ARRAY['outdated', reason || '; campaign ' || campaign || ' is paused', campaign, 'held']
    END
$$;

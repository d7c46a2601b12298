-- The job queue: one row per unit of work asked of a chain, keyed for idempotency by collection, chain
-- version, tile and unit (the slot of hesp.inventory: the acquisition, or the start of a period).
CREATE TABLE hesp.jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection text NOT NULL,
    chain_version text NOT NULL,
    tile text NOT NULL,
    slot integer NOT NULL,
    mode text,                      -- nominal, backward or init for a multi-temporal chain
    priority smallint NOT NULL DEFAULT 3,
    state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    last_error text,
    log_path text,
    worker text,
    lease_until timestamptz,
    run_after timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (collection, chain_version, tile, slot)
);
CREATE INDEX jobs_unit_idx ON hesp.jobs (collection, tile, slot);
CREATE INDEX jobs_queued_idx ON hesp.jobs (priority, run_after, id) WHERE state = 'queued';
CREATE INDEX jobs_leased_idx ON hesp.jobs (lease_until) WHERE state = 'running';

-- Chain versions and the periods of per-period chains, which hesp 0.1 made in the catalogue's 0005_inventory:
-- OR REPLACE for a database of an older hesp that has them but not the job queue.

-- A chain version as comparable numbers: '4.10.0' -> {4,10,0}, so that 4.10 is newer than 4.9.
CREATE OR REPLACE FUNCTION hesp.version_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(part::integer ORDER BY n)
    FROM regexp_matches(version, '[0-9]+', 'g') WITH ORDINALITY AS m(parts, n), unnest(parts) AS part
$$;

-- The period of a per-period chain containing an instant (UTC): a calendar month or year, or a hydrological
-- year (1 September to 31 August).
CREATE OR REPLACE FUNCTION hesp.period_start(period text, at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE period
        WHEN 'month' THEN date_trunc('month', at AT TIME ZONE 'UTC')
        WHEN 'year' THEN date_trunc('year', at AT TIME ZONE 'UTC')
        WHEN 'hydrological-year' THEN date_trunc('year', (at AT TIME ZONE 'UTC') - interval '8 months')
                                      + interval '8 months'
    END::date
$$;

CREATE OR REPLACE FUNCTION hesp.period_end(period text, start date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (start + CASE period WHEN 'month' THEN interval '1 month' ELSE interval '1 year' END)::date
$$;

-- The tiles asked of a collection, with the dates asked on each (all requests' periods, cut to since/until)
-- and the best priority: the scope of its gaps. A request asks for a collection when it names it or names a
-- chain downstream of it (wanted_by: lis-snow needs maja-l2a).
CREATE FUNCTION hesp.request_scope(wanted_by text[], requests text[], tiles text[], since date, until date)
RETURNS TABLE (tile text, priority smallint, dates datemultirange)
LANGUAGE sql STABLE AS $$
    SELECT rt.tile, min(r.priority), range_agg(daterange(w.first, w.last, '[]'))
    FROM hesp.requests r
    JOIN hesp.request_tiles rt ON rt.request = r.name
    CROSS JOIN LATERAL (SELECT greatest(r.start_date, since) AS first, least(r.end_date, until) AS last) AS w
    WHERE r.chains && wanted_by
      AND (requests IS NULL OR r.name = ANY(requests))
      AND (tiles IS NULL OR rt.tile = ANY(tiles))
      AND (w.last IS NULL OR w.first <= w.last)
    GROUP BY rt.tile
$$;

-- How well existing products of a unit serve a requested chain version: 3 current and valid, 2 current but
-- empty (too cloudy), 1 made by an older version. A product without a version counts as current.
CREATE FUNCTION hesp.product_rank(version text, valid boolean, requested text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN version <> requested AND hesp.version_key(version) < hesp.version_key(requested) THEN 1
                WHEN valid THEN 3 ELSE 2 END
$$;

-- The verdicts of gap queries: {state, reason} when the condition holds, NULL otherwise, so that a unit's
-- verdict is the first of a coalesce(...) in order of precedence.

-- Done, or done but empty, when a product of the requested version exists (rank 3 or 2).
CREATE FUNCTION hesp.made_verdict(rank integer) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE rank WHEN 3 THEN ARRAY['done', NULL] WHEN 2 THEN ARRAY['invalid', 'the product is empty (too cloudy)'] END
$$;

-- Outdated when only products of an older version exist (rank 1).
CREATE FUNCTION hesp.outdated_verdict(rank integer, made text, requested text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN rank = 1 THEN ARRAY['outdated', 'made by version ' || made || ', ' || requested || ' requested'] END
$$;

-- What a job says of its unit. (Casts to text keep it immutable, so that queries inline it.)
CREATE FUNCTION hesp.job_verdict(job bigint, state text, attempts integer, last_error text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE state
        WHEN 'queued' THEN ARRAY['queued', 'job ' || job::text || ' queued']
        WHEN 'running' THEN ARRAY['running', 'job ' || job::text || ' running']
        WHEN 'failed' THEN ARRAY['failed', 'job ' || job::text || ' failed after ' || attempts::text || ' attempts: '
                                           || coalesce(last_error, 'no error recorded')]
    END
$$;

-- Blocked when some required input collections have no item (`present`) for the unit: "no cams-aerosol for ...".
-- Two functions: the test is inlined in every row's verdict, the message is built for the blocked ones only.
CREATE FUNCTION hesp.lacks(required text[], present text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NOT coalesce(present, ARRAY[]::text[]) @> required
$$;

CREATE FUNCTION hesp.missing_verdict(required text[], present text[], place text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['blocked', 'no ' || array_to_string(ARRAY(SELECT unnest(required) EXCEPT SELECT unnest(present)), ', ')
                            || ' ' || place]
$$;

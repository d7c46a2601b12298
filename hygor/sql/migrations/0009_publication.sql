-- The publication lifecycle: superseded products (STAC Version extension), withdrawn products and their history.
--
-- A product made by an older chain version than a newer valid product of its unit (collection, tile, slot) is
-- superseded: its item says `deprecated: true` with a `successor-version` link (hesp.supersede, called by
-- every registration), the inventory knows it (`superseded`), and production never takes it as an input.
-- A withdrawn product leaves pgstac.items (the API cannot serve what is not there, whatever the filter) for
-- hesp.withdrawn_items, which keeps it as pgSTAC had it until `hesp restore` puts it back.

ALTER TABLE hesp.inventory ADD COLUMN superseded boolean NOT NULL DEFAULT false;  -- the item's `deprecated`

-- Read by gaps and job inputs from the inventory's indexes alone, as the other keys are (see 0006).
DROP INDEX hesp.inventory_collection_idx;
DROP INDEX hesp.inventory_unit_idx;
CREATE INDEX inventory_collection_idx ON hesp.inventory (collection, tile, slot)
    INCLUDE (valid, version, acquired, fetchable, superseded);
CREATE INDEX inventory_unit_idx ON hesp.inventory (tile, slot)
    INCLUDE (collection, valid, version, acquired, id, fetchable, superseded);

-- The inventory row of an item (0006), with its new column; hesp.item_entries and the trigger take it as it is.
CREATE OR REPLACE FUNCTION hesp.inventory_entry(collection text, id text, datetime timestamptz, properties jsonb,
                                                fetchable boolean)
RETURNS SETOF hesp.inventory LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT collection, id, tile, datetime, hesp.acquisition_slot(tile, datetime),
           coalesce((properties ->> 'hesp:valid')::boolean, true), properties ->> 'processing:version', fetchable,
           coalesce((properties ->> 'deprecated')::boolean, false)
    FROM (SELECT CASE WHEN properties ->> 'grid:code' LIKE 'MGRS-%' THEN substr(properties ->> 'grid:code', 6) END
          AS tile) AS t
$$;

CREATE OR REPLACE FUNCTION hesp.sync_inventory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
DECLARE
    properties jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM hesp.inventory WHERE collection = OLD.collection AND id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        properties := NEW.content -> 'properties';
        INSERT INTO hesp.inventory
        SELECT * FROM hesp.item_entries(NEW.collection, NEW.id, NEW.datetime, properties, NEW.geometry,
                                        hesp.fetchable(properties, NEW.content -> 'assets'))
        ON CONFLICT ON CONSTRAINT inventory_item DO UPDATE
        SET acquired = EXCLUDED.acquired, slot = EXCLUDED.slot, valid = EXCLUDED.valid, version = EXCLUDED.version,
            fetchable = EXCLUDED.fetchable, superseded = EXCLUDED.superseded;
    END IF;
    RETURN NULL;
END
$$;

UPDATE hesp.inventory AS v SET superseded = true
FROM pgstac.items AS i
WHERE i.collection = v.collection AND i.id = v.id AND i.content @> '{"properties": {"deprecated": true}}';

-- A chain version as comparable numbers: '4.10.0' -> {4,10,0}, so that 4.10 is newer than 4.9. The comparison
-- production's gap queries make (hymotep 0002, which made it first); the catalogue's too since it decides
-- which product supersedes which, also in a catalogue without production.
CREATE OR REPLACE FUNCTION hesp.version_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(part::integer ORDER BY n)
    FROM regexp_matches(version, '[0-9]+', 'g') WITH ORDINALITY AS m(parts, n), unnest(parts) AS part
$$;

-- When each product was superseded, and by which: `hesp prune --older-than` counts from then.
CREATE TABLE hesp.supersessions (
    collection text NOT NULL,
    id text NOT NULL,
    successor text NOT NULL,
    superseded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, id)
);
CREATE INDEX supersessions_at_idx ON hesp.supersessions (superseded_at);

-- The lineage link from an item to another of the same catalogue, relative to the STAC API's root (as
-- hygor.items.derived_from_link writes them, migration 0010).
CREATE FUNCTION hesp.item_link(rel text, collection text, id text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object('rel', rel, 'href', 'collections/' || collection || '/items/' || id,
                              'type', 'application/geo+json')
$$;

-- An item's stored content with `link` in place of its links of the same rel and, for a superseded item,
-- `deprecated` with the Version extension declared.
CREATE FUNCTION hesp.versioned_content(content jsonb, link jsonb, deprecate boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT content
        || jsonb_build_object('links', (
               SELECT coalesce(jsonb_agg(l.value ORDER BY l.n) FILTER (WHERE l.value ->> 'rel' IS DISTINCT FROM link ->> 'rel'), '[]')
               FROM jsonb_array_elements(coalesce(content -> 'links', '[]')) WITH ORDINALITY AS l(value, n)
           ) || jsonb_build_array(link))
        || CASE WHEN deprecate THEN jsonb_build_object(
               'properties', (content -> 'properties') || '{"deprecated": true}',
               'stac_extensions', CASE WHEN content -> 'stac_extensions' ? e.uri THEN content -> 'stac_extensions'
                   ELSE coalesce(content -> 'stac_extensions', '[]') || jsonb_build_array(e.uri) END)
           ELSE '{}' END
    FROM (SELECT 'https://stac-extensions.github.io/version/v1.2.0/schema.json' AS uri) AS e
$$;

-- Mark superseded the products that the registered items (`collections`, `ids`) make old: in each unit of work
-- they belong to, every product of an older chain version than the unit's newest valid product (compared as
-- versions) gets `deprecated` and a `successor-version` link to it, and the newest a `predecessor-version` link
-- to the newest of them. Set-based, on the touched units only, in the registration's transaction; the
-- inventory trigger records `superseded`. Tiled products only: an untiled item has no unit, and the slices of a
-- collection cut by footprint (Sentinel-1 GRD) share a unit without covering the same ground. The superseded
-- products (collection, id, successor).
CREATE FUNCTION hesp.supersede(collections text[], ids text[])
RETURNS TABLE (collection text, id text, successor text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
    WITH touched AS (
        SELECT DISTINCT i.collection, i.tile, i.slot
        FROM unnest(collections, ids) AS w(collection, id)
        JOIN hesp.inventory i ON i.collection = w.collection AND i.id = w.id
        WHERE i.tile IS NOT NULL AND i.version IS NOT NULL  -- a slice of a collection cut by footprint (S1 GRD)
          AND NOT EXISTS (SELECT FROM hesp.footprint_collections f WHERE f.collection = i.collection)
    ),
    newest AS (
        SELECT DISTINCT ON (t.collection, t.tile, t.slot) i.collection, i.tile, i.slot, i.id,
               hesp.version_key(i.version) AS version
        FROM touched t
        JOIN hesp.inventory i ON i.collection = t.collection AND i.tile = t.tile AND i.slot = t.slot
        WHERE i.valid AND NOT i.superseded AND i.version IS NOT NULL
        ORDER BY t.collection, t.tile, t.slot, hesp.version_key(i.version) DESC, i.id
    ),
    older AS (
        SELECT DISTINCT ON (o.collection, o.id) o.collection, o.id, n.id AS successor,
               hesp.version_key(o.version) AS version
        FROM newest n
        JOIN hesp.inventory o ON o.collection = n.collection AND o.tile = n.tile AND o.slot = n.slot
        WHERE NOT o.superseded AND o.version IS NOT NULL AND hesp.version_key(o.version) < n.version
        ORDER BY o.collection, o.id
    ),
    marked AS (
        UPDATE pgstac.items AS p
        SET content = hesp.versioned_content(p.content, hesp.item_link('successor-version', o.collection, o.successor), true)
        FROM older o
        WHERE p.collection = o.collection AND p.id = o.id
        RETURNING p.collection, p.id, o.successor
    ),
    recorded AS (
        INSERT INTO hesp.supersessions (collection, id, successor)
        SELECT m.collection, m.id, m.successor FROM marked m
        ON CONFLICT ON CONSTRAINT supersessions_pkey DO UPDATE SET successor = EXCLUDED.successor
    ),
    predecessors AS (
        SELECT DISTINCT ON (o.collection, o.successor) o.collection, o.successor, o.id
        FROM older o
        ORDER BY o.collection, o.successor, o.version DESC, o.id
    ),
    linked AS (
        UPDATE pgstac.items AS p
        SET content = hesp.versioned_content(p.content, hesp.item_link('predecessor-version', r.collection, r.id), false)
        FROM predecessors r
        WHERE p.collection = r.collection AND p.id = r.successor
    )
    SELECT collection, id, successor FROM marked
$$;

-- An item's stored content as a current version again: without `deprecated`, its successor-version link and the
-- Version extension (whose fields hesp writes no other).
CREATE FUNCTION hesp.current_content(content jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT content
        || jsonb_build_object(
               'properties', (content -> 'properties') - 'deprecated',
               'links', (SELECT coalesce(jsonb_agg(l.value ORDER BY l.n) 
                             FILTER (WHERE l.value ->> 'rel' IS DISTINCT FROM 'successor-version'), '[]')
                         FROM jsonb_array_elements(coalesce(content -> 'links', '[]')) WITH ORDINALITY AS l(value, n)),
               'stac_extensions', coalesce(content -> 'stac_extensions', '[]')
                                  - 'https://stac-extensions.github.io/version/v1.2.0/schema.json')
$$;

-- The products that `successors` (being withdrawn) superseded become current again, their records gone; the
-- caller has hesp.supersede mark them again where another newer product remains. The products reinstated.
CREATE FUNCTION hesp.reinstate(collections text[], successors text[])
RETURNS TABLE (collection text, id text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
    WITH freed AS (
        DELETE FROM hesp.supersessions s USING unnest(collections, successors) AS w(collection, id)
        WHERE s.collection = w.collection AND s.successor = w.id
        RETURNING s.collection, s.id
    )
    UPDATE pgstac.items AS p SET content = hesp.current_content(p.content)
    FROM freed f
    WHERE p.collection = f.collection AND p.id = f.id
    RETURNING p.collection, p.id
$$;

-- Withdrawn products, out of pgSTAC: the item, its `private` column (the load digest), and its unit (from its
-- inventory row), so that gaps name it rather than make it again over its kept files.
CREATE TABLE hesp.withdrawn_items (
    collection text NOT NULL,
    id text NOT NULL,
    tile text,
    slot integer,
    acquired timestamptz,
    version text,
    item jsonb NOT NULL,  -- as the API served it (pgSTAC hydrated), which pgstac.create_item takes back
    private jsonb,
    withdrawn_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, id)
);
CREATE INDEX withdrawn_items_unit_idx ON hesp.withdrawn_items (collection, tile, slot);

-- The history of withdrawals and restorations: who (the OS user, or --by), when and why.
CREATE TABLE hesp.withdrawals (
    event bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    collection text NOT NULL,
    id text NOT NULL,
    action text NOT NULL CHECK (action IN ('withdraw', 'restore')),
    at timestamptz NOT NULL DEFAULT now(),
    by text NOT NULL,
    reason text
);
CREATE INDEX withdrawals_item_idx ON hesp.withdrawals (collection, id, event);

-- The verdict of production's gap queries on a unit whose product was withdrawn (and no current one exists):
-- blocked, not made again over the kept files under the same name; `hesp restore` publishes it again.
CREATE FUNCTION hesp.withdrawn_verdict(product text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN product IS NOT NULL THEN
        ARRAY['blocked', 'its product ' || product || ' was withdrawn (hesp restore publishes it again)'] END
$$;

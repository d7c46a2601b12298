-- The product inventory: one narrow row per pgSTAC item with the keys production is scheduled on (tile,
-- acquisition, validity, chain version) as indexed columns, so that gaps are set operations on this table
-- rather than JSON look-ups in pgSTAC's items. A row trigger on pgstac.items keeps it in step with every
-- write, whoever makes it (hesp ingest, pypgstac, the STAC API's transactions), in the same transaction.

CREATE TABLE hesp.inventory (
    collection text NOT NULL,
    id text NOT NULL,
    tile text,                      -- MGRS tile of grid:code; NULL for untiled items (CAMS aerosol fields)
    acquired timestamptz NOT NULL,  -- pgSTAC's datetime: the acquisition, or the start of a period
    slot integer NOT NULL,          -- the acquisition's key: see hesp.acquisition_slot
    valid boolean NOT NULL,         -- hesp:valid; false for legitimately empty products (too cloudy)
    version text,                   -- processing:version, the chain version that made the product
    PRIMARY KEY (collection, id)
);
-- One collection's items of a tile (auxiliary inputs, periods), and every collection's items of a unit of work
-- in (tile, slot) order: gaps stream through the second without sorting. The statistics tell the planner how
-- many units there are, so that it does not expect to hash them in memory.
CREATE INDEX inventory_collection_idx ON hesp.inventory (collection, tile, slot) INCLUDE (valid, version, acquired);
CREATE INDEX inventory_unit_idx ON hesp.inventory (tile, slot) INCLUDE (collection, valid, version, acquired, id);
CREATE STATISTICS hesp.inventory_units (ndistinct) ON tile, slot FROM hesp.inventory;

-- Half-days of local solar time since 1970 at the central meridian of the tile's UTM zone. Sun-synchronous
-- satellites see a tile at most once per half-day per pass direction (Sentinel-2 at about 10:30, Sentinel-1
-- at 06:00 and 18:00 local time), so an input and its outputs share a slot even when their datetimes differ
-- by minutes (an L1C's datatake start against its L2A's tile time), without a range join.
CREATE FUNCTION hesp.acquisition_slot(tile text, acquired timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT floor(
        (extract(epoch FROM acquired) + coalesce(substr(tile, 1, 2)::integer * 6 - 183, 0) * 240) / 43200
    )::integer
$$;

-- A chain version as comparable numbers: '4.10.0' -> {4,10,0}, so that 4.10 is newer than 4.9.
CREATE FUNCTION hesp.version_key(version text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(part::integer ORDER BY n)
    FROM regexp_matches(version, '[0-9]+', 'g') WITH ORDINALITY AS m(parts, n), unnest(parts) AS part
$$;

-- The inventory row of an item from its properties (extracted once by the caller: an item's content can be
-- large, and every -> on it would read it again). A set-returning SQL function, so that PostgreSQL inlines it.
CREATE FUNCTION hesp.inventory_entry(collection text, id text, datetime timestamptz, properties jsonb)
RETURNS SETOF hesp.inventory LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT collection, id, tile, datetime, hesp.acquisition_slot(tile, datetime),
           coalesce((properties ->> 'hesp:valid')::boolean, true), properties ->> 'processing:version'
    FROM (SELECT CASE WHEN properties ->> 'grid:code' LIKE 'MGRS-%' THEN substr(properties ->> 'grid:code', 6) END
          AS tile) AS t
$$;

-- SECURITY DEFINER: the roles that write items (pgstac_ingest, pgSTAC's own functions) need no grant here.
CREATE FUNCTION hesp.sync_inventory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, hesp AS $$
DECLARE
    properties jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM hesp.inventory WHERE collection = OLD.collection AND id = OLD.id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        properties := NEW.content -> 'properties';
        INSERT INTO hesp.inventory
        SELECT * FROM hesp.inventory_entry(NEW.collection, NEW.id, NEW.datetime, properties)
        ON CONFLICT (collection, id) DO UPDATE
        SET tile = EXCLUDED.tile, acquired = EXCLUDED.acquired, slot = EXCLUDED.slot,
            valid = EXCLUDED.valid, version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

-- On the partitioned table: PostgreSQL clones it onto every partition, present and future.
CREATE TRIGGER hesp_inventory AFTER INSERT OR UPDATE OR DELETE ON pgstac.items
FOR EACH ROW EXECUTE FUNCTION hesp.sync_inventory();

-- Items loaded before this migration.
INSERT INTO hesp.inventory
SELECT e.* FROM pgstac.items AS i, hesp.inventory_entry(i.collection, i.id, i.datetime, i.content -> 'properties') AS e;

-- The period of a per-period chain containing an instant (UTC): a calendar month or year, or a hydrological
-- year (1 September to 31 August).
CREATE FUNCTION hesp.period_start(period text, at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE period
        WHEN 'month' THEN date_trunc('month', at AT TIME ZONE 'UTC')
        WHEN 'year' THEN date_trunc('year', at AT TIME ZONE 'UTC')
        WHEN 'hydrological-year' THEN date_trunc('year', (at AT TIME ZONE 'UTC') - interval '8 months')
                                      + interval '8 months'
    END::date
$$;

CREATE FUNCTION hesp.period_end(period text, start date) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (start + CASE period WHEN 'month' THEN interval '1 month' ELSE interval '1 year' END)::date
$$;

-- The product inventory: one narrow row per pgSTAC item with the keys production is scheduled on (tile,
-- acquisition, validity, chain version) as indexed columns, so that gaps are set operations on this table
-- rather than JSON look-ups in pgSTAC's items. A row trigger on pgstac.items keeps it in step with every
-- write, whoever makes it (hesp ingest, pypgstac, the STAC API's transactions), in the same transaction.

CREATE TABLE hesp.inventory (
    collection text NOT NULL,
    id text NOT NULL,
    tile text,                      -- MGRS tile of grid:code, or a tile the footprint covers (see below); NULL
                                    -- for untiled items (CAMS aerosol fields)
    acquired timestamptz NOT NULL,  -- pgSTAC's datetime: the acquisition, or the start of a period
    slot integer NOT NULL,          -- the acquisition's key: see hesp.acquisition_slot
    valid boolean NOT NULL,         -- hesp:valid; false for legitimately empty products (too cloudy)
    version text,                   -- processing:version, the chain version that made the product
    CONSTRAINT inventory_item UNIQUE NULLS NOT DISTINCT (collection, id, tile)
);

-- Collections whose items cross the grid (Sentinel-1 GRD slices): each item has a row per tile its footprint
-- covers. `hesp collections sync` keeps this list from catalogue.yaml (`tiling: footprint`).
CREATE TABLE hesp.footprint_collections (collection text PRIMARY KEY);
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

-- The inventory row of an item from its properties (extracted once by the caller: an item's content can be
-- large, and every -> on it would read it again). A set-returning SQL function, so that PostgreSQL inlines it.
CREATE FUNCTION hesp.inventory_entry(collection text, id text, datetime timestamptz, properties jsonb)
RETURNS SETOF hesp.inventory LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT collection, id, tile, datetime, hesp.acquisition_slot(tile, datetime),
           coalesce((properties ->> 'hesp:valid')::boolean, true), properties ->> 'processing:version'
    FROM (SELECT CASE WHEN properties ->> 'grid:code' LIKE 'MGRS-%' THEN substr(properties ->> 'grid:code', 6) END
          AS tile) AS t
$$;

-- The inventory rows of an item: one for its own grid:code, or one per tile its footprint covers when its
-- collection is cut by footprint.
CREATE FUNCTION hesp.item_entries(collection text, id text, datetime timestamptz, properties jsonb, geometry geometry)
RETURNS SETOF hesp.inventory LANGUAGE sql STABLE ROWS 1 AS $$
    SELECT e.*
    FROM (SELECT EXISTS (SELECT FROM hesp.footprint_collections f WHERE f.collection = item_entries.collection)
          AS by_footprint) AS c
    CROSS JOIN LATERAL (
        SELECT NULL::text AS tile WHERE NOT c.by_footprint
        UNION ALL
        SELECT t.id FROM hesp.tiles t WHERE c.by_footprint AND ST_Intersects(t.footprint, geometry)
    ) AS covered
    CROSS JOIN LATERAL hesp.inventory_entry(collection, id, datetime, CASE WHEN covered.tile IS NULL THEN properties
        ELSE properties || jsonb_build_object('grid:code', 'MGRS-' || covered.tile) END) AS e
$$;

-- SECURITY DEFINER: the roles that write items (pgstac_ingest, pgSTAC's own functions) need no grant here.
CREATE FUNCTION hesp.sync_inventory() RETURNS trigger
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
        SELECT * FROM hesp.item_entries(NEW.collection, NEW.id, NEW.datetime, properties, NEW.geometry)
        ON CONFLICT ON CONSTRAINT inventory_item DO UPDATE
        SET acquired = EXCLUDED.acquired, slot = EXCLUDED.slot, valid = EXCLUDED.valid, version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

-- On the partitioned table: PostgreSQL clones it onto every partition, present and future.
CREATE TRIGGER hesp_inventory AFTER INSERT OR UPDATE OR DELETE ON pgstac.items
FOR EACH ROW EXECUTE FUNCTION hesp.sync_inventory();

-- The rows of one collection made again from its items: after its tiling changed, and for items loaded
-- before this migration. The number of rows.
CREATE FUNCTION hesp.rebuild_inventory(collection text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
DECLARE
    made bigint;
BEGIN
    DELETE FROM hesp.inventory AS v WHERE v.collection = rebuild_inventory.collection;
    INSERT INTO hesp.inventory
    SELECT e.* FROM pgstac.items AS i,
         hesp.item_entries(i.collection, i.id, i.datetime, i.content -> 'properties', i.geometry) AS e
    WHERE i.collection = rebuild_inventory.collection;
    GET DIAGNOSTICS made = ROW_COUNT;
    RETURN made;
END
$$;

SELECT hesp.rebuild_inventory(id) FROM pgstac.collections;

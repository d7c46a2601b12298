-- Whether an item's files can be fetched now, kept in the inventory beside its other scheduling keys, so that
-- gaps tell a unit whose input is catalogued but not yet fetchable (an upstream catalogue listing a product
-- before its files are online) from one that can run, without reading the items.
--
-- Fetchable is read from the item's hrefs, never from the files: an item is fetchable when at least one of its
-- assets other than a thumbnail or overview has an href that is a local path (file:// or a path) or a remote
-- file (http, https, s3), and neither the item nor that asset says an order is still to be made or served
-- (order extension: `order:status` other than `succeeded`). An upstream long-term archive lists an offline
-- product with no assets, or with `order:status: orderable`, and an asset whose only locations are its
-- `alternate` hrefs has no href of its own: none of them is fetchable.

ALTER TABLE hesp.inventory ADD COLUMN fetchable boolean NOT NULL DEFAULT true;

-- Read by gaps from the inventory's indexes alone (index-only scans), as the other keys are.
DROP INDEX hesp.inventory_collection_idx;
DROP INDEX hesp.inventory_unit_idx;
CREATE INDEX inventory_collection_idx ON hesp.inventory (collection, tile, slot)
    INCLUDE (valid, version, acquired, fetchable);
CREATE INDEX inventory_unit_idx ON hesp.inventory (tile, slot)
    INCLUDE (collection, valid, version, acquired, id, fetchable);

CREATE FUNCTION hesp.fetchable(properties jsonb, assets jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(properties ->> 'order:status', 'succeeded') = 'succeeded' AND EXISTS (
        SELECT FROM jsonb_each(CASE WHEN jsonb_typeof(assets) = 'object' THEN assets ELSE '{}' END) AS a(key, asset)
        WHERE jsonb_typeof(asset -> 'href') = 'string'
          AND (asset ->> 'href' ~* '^(file|https?|s3)://' OR asset ->> 'href' !~ '^[A-Za-z][A-Za-z0-9+.-]*:')
          AND coalesce(asset ->> 'order:status', 'succeeded') = 'succeeded'
          AND CASE WHEN jsonb_typeof(asset -> 'roles') = 'array'  -- pgSTAC keeps roles only where they differ
                   THEN jsonb_array_length(asset -> 'roles') = 0               -- from the collection's item_assets
                        OR NOT asset -> 'roles' <@ '["thumbnail", "overview"]'::jsonb
                   ELSE true END)
$$;

-- The functions of 0005 that make an inventory row, with its new column.
DROP FUNCTION hesp.item_entries(text, text, timestamptz, jsonb, geometry);
DROP FUNCTION hesp.inventory_entry(text, text, timestamptz, jsonb);

CREATE FUNCTION hesp.inventory_entry(collection text, id text, datetime timestamptz, properties jsonb,
                                     fetchable boolean)
RETURNS SETOF hesp.inventory LANGUAGE sql IMMUTABLE PARALLEL SAFE ROWS 1 AS $$
    SELECT collection, id, tile, datetime, hesp.acquisition_slot(tile, datetime),
           coalesce((properties ->> 'hesp:valid')::boolean, true), properties ->> 'processing:version', fetchable
    FROM (SELECT CASE WHEN properties ->> 'grid:code' LIKE 'MGRS-%' THEN substr(properties ->> 'grid:code', 6) END
          AS tile) AS t
$$;

CREATE FUNCTION hesp.item_entries(collection text, id text, datetime timestamptz, properties jsonb, geometry geometry,
                                  fetchable boolean)
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
        ELSE properties || jsonb_build_object('grid:code', 'MGRS-' || covered.tile) END, fetchable) AS e
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
            fetchable = EXCLUDED.fetchable;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hesp.rebuild_inventory(collection text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, hesp AS $$
DECLARE
    made bigint;
BEGIN
    DELETE FROM hesp.inventory AS v WHERE v.collection = rebuild_inventory.collection;
    INSERT INTO hesp.inventory
    SELECT e.* FROM pgstac.items AS i,
         hesp.item_entries(i.collection, i.id, i.datetime, i.content -> 'properties', i.geometry,
                           hesp.fetchable(i.content -> 'properties', i.content -> 'assets')) AS e
    WHERE i.collection = rebuild_inventory.collection;
    GET DIAGNOSTICS made = ROW_COUNT;
    RETURN made;
END
$$;

-- The items loaded before: only the rows of those that cannot be fetched change.
UPDATE hesp.inventory AS v SET fetchable = false
FROM pgstac.items AS i
WHERE i.collection = v.collection AND i.id = v.id
  AND NOT hesp.fetchable(i.content -> 'properties', i.content -> 'assets');

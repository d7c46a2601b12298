-- What the dashboard shows beside `hesp status`: recent failures and the products of a tile.

-- name: recent_failures
-- Jobs whose last attempt failed (failed for good, or queued again for a retry), newest first.
SELECT id AS job, collection, tile, state, attempts, last_error AS error, log_path, updated_at AS at
FROM hesp.jobs
WHERE state = 'failed' OR (state = 'queued' AND last_error IS NOT NULL)
ORDER BY updated_at DESC, id DESC
LIMIT %(limit)s

-- name: tile_products
-- A collection's products on a tile from the inventory, newest first; `total` counts them all.
SELECT id, collection, acquired AS datetime, valid, version, count(*) OVER () AS total
FROM hesp.inventory
WHERE collection = %(collection)s AND tile = %(tile)s
ORDER BY acquired DESC, id
LIMIT %(limit)s

-- name: requested_footprints
-- The requested tiles as one GeoJSON FeatureCollection, built by the server: footprints simplified to about
-- 500 m and 4 decimals (11 m), which the map cannot tell apart from the 135-point originals at 1/20 of the size.
SELECT json_build_object(
    'type', 'FeatureCollection',
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature', 'id', t.id, 'properties', json_build_object('tile', t.id),
        'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(t.footprint, 0.005), 4)::json
    ) ORDER BY t.id), '[]'::json)
)::text AS document
FROM hesp.tiles t
WHERE t.id IN (SELECT tile FROM hesp.request_tiles)

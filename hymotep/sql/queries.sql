-- Named queries of the production workshop (tables: hygor/sql/migrations).

-- name: insert_request
-- A new request is accepted (the column's default); a replaced one keeps its decision.
INSERT INTO hesp.requests (name, title, requester, zone, chains, start_date, end_date, priority, notes,
                           decision, decision_reason, decided_at, decided_by)
VALUES (%(name)s, %(title)s, %(requester)s, %(zone)s, %(chains)s, %(start)s, %(end)s, %(priority)s, %(notes)s,
        coalesce(%(decision)s, 'accepted'), %(decision_reason)s, %(decided_at)s, %(decided_by)s);

-- name: delete_request
DELETE FROM hesp.requests WHERE name = %(name)s;

-- name: insert_request_tiles
INSERT INTO hesp.request_tiles (request, tile) SELECT %(name)s, unnest(%(tiles)s::text[]);

-- name: list_requests
SELECT r.name, r.title, r.requester, r.zone, r.chains, r.start_date, r.end_date, r.priority, r.notes, r.created_at,
       (SELECT count(*) FROM hesp.request_tiles t WHERE t.request = r.name) AS tiles,
       r.decision, r.decision_reason, r.decided_at, r.decided_by
FROM hesp.requests r
WHERE %(name)s::text IS NULL OR r.name = %(name)s
ORDER BY r.priority, r.name;

-- name: request_tiles
-- Tiles of requests with the latitude of their centre (the revisit model depends on it).
SELECT rt.request, rt.tile, ST_Y(ST_Centroid(t.footprint)) AS latitude
FROM hesp.request_tiles rt JOIN hesp.tiles t ON t.id = rt.tile
WHERE rt.request = ANY(%(names)s::text[])
ORDER BY rt.request, rt.tile;

-- name: observed_acquisitions
-- Acquisitions a year of an input collection per tile, where the inventory spans half a year or more.
SELECT substr(content->'properties'->>'grid:code', 6) AS tile,
       (count(*) - 1) / (extract(epoch FROM max(datetime) - min(datetime)) / 31557600.0) AS per_year
FROM pgstac.items
WHERE collection = %(collection)s AND content->'properties'->>'grid:code' = ANY(%(codes)s::text[])
GROUP BY 1
HAVING max(datetime) - min(datetime) >= interval '182 days';

-- name: requested_tiles
SELECT DISTINCT tile FROM hesp.request_tiles ORDER BY tile;

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
WHERE t.id IN (SELECT tile FROM hesp.request_tiles);

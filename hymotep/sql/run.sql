-- The inputs of one job, from the inventory (migration 0005): the items its chain reads for its unit of work
-- (tile, slot), never a superseded product (an older version of one there is, hygor 0009). Each query returns
-- (collection, id, acquired); the items themselves come from pgSTAC.

-- name: acquisition_inputs
-- The primary items of the units' acquisition slots (one L1C; several Sentinel-1 slices of one pass), for the
-- units (`collections`, `tiles`, `slots`: a unit's primary collection, tile and slot at the same index) of a
-- batch of jobs at once; `unit` is the unit's index, from 1.
SELECT u.unit, i.collection, i.id, i.acquired
FROM unnest(%(collections)s::text[], %(tiles)s::text[], %(slots)s::integer[]) WITH ORDINALITY AS u(collection, tile, slot, unit)
JOIN hesp.inventory i ON i.collection = u.collection AND i.tile = u.tile AND i.slot = u.slot AND i.valid AND NOT i.superseded
ORDER BY u.unit, i.acquired, i.id

-- name: period_inputs
-- The valid primary items of the tile in the period that starts on `start`, each with the period's end; with a
-- synthesis window (`window_from`, `window_to`: days from the start, the second excluded), those of the window.
SELECT i.collection, i.id, i.acquired, p.period_end
FROM (SELECT hesp.period_end(%(period)s, %(start)s::date) AS period_end,
             %(start)s::date + coalesce(%(window_from)s::integer, 0) AS first_day,
             coalesce(%(start)s::date + %(window_to)s::integer, hesp.period_end(%(period)s, %(start)s::date)) AS end_day
     ) AS p
JOIN hesp.inventory i
  ON i.collection = %(collection)s AND i.tile = %(tile)s AND i.valid AND NOT i.superseded
 AND i.acquired >= p.first_day::timestamp AT TIME ZONE 'UTC'
 AND i.acquired < p.end_day::timestamp AT TIME ZONE 'UTC'
ORDER BY i.acquired, i.id

-- name: same_day_inputs
-- The items of the auxiliary collections dated on the day (CAMS), on the tile or worldwide (no tile).
SELECT DISTINCT ON (collection) collection, id, acquired FROM hesp.inventory
WHERE collection = ANY(%(collections)s::text[]) AND (tile = %(tile)s OR tile IS NULL) AND valid AND NOT superseded
  AND acquired >= %(day)s::date::timestamp AT TIME ZONE 'UTC'
  AND acquired < (%(day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
ORDER BY collection, acquired DESC, id

-- name: static_inputs
-- The static auxiliary items of the tile (the DEM), per collection: its latest item on the tile (MAJA's REFDE2
-- made for it), else all its untiled items whose footprint meets the tile (source DEM tiles of one degree).
WITH own AS (
    SELECT DISTINCT ON (collection) collection, id, acquired FROM hesp.inventory
    WHERE collection = ANY(%(collections)s::text[]) AND tile = %(tile)s AND valid AND NOT superseded
    ORDER BY collection, acquired DESC, id
)
SELECT collection, id, acquired FROM own
UNION ALL
SELECT i.collection, i.id, i.acquired
FROM hesp.tiles t
JOIN pgstac.items p ON p.collection = ANY(%(collections)s::text[]) AND ST_Intersects(p.geometry, t.footprint)
JOIN hesp.inventory i ON i.collection = p.collection AND i.id = p.id AND i.tile IS NULL AND i.valid AND NOT i.superseded
WHERE t.id = %(tile)s AND p.collection NOT IN (SELECT collection FROM own)
ORDER BY collection, id

-- name: previous_product
-- A multi-temporal chain's last valid product of the tile before the unit (MAJA's NOMINAL mode).
SELECT collection, id, acquired FROM hesp.inventory
WHERE collection = %(collection)s AND tile = %(tile)s AND slot < %(slot)s AND valid AND NOT superseded
ORDER BY slot DESC, id
LIMIT 1

-- name: following_inputs
-- The primary items of the next acquisitions of the tile after the unit (MAJA's BACKWARD initialisation).
SELECT collection, id, acquired FROM hesp.inventory
WHERE collection = %(collection)s AND tile = %(tile)s AND slot > %(slot)s AND valid AND NOT superseded
ORDER BY slot, id
LIMIT %(count)s

-- name: items
-- Items as pgSTAC stores them: their content (less its base item's tag) and geometry, with the base item of their
-- collection they were stored against (a tag that names none: the collection's own), for hymotep.job_inputs to
-- hydrate as pgSTAC's get_item would (in PL/pgSQL, that costs a millisecond or two an item).
SELECT i.collection, i.id, ST_AsGeoJSON(i.geometry, 20)::jsonb AS geometry, i.content - 'pgstac:base_item' AS content,
       coalesce(pgstac.collection_base_item(i.collection, tag.base_item), c.base_item) AS base_item
FROM unnest(%(collections)s::text[], %(ids)s::text[]) AS wanted(collection, id)
JOIN pgstac.items AS i ON i.collection = wanted.collection AND i.id = wanted.id
JOIN pgstac.collections AS c ON c.id = i.collection
CROSS JOIN LATERAL (
    SELECT CASE WHEN i.content ->> 'pgstac:base_item' ~ '^\s*\d{1,9}\s*$' THEN (i.content ->> 'pgstac:base_item')::integer
                WHEN i.content ? 'pgstac:base_item' THEN -1 END AS base_item
) AS tag

-- name: registered
-- Whether any of these items is registered (a product that must stay in the storage).
SELECT 1 AS registered
FROM unnest(%(collections)s::text[], %(ids)s::text[]) AS wanted(collection, id)
JOIN pgstac.items AS i ON i.collection = wanted.collection AND i.id = wanted.id
LIMIT 1

-- What supervision reads of the catalogue itself (pgSTAC's items, hygor's inventory); production's state comes
-- from hymotep's Python API (hymotep.queue_status, hymotep.production).

-- name: items
-- Items per collection in pgSTAC: what the STAC API serves.
SELECT collection, count(*) AS items FROM pgstac.items GROUP BY collection ORDER BY collection

-- name: tile_products
-- A collection's products on a tile from the inventory, newest first; `total` counts them all.
SELECT id, collection, acquired AS datetime, valid, version, count(*) OVER () AS total
FROM hesp.inventory
WHERE collection = %(collection)s AND tile = %(tile)s
ORDER BY acquired DESC, id
LIMIT %(limit)s

-- The STAC API's fast path for searches (hygor.api.fast_search), run through asyncpg: positional $n
-- parameters. `{where}` is pgSTAC's own WHERE clause for the search (pgstac.stac_search_to_where), and
-- `{keyset}` / `{direction}` the fragments below: the only text composed into these queries.

-- name: search_where
SELECT pgstac.stac_search_to_where($1::text::jsonb);

-- name: search_count
-- numberMatched as pgSTAC's search() gives it: counted, or the planner's estimate beyond the context thresholds.
SELECT coalesce(total_count, estimated_count) FROM pgstac.where_stats($1, false, NULL);

-- name: token_datetime
SELECT datetime FROM pgstac.items WHERE collection = $1 AND id = $2;

-- name: base_item
-- content_hydrate's: the tagged base item, or the collection's first; the current one when the tag names none.
SELECT coalesce(pgstac.collection_base_item($1, $2), (SELECT base_item FROM pgstac.collections WHERE id = $1));

-- name: page
-- pgSTAC's default order (datetime, collection, id, all descending), one more row than the page to know
-- whether another follows: the rows' keys and versions (xmin: every write of a row makes a new one).
SELECT collection, id, xmin::text AS version
FROM pgstac.items
WHERE ({where}) AND {keyset}
ORDER BY datetime {direction}, collection {direction}, id {direction}
LIMIT $1;

-- name: page_items
-- The items of a page by key (collections $1, ids $2). Null members stripped here (content_hydrate strips them
-- after the merge: the same).
SELECT i.id, i.collection, i.xmin::text AS version, jsonb_strip_nulls(i.content) AS content,
       ST_AsGeoJSON(i.geometry, 20)::jsonb AS geometry
FROM unnest($1::text[], $2::text[]) AS k(collection, id)
JOIN pgstac.items AS i ON i.collection = k.collection AND i.id = k.id;

-- name: first_page
TRUE

-- name: after_token
datetime <= $2 AND (datetime, collection, id) < ($2, $3, $4)

-- name: before_token
datetime >= $2 AND (datetime, collection, id) > ($2, $3, $4)

-- name: collections_state
-- Changes whenever a collection is added, changed or removed: the list of collections is cached against it.
SELECT coalesce(string_agg(xmin::text, ',' ORDER BY key), '') FROM pgstac.collections;

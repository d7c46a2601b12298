-- The publication lifecycle (migration 0009): superseded, withdrawn and pruned products.

-- name: supersede
-- The products the registered items make old, marked in the registration's transaction (hesp.supersede).
SELECT collection, id, successor FROM hesp.supersede(%(collections)s::text[], %(ids)s::text[]);

-- name: withdrawn_ids
-- The ids of a batch being registered that are withdrawn: only `hesp restore` publishes them again.
SELECT id FROM hesp.withdrawn_items WHERE collection = %(collection)s AND id = ANY(%(ids)s::text[]);

-- name: published
-- The items named by id (in `collection` when given) that pgSTAC holds, and those withdrawn.
SELECT i.collection, i.id, false AS withdrawn FROM pgstac.items i
WHERE i.id = ANY(%(ids)s::text[]) AND (%(collection)s::text IS NULL OR i.collection = %(collection)s)
UNION ALL
SELECT w.collection, w.id, true FROM hesp.withdrawn_items w
WHERE w.id = ANY(%(ids)s::text[]) AND (%(collection)s::text IS NULL OR w.collection = %(collection)s)
ORDER BY 2, 1;

-- name: withdraw
-- Items out of pgSTAC into hesp.withdrawn_items, as the API served them, with their unit; and the history.
WITH wanted AS (
    SELECT p.collection, p.id, pgstac.get_item(p.id, p.collection) AS item, p.private, v.tile, v.slot, v.acquired,
           v.version
    FROM unnest(%(collections)s::text[], %(ids)s::text[]) AS w(collection, id)
    JOIN pgstac.items p ON p.collection = w.collection AND p.id = w.id
    LEFT JOIN LATERAL (
        SELECT tile, slot, acquired, version FROM hesp.inventory v
        WHERE v.collection = p.collection AND v.id = p.id ORDER BY tile LIMIT 1
    ) AS v ON true
),
kept AS (
    INSERT INTO hesp.withdrawn_items (collection, id, tile, slot, acquired, version, item, private)
    SELECT collection, id, tile, slot, acquired, version, item, private FROM wanted
    RETURNING collection, id
),
gone AS (
    DELETE FROM pgstac.items p USING wanted w WHERE p.collection = w.collection AND p.id = w.id
)
INSERT INTO hesp.withdrawals (collection, id, action, by, reason)
SELECT collection, id, 'withdraw', %(by)s, %(reason)s FROM kept
RETURNING collection, id, action, at, by, reason;

-- name: reinstate
-- The products that the withdrawn ones superseded, current again (hesp.reinstate).
SELECT collection, id FROM hesp.reinstate(%(collections)s::text[], %(ids)s::text[]);

-- name: take_back
-- Withdrawn items leave hesp.withdrawn_items (the caller puts them back into pgSTAC in the same transaction).
DELETE FROM hesp.withdrawn_items w
USING unnest(%(collections)s::text[], %(ids)s::text[]) AS r(collection, id)
WHERE w.collection = r.collection AND w.id = r.id
RETURNING w.collection, w.id, w.item, w.private;

-- name: record_restore
INSERT INTO hesp.withdrawals (collection, id, action, by, reason)
SELECT collection, id, 'restore', %(by)s, %(reason)s FROM unnest(%(collections)s::text[], %(ids)s::text[]) AS r(collection, id)
RETURNING collection, id, action, at, by, reason;

-- name: withdrawals
-- The history of withdrawals and restorations, of the ids given (all without).
SELECT collection, id, action, at, by, reason FROM hesp.withdrawals
WHERE %(ids)s::text[] IS NULL OR id = ANY(%(ids)s::text[])
ORDER BY event;

-- name: prunable
-- Superseded products superseded before `before` (in `collections`, all without), each with the item, and the
-- first current product (not superseded; withdrawn ones are out of pgSTAC) of its tile that names it in a
-- `derived_from` link, if any: that one keeps it. Lineage stays on a tile: only its products are read.
SELECT s.collection, s.id, s.successor, s.superseded_at, pgstac.get_item(s.id, s.collection) AS item,
       (SELECT min(r.collection || ' ' || r.id) FROM hesp.inventory r
        JOIN pgstac.items p ON p.collection = r.collection AND p.id = r.id
        WHERE r.tile = v.tile AND NOT r.superseded AND EXISTS (
            SELECT FROM jsonb_array_elements(p.content -> 'links') AS l(link)
            WHERE l.link ->> 'rel' = 'derived_from'
              AND right(l.link ->> 'href', length(n.suffix)) = n.suffix)) AS needed_by
FROM hesp.supersessions s
CROSS JOIN LATERAL (SELECT '/' || s.collection || '/items/' || s.id AS suffix) AS n
JOIN LATERAL (
    SELECT tile FROM hesp.inventory v WHERE v.collection = s.collection AND v.id = s.id AND v.superseded LIMIT 1
) AS v ON true
WHERE s.superseded_at < %(before)s AND (%(collections)s::text[] IS NULL OR s.collection = ANY(%(collections)s::text[]))
ORDER BY s.collection, s.id;

-- name: prune
-- Superseded products out of pgSTAC (the inventory trigger removes their rows) and their records.
WITH gone AS (
    DELETE FROM pgstac.items p USING unnest(%(collections)s::text[], %(ids)s::text[]) AS w(collection, id)
    WHERE p.collection = w.collection AND p.id = w.id
    RETURNING p.collection, p.id
)
DELETE FROM hesp.supersessions s USING gone g WHERE s.collection = g.collection AND s.id = g.id
RETURNING s.collection, s.id;

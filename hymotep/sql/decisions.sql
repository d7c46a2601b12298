-- Decided requests and the history of requests (hesp.requests' decision, hesp.request_history: hymotep 0004).

-- name: record_event
INSERT INTO hesp.request_history (request, by, action, details)
VALUES (%(request)s, %(by)s, %(action)s, %(details)s);

-- name: history
SELECT id, request, at, by, action, details
FROM hesp.request_history
WHERE %(name)s::text IS NULL OR request = %(name)s
ORDER BY id;

-- name: decision_of
-- The request's decision, locked until the transaction that changes it ends.
SELECT decision, decision_reason FROM hesp.requests WHERE name = %(name)s FOR UPDATE;

-- name: decide
UPDATE hesp.requests
SET decision = %(decision)s, decision_reason = %(reason)s, decided_at = now(), decided_by = %(by)s
WHERE name = %(name)s;

-- name: accepted_requests
SELECT coalesce(array_agg(name ORDER BY name), ARRAY[]::text[]) AS names
FROM hesp.requests WHERE decision = 'accepted';

-- name: release_jobs
-- Queued jobs of `dropped_collections` on `dropped_tiles` (what a request left out, removed or replaced asked
-- for) that no accepted request asks for: deleted in the transaction of the change, so that no worker claims
-- them (claims stay as cheap as they were); running jobs finish. in_scope is queue.sql's, given the
-- accepted requests.
DELETE FROM hesp.jobs q
WHERE q.state = 'queued' AND q.tile = ANY(%(dropped_tiles)s::text[])
  AND q.collection = ANY(%(dropped_collections)s::text[])
  AND NOT ({in_scope})
RETURNING q.id;

-- name: asked
-- What a request asks for: its chains and tiles (the jobs a change to it may release).
SELECT r.chains, array_agg(rt.tile ORDER BY rt.tile) AS tiles
FROM hesp.requests r JOIN hesp.request_tiles rt ON rt.request = r.name
WHERE r.name = %(name)s
GROUP BY r.chains;

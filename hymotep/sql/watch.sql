-- The schedule of `hesp watch`'s sources (hesp.watch_sources, hymotep migration 0006), shared by every watch
-- process on the database: a source is harvested by the process holding its advisory lock, when it is due.

-- name: lock_source
-- Held on one connection while the source is harvested: two watch processes never harvest it at once.
SELECT pg_try_advisory_lock(hashtextextended('hesp watch source ' || %(name)s, 0)) AS locked

-- name: unlock_source
SELECT pg_advisory_unlock(hashtextextended('hesp watch source ' || %(name)s, 0)) AS unlocked

-- name: start_source
-- The source's harvest starts now, unless another process started one less than its interval ago; NULL then.
INSERT INTO hesp.watch_sources AS s (name, collection, tiles, started_at, worker)
VALUES (%(name)s, %(collection)s, %(tiles)s, now(), %(worker)s)
ON CONFLICT (name) DO UPDATE
SET collection = EXCLUDED.collection, tiles = EXCLUDED.tiles, started_at = now(), worker = EXCLUDED.worker,
    ended_at = NULL, items = NULL, error = NULL
WHERE s.started_at <= now() - %(interval_s)s * interval '1 second'
RETURNING name

-- name: end_source
-- What the harvest did, and the newest acquisition of the source's collection on its tiles now.
UPDATE hesp.watch_sources s
SET ended_at = now(), items = %(items)s, error = %(error)s,
    newest_acquired = (SELECT max(i.acquired) FROM hesp.inventory i
                       WHERE i.collection = s.collection AND i.tile = ANY(s.tiles))
WHERE name = %(name)s

-- name: source_starts
-- When each source's last harvest started, in seconds ago.
SELECT name, extract(epoch FROM now() - started_at)::float AS age_s
FROM hesp.watch_sources
WHERE name = ANY(%(names)s::text[])

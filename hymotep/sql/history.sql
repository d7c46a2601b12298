-- Every attempt of a job (hesp.job_attempts, hymotep migration 0006) and what it says of production: `hesp status
-- --job ID`, the latency from acquisition to product and the freshness of the watched sources. Read-only.

-- name: job
SELECT id, collection, chain_version, tile, slot, mode, priority, state, attempts, max_attempts, last_error,
       log_path, worker, lease_until, run_after, created_at, updated_at
FROM hesp.jobs WHERE id = %(id)s

-- name: attempts
-- In the order they were claimed (a released attempt is given back: the next one has its number again).
SELECT attempt, worker, started_at, ended_at, outcome, error, log_path,
       extract(epoch FROM coalesce(ended_at, now()) - started_at)::float AS duration_s
FROM hesp.job_attempts WHERE job = %(id)s
ORDER BY id

-- name: latency
-- From acquisition to registered product, per collection, over the products registered in the last 24 hours:
-- the end of the attempt that registered a unit's first product (its registration's transaction; a reprocessing
-- or a product made again is left out) minus the acquisition of the unit's source item (the L1C of an L2A or of a
-- snow map). Per-acquisition chains only: `collections` and their `sources`.
WITH products AS (
    SELECT j.collection, extract(epoch FROM a.ended_at - acq.acquired)::float8 AS seconds
    FROM hesp.job_attempts a
    JOIN hesp.jobs j ON j.id = a.job
    JOIN unnest(%(collections)s::text[], %(sources)s::text[]) AS c(collection, source) ON c.collection = j.collection
    CROSS JOIN LATERAL (SELECT min(i.acquired) AS acquired FROM hesp.inventory i
                        WHERE i.collection = c.source AND i.tile = j.tile AND i.slot = j.slot) AS acq
    WHERE a.outcome = 'succeeded' AND a.ended_at > now() - interval '24 hours' AND acq.acquired IS NOT NULL
      AND NOT EXISTS (SELECT FROM hesp.jobs e JOIN hesp.job_attempts ea ON ea.job = e.id
                      WHERE e.collection = j.collection AND e.tile = j.tile AND e.slot = j.slot
                        AND ea.outcome = 'succeeded' AND ea.ended_at < a.ended_at)
)
SELECT collection, count(*) AS products,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median_s,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY seconds) AS p95_s
FROM products
GROUP BY collection
ORDER BY collection

-- name: sources
-- The watched sources: the newest acquisition of each one's collection on its tiles at its last harvest, and
-- how old it is now; that harvest's start, end and error.
SELECT name AS source, collection, newest_acquired, extract(epoch FROM now() - newest_acquired)::float AS age_s,
       started_at AS last_harvest, ended_at AS last_harvest_end, items AS last_items, error AS last_error
FROM hesp.watch_sources
ORDER BY name

-- The job queue (hesp.jobs, hymotep migration 0002_production): planning from gaps, claims with leases, outcomes.
-- `{gaps}` in enqueue is a gap query of hymotep/sql/gaps.sql; `{in_scope}` and `{unpaused}` in claim and next_retry
-- are the blocks below (psycopg.sql composition of this package's own text, never of user input).

-- name: enqueue
-- Runnable units and the outdated ones a campaign replays become queued jobs, once: planning again changes
-- nothing. A unit whose job succeeded but whose product is not in the inventory (removed since), or was made
-- from an input superseded since, is queued again. A job keeps the campaign it is planned for.
INSERT INTO hesp.jobs AS j (collection, chain_version, tile, slot, mode, priority, max_attempts, campaign)
SELECT g.collection, %(version)s, g.tile, g.slot, g.mode, coalesce(g.priority, 3), %(max_attempts)s, g.campaign
FROM ({gaps}) AS g
ON CONFLICT (collection, chain_version, tile, slot) DO UPDATE
SET state = 'queued', attempts = 0, mode = EXCLUDED.mode, priority = EXCLUDED.priority, last_error = NULL,
    campaign = EXCLUDED.campaign, run_after = now(), updated_at = now()
WHERE j.state = 'succeeded'
RETURNING j.id

-- name: requeue_expired
-- Jobs whose worker stopped renewing its lease (killed, cut off) go back to the queue, or fail for good when
-- they have used their attempts. Each statement that ends an attempt ends its row of hesp.job_attempts too.
WITH expired AS (
    UPDATE hesp.jobs
    SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
        last_error = 'lease expired: worker ' || coalesce(worker, 'unknown') || ' stopped renewing it',
        worker = NULL, lease_until = NULL, run_after = now(), updated_at = now()
    WHERE state = 'running' AND lease_until < now()
    RETURNING id, last_error
), ended AS (
    UPDATE hesp.job_attempts a SET outcome = 'lease-expired', ended_at = now(), error = e.last_error
    FROM expired e WHERE a.job = e.id AND a.outcome = 'running'
)
SELECT id FROM expired

-- name: unpaused
-- Whether the queued job `q` may be claimed as far as campaigns go: a paused campaign's jobs wait. (Apart from
-- in_scope, which also tells which jobs the accepted requests ask for: a paused job is still asked for.)
(q.campaign IS NULL OR NOT EXISTS (SELECT FROM hesp.campaigns c WHERE c.name = q.campaign AND c.state = 'paused'))

-- name: in_scope
-- Whether the queued job `q` is in a run's scope, the same as the gaps its run plans (hymotep.queue.JobScope):
-- its collection and tile, and its unit's dates (an acquisition's UTC day, from the inventory's items of its
-- tile and slot; a period, from its start) within since/until and the period of one of the requests named
-- that asks for its collection (names it, or names a chain downstream: `asked_as`) on its tile.
(%(collections)s::text[] IS NULL OR q.collection = ANY(%(collections)s::text[]))
AND (%(tiles)s::text[] IS NULL OR q.tile = ANY(%(tiles)s::text[]))
AND (NOT %(dated)s::boolean OR EXISTS (
    SELECT FROM (
        SELECT CASE WHEN p.period IS NOT NULL THEN daterange(s.start, hesp.period_end(p.period, s.start))
                    WHEN a.day IS NOT NULL THEN daterange(a.day, a.day, '[]') END AS dates
        FROM (SELECT (to_timestamp(q.slot * 43200.0) AT TIME ZONE 'UTC')::date AS start) AS s
        LEFT JOIN unnest(%(period_collections)s::text[], %(periods)s::text[]) AS p(collection, period)
               ON p.collection = q.collection
        LEFT JOIN LATERAL (SELECT (min(i.acquired) AT TIME ZONE 'UTC')::date AS day FROM hesp.inventory i
                           WHERE i.tile = q.tile AND i.slot = q.slot) AS a ON true
    ) AS u
    WHERE u.dates && daterange(%(since)s::date, %(until)s::date, '[]')
      AND (%(requests)s::text[] IS NULL OR EXISTS (
          SELECT FROM hesp.requests r
          JOIN hesp.request_tiles rt ON rt.request = r.name AND rt.tile = q.tile
          JOIN unnest(%(asked_collections)s::text[], %(asked_as)s::text[]) AS w(collection, chain)
            ON w.collection = q.collection AND w.chain = ANY(r.chains)
          WHERE r.name = ANY(%(requests)s::text[]) AND u.dates && daterange(r.start_date, r.end_date, '[]')))
))

-- name: claim
-- The next `limit` queued jobs of the run's scope by priority, for this worker only: SKIP LOCKED lets concurrent
-- workers pass each other. Their attempts are recorded in the same statement (one round trip).
WITH claimed AS (
    UPDATE hesp.jobs AS j
    SET state = 'running', attempts = j.attempts + 1, worker = %(worker)s,
        lease_until = now() + %(lease_s)s * interval '1 second', started_at = now(), updated_at = now()
    FROM (
        SELECT q.id FROM hesp.jobs q
        WHERE q.state = 'queued' AND q.run_after <= now() AND {in_scope} AND {unpaused}
        ORDER BY q.priority, q.run_after, q.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS next
    WHERE j.id = next.id
    RETURNING j.id, j.collection, j.chain_version, j.tile, j.slot, j.mode, j.priority, j.attempts, j.max_attempts,
              j.worker, j.started_at
), attempt AS (
    INSERT INTO hesp.job_attempts (job, attempt, worker, started_at, outcome)
    SELECT id, attempts, worker, started_at, 'running' FROM claimed
)
SELECT id, collection, chain_version, tile, slot, mode, priority, attempts, max_attempts FROM claimed
ORDER BY priority, id

-- name: renew
UPDATE hesp.jobs SET lease_until = now() + %(lease_s)s * interval '1 second', updated_at = now()
WHERE id = %(id)s AND worker = %(worker)s AND state = 'running'
RETURNING id

-- name: succeed
-- In the transaction that registers the jobs' products (`ids`, each with its log in `log_paths`): without the
-- lease, nothing of a job is kept. The attempts end at the statement's clock time, after the registration: when
-- their products were registered, as near as can be short of the commit. The ids of the jobs recorded.
WITH done AS (
    UPDATE hesp.jobs j
    SET state = 'succeeded', last_error = NULL, log_path = w.log_path, lease_until = NULL, updated_at = now()
    FROM unnest(%(ids)s::bigint[], %(log_paths)s::text[]) AS w(id, log_path)
    WHERE j.id = w.id AND j.worker = %(worker)s AND j.state = 'running'
    RETURNING j.id, w.log_path
), ended AS (
    UPDATE hesp.job_attempts a SET outcome = 'succeeded', ended_at = clock_timestamp(), log_path = d.log_path
    FROM done d WHERE a.job = d.id AND a.outcome = 'running'
)
SELECT id FROM done

-- name: fail
-- Back to the queue after an exponential back-off, or failed for good once its attempts are used.
WITH failed AS (
    UPDATE hesp.jobs
    SET state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
        last_error = %(error)s, log_path = %(log_path)s, worker = NULL, lease_until = NULL,
        run_after = now() + %(backoff_s)s * power(2, attempts - 1) * interval '1 second', updated_at = now()
    WHERE id = %(id)s AND worker = %(worker)s AND state = 'running'
    RETURNING id, state
), ended AS (
    UPDATE hesp.job_attempts a SET outcome = 'failed', ended_at = now(), error = %(error)s, log_path = %(log_path)s
    FROM failed f WHERE a.job = f.id AND a.outcome = 'running'
)
SELECT state FROM failed

-- name: release
-- A running job given back by its worker (a `hesp watch` stopped before the job ended): queued again at once,
-- the attempt not counted against its max_attempts (the job did not fail), the attempt kept as `released`.
WITH released AS (
    UPDATE hesp.jobs
    SET state = 'queued', attempts = attempts - 1, worker = NULL, lease_until = NULL, run_after = now(),
        updated_at = now()
    WHERE id = %(id)s AND worker = %(worker)s AND state = 'running'
    RETURNING id
), ended AS (
    UPDATE hesp.job_attempts a SET outcome = 'released', ended_at = now(), error = %(reason)s, log_path = %(log_path)s
    FROM released r WHERE a.job = r.id AND a.outcome = 'running'
)
SELECT id FROM released

-- name: retry_failed
-- Failed jobs given their attempts again, on request (a chain fixed, an input restored).
UPDATE hesp.jobs
SET state = 'queued', attempts = 0, run_after = now(), updated_at = now()
WHERE state = 'failed'
  AND (%(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[]))
  AND (%(tiles)s::text[] IS NULL OR tile = ANY(%(tiles)s::text[]))
RETURNING id

-- name: next_retry
-- Seconds until the first job of the run's scope waiting for its retry (back-off) is ready; NULL when none waits.
SELECT extract(epoch FROM min(q.run_after) - now())::float AS seconds
FROM hesp.jobs q
WHERE q.state = 'queued' AND q.run_after > now() AND {in_scope} AND {unpaused}

-- The job queue (hesp.jobs) as supervision reads it: `hesp status`, `/metrics`, the dashboard, `hesp doctor` and
-- capacity analyses. Read-only. `%(collections)s` is NULL for every collection.

-- name: snapshot
-- What follows in the transaction sees one state of the queue.
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY

-- name: now
SELECT now() AS now

-- name: counts
-- Jobs per collection and state; `retrying` are the queued ones that failed before (they carry last_error);
-- throughput is the jobs that succeeded (their updated_at) in the last hour and the last 24 hours.
SELECT collection,
       count(*) FILTER (WHERE state = 'queued') AS queued,
       count(*) FILTER (WHERE state = 'queued' AND last_error IS NOT NULL) AS retrying,
       count(*) FILTER (WHERE state = 'running') AS running,
       count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE state = 'failed') AS failed,
       count(*) FILTER (WHERE state = 'succeeded' AND updated_at > now() - interval '1 hour') AS succeeded_last_hour,
       count(*) FILTER (WHERE state = 'succeeded' AND updated_at > now() - interval '24 hours') AS succeeded_last_day
FROM hesp.jobs
WHERE %(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[])
GROUP BY collection
ORDER BY collection

-- name: running
-- Running jobs, stale leases first. The heartbeat is updated_at: the last claim or lease renewal.
SELECT id, collection, tile, slot, worker, attempts AS attempt, max_attempts, updated_at AS heartbeat, lease_until,
       extract(epoch FROM now() - updated_at)::float AS heartbeat_age_s,
       extract(epoch FROM lease_until - now())::float AS lease_left_s,
       coalesce(lease_until < now(), false) AS stale
FROM hesp.jobs
WHERE state = 'running'
  AND (%(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[]))
ORDER BY lease_until NULLS FIRST, id

-- name: failed
-- Failed jobs, and queued ones waiting for a retry, per collection, state and exact error; the newest job of each
-- is the example.
SELECT collection, state, last_error AS error, count(*) AS jobs,
       (array_agg(id ORDER BY updated_at DESC, id DESC))[1] AS job,
       (array_agg(log_path ORDER BY updated_at DESC, id DESC))[1] AS log_path,
       max(updated_at) AS last_seen
FROM hesp.jobs
WHERE (state = 'failed' OR (state = 'queued' AND last_error IS NOT NULL))
  AND (%(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[]))
GROUP BY collection, state, last_error

-- name: recent_failures
-- Jobs whose last attempt failed (failed for good, or queued again for a retry), newest first.
SELECT id AS job, collection, tile, state, attempts, last_error AS error, log_path, updated_at AS at
FROM hesp.jobs
WHERE state = 'failed' OR (state = 'queued' AND last_error IS NOT NULL)
ORDER BY updated_at DESC, id DESC
LIMIT %(limit)s

-- name: stale_leases
-- Running jobs past their lease (their worker stopped renewing it): how many, the oldest, the first ids.
SELECT count(*) AS stale, min(lease_until) AS oldest,
       coalesce((array_agg(id ORDER BY lease_until))[1:%(listed)s], '{}') AS ids
FROM hesp.jobs WHERE state = 'running' AND lease_until < now()

-- name: durations
-- How long the last run of each succeeded job took (claim to success; jobs that ran before started_at was kept
-- have no start), per collection, in the buckets of %(bounds)s: width_bucket gives the number of bounds at or
-- below a duration, so bucket i counts the runs in [bounds[i], bounds[i+1]).
SELECT collection, width_bucket(extract(epoch FROM updated_at - started_at)::float8, %(bounds)s::float8[]) AS bucket,
       count(*) AS runs, sum(extract(epoch FROM updated_at - started_at))::float8 AS seconds
FROM hesp.jobs
WHERE state = 'succeeded' AND started_at IS NOT NULL
GROUP BY 1, 2

-- name: runs
-- One row per job whose current attempt ran: running (not over: no end, no duration), succeeded, failed for good,
-- or queued again after a failure (attempts > 0; a job queued again by planning or `--retry-failed` has 0). A job
-- keeps its current attempt only: started_at is when it was claimed and, once it is over, updated_at when it
-- ended. Jobs that never ran, or ran before started_at was kept (0003_job_start), have no started_at: left out.
SELECT id AS job, collection, tile, slot, state, attempts, worker, started_at,
       CASE WHEN state <> 'running' THEN updated_at END AS ended_at,
       CASE WHEN state <> 'running' THEN extract(epoch FROM updated_at - started_at)::float END AS duration_s
FROM hesp.jobs
WHERE started_at IS NOT NULL
  AND (state IN ('running', 'succeeded', 'failed') OR (state = 'queued' AND attempts > 0))
  AND (%(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[]))
ORDER BY started_at, id

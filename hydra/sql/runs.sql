-- The jobs' runs (hesp.jobs, migrations 0006 and 0007), for capacity analyses. A job keeps its current attempt
-- only: started_at is when it was claimed and, once it is over, updated_at when it ended. Earlier attempts of a
-- job that was retried are not kept, so the time they took is not counted.
-- `%(collections)s` is NULL for every collection.

-- name: runs
-- One row per job whose current attempt ran: running (not over: no end, no duration), succeeded, failed for good,
-- or queued again after a failure (attempts > 0; a job queued again by planning or `--retry-failed` has 0).
-- Jobs that never ran, or ran before started_at was kept (migration 0007), have no started_at: left out.
SELECT id AS job, collection, tile, slot, state, attempts, worker, started_at,
       CASE WHEN state <> 'running' THEN updated_at END AS ended_at,
       CASE WHEN state <> 'running' THEN extract(epoch FROM updated_at - started_at)::float END AS duration_s
FROM hesp.jobs
WHERE started_at IS NOT NULL
  AND (state IN ('running', 'succeeded', 'failed') OR (state = 'queued' AND attempts > 0))
  AND (%(collections)s::text[] IS NULL OR collection = ANY(%(collections)s::text[]))
ORDER BY started_at, id

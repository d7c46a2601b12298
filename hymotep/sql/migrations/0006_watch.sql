-- Every attempt of a job, not only its last (`hesp status --job ID`): written by the statements of queue.sql that
-- claim, succeed, fail, release and requeue a job, in the same statement. `attempt` is the job's attempt number
-- at its claim (its log is job-<id>-<attempt>.log); a job queued again by planning or --retry-failed counts from 1
-- again, its earlier attempts kept. A released attempt (a `hesp watch` stopped) is given back to the job.
CREATE TABLE hesp.job_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job bigint NOT NULL REFERENCES hesp.jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    worker text,
    started_at timestamptz,         -- NULL for an attempt backfilled from a job that ran before 0003_job_start
    ended_at timestamptz,           -- NULL while it runs
    outcome text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed', 'lease-expired', 'released')),
    error text,
    log_path text
);
CREATE INDEX job_attempts_job_idx ON hesp.job_attempts (job) INCLUDE (outcome);
-- Products registered lately (the latency of acquisition to product, over the last day).
CREATE INDEX job_attempts_succeeded_idx ON hesp.job_attempts (ended_at) WHERE outcome = 'succeeded';

-- The last attempt of the jobs that ran before this migration, as far as the job row tells it.
INSERT INTO hesp.job_attempts (job, attempt, worker, started_at, ended_at, outcome, error, log_path)
SELECT id, attempts, worker, started_at,
       CASE WHEN state <> 'running' THEN updated_at END,
       CASE WHEN state IN ('running', 'succeeded') THEN state
            WHEN last_error LIKE 'lease expired:%' THEN 'lease-expired'
            ELSE 'failed' END,
       CASE WHEN state <> 'succeeded' THEN last_error END,
       log_path
FROM hesp.jobs
WHERE attempts > 0
ORDER BY id;

-- The schedule of `hesp watch`'s sources, shared by every watch process on the database: when each source was
-- last harvested (by whom, with what outcome) and the newest acquisition of its collection on its tiles then.
CREATE TABLE hesp.watch_sources (
    name text PRIMARY KEY,
    collection text NOT NULL,
    tiles text[] NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz,
    worker text,
    items integer,
    error text,
    newest_acquired timestamptz
);

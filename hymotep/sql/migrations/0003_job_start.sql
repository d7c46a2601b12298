-- When a job's current attempt started (its claim): with updated_at, the time it ended, the run's duration for
-- supervision (`/metrics`, capacity used). Jobs that ran before this migration keep NULL.
ALTER TABLE hesp.jobs ADD COLUMN started_at timestamptz;

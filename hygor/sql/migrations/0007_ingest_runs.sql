-- Ingest runs, resumable: a run of `hesp ingest` is keyed by what it was asked (paths and options); each
-- product is recorded once its items are committed, in the same transaction as the items. A run interrupted
-- (killed, crashed) and started again with the same arguments skips the products recorded; a run that ends
-- deletes its record, so the next one reads everything again (and finds it unchanged).
CREATE TABLE hesp.ingest_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL UNIQUE,
    request jsonb NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hesp.ingest_products (
    run_id bigint NOT NULL REFERENCES hesp.ingest_runs ON DELETE CASCADE,
    path text NOT NULL,
    PRIMARY KEY (run_id, path)
);

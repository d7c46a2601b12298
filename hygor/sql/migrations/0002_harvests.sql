-- Harvests of upstream STAC APIs, resumable: a harvest is cut into units (an area x a time window); a unit
-- is recorded once its items are loaded, and a run of the same harvest skips the units already done.
CREATE TABLE hesp.harvests (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL UNIQUE,
    source_url text NOT NULL,
    source_collection text NOT NULL,
    target_collection text NOT NULL,
    query jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hesp.harvest_units (
    harvest_id bigint NOT NULL REFERENCES hesp.harvests ON DELETE CASCADE,
    unit text NOT NULL,
    items integer NOT NULL,
    done_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (harvest_id, unit)
);

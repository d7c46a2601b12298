-- Production requests of the call for projects, with their zone resolved to tiles of the grid when stored.
CREATE TABLE hesp.requests (
    name text PRIMARY KEY,
    title text,
    requester jsonb NOT NULL,
    zone jsonb NOT NULL,
    chains text[] NOT NULL CHECK (cardinality(chains) > 0),
    start_date date NOT NULL,
    end_date date CHECK (end_date IS NULL OR end_date >= start_date),
    priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
    notes text,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hesp.request_tiles (
    request text NOT NULL REFERENCES hesp.requests (name) ON DELETE CASCADE,
    tile text NOT NULL REFERENCES hesp.tiles (id),
    PRIMARY KEY (request, tile)
);
CREATE INDEX request_tiles_tile_idx ON hesp.request_tiles (tile);

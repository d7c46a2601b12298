-- The Sentinel-2 grid: every tile with its UTM box and WGS84 footprint (split at the antimeridian), loaded by
-- `hesp db init` from the grid shipped with hygor. Zones of production requests are resolved against it.
CREATE TABLE hesp.tiles (
    id text PRIMARY KEY CHECK (id ~ '^\d{2}[C-X][A-Z]{2}$'),
    epsg integer NOT NULL,
    utm_xmin double precision NOT NULL,
    utm_ymin double precision NOT NULL,
    utm_xmax double precision NOT NULL,
    utm_ymax double precision NOT NULL,
    footprint geometry(MultiPolygon, 4326) NOT NULL,
    land boolean NOT NULL
);
CREATE INDEX tiles_footprint_idx ON hesp.tiles USING gist (footprint);

-- An inventory of ten million rows for benchmarks/gaps.py, written straight into hesp.inventory: the same
-- shape as the real items of the benchmark (L1C every 5 days, the L2A of 90 % of them, one in ten of those
-- invalid, a CAMS field a day, a DEM per tile) and one request for maja-l2a on every tile.

-- name: bench_tiles
CREATE TEMPORARY TABLE bench_tiles AS SELECT id FROM hesp.tiles WHERE land ORDER BY id LIMIT %(tiles)s;

-- name: l1c
INSERT INTO hesp.inventory (collection, id, tile, acquired, slot, valid, version)
SELECT 'sentinel-2-l1c', 'L1C_' || t.id || '_' || n, t.id, a.at, hesp.acquisition_slot(t.id, a.at), true, NULL
FROM bench_tiles t, generate_series(0, %(acquisitions)s - 1) AS n,
LATERAL (SELECT timestamptz '2022-01-01 10:30Z' + n * interval '5 days'
                + (abs(hashtext(t.id || n)) %% 600) * interval '1 second' AS at) AS a;

-- name: l2a
INSERT INTO hesp.inventory (collection, id, tile, acquired, slot, valid, version)
SELECT 'maja-l2a', 'L2A_' || i.id, i.tile, i.acquired + interval '2 minutes', i.slot,
       abs(hashtext(i.id || 'valid')) %% 10 <> 0, '4.10.0'
FROM hesp.inventory i
WHERE i.collection = 'sentinel-2-l1c' AND abs(hashtext(i.id)) %% 10 <> 0;

-- name: cams
INSERT INTO hesp.inventory (collection, id, tile, acquired, slot, valid, version)
SELECT 'cams-aerosol', 'CAMS_' || d::date, NULL, d, hesp.acquisition_slot(NULL, d), true, NULL
FROM generate_series(timestamptz '2022-01-01Z', timestamptz '2022-01-01Z' + %(acquisitions)s * interval '5 days',
                     interval '1 day') AS d;

-- name: dem
INSERT INTO hesp.inventory (collection, id, tile, acquired, slot, valid, version)
SELECT 'dem-tiles', 'DEM_' || id, id, '2000-02-11Z', hesp.acquisition_slot(id, '2000-02-11Z'), true, NULL
FROM bench_tiles;

-- name: request
INSERT INTO hesp.requests (name, requester, zone, chains, start_date, end_date, priority)
VALUES ('everywhere', '{"name": "Benchmark"}', '{"kind": "tiles", "value": []}', '{maja-l2a}', '2022-01-01', NULL, 3);

-- name: request_tiles
INSERT INTO hesp.request_tiles (request, tile) SELECT 'everywhere', id FROM bench_tiles;

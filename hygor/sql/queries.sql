-- Named queries of the catalogue. pgSTAC data is written only through pgSTAC's functions.

-- name: bootstrap_migrations
-- The record of applied migrations, one row per (stream, version): each workshop has its own numbered files.
-- A record made before streams were kept (hesp 0.1: one sequence) is upgraded in place, its rows the catalogue's.
CREATE SCHEMA IF NOT EXISTS hesp;
CREATE TABLE IF NOT EXISTS hesp.schema_migrations (
    stream text NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream, version)
);
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM information_schema.columns
                   WHERE table_schema = 'hesp' AND table_name = 'schema_migrations' AND column_name = 'stream') THEN
        ALTER TABLE hesp.schema_migrations ADD COLUMN stream text NOT NULL DEFAULT 'hygor';
        ALTER TABLE hesp.schema_migrations ALTER COLUMN stream DROP DEFAULT;
        ALTER TABLE hesp.schema_migrations DROP CONSTRAINT schema_migrations_pkey, ADD PRIMARY KEY (stream, version);
    END IF;
END
$$;

-- name: lock_migrations
-- One `hesp db init` at a time, whatever the number of callers.
SELECT pg_advisory_xact_lock(hashtext('hesp.schema_migrations'));

-- name: applied_migrations
-- Every column: a record not yet upgraded has no stream (see bootstrap_migrations).
SELECT * FROM hesp.schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO hesp.schema_migrations (stream, version, name, checksum)
VALUES (%(stream)s, %(version)s, %(name)s, %(checksum)s);

-- name: replace_checksum
UPDATE hesp.schema_migrations SET checksum = %(checksum)s WHERE stream = %(stream)s AND version = %(version)s;

-- name: move_migration
-- A migration recorded in another stream before it moved to this one: its record follows it (applied_at kept).
UPDATE hesp.schema_migrations SET stream = %(stream)s, version = %(version)s
WHERE stream = %(from_stream)s AND version = %(from_version)s AND name = %(name)s
  AND NOT EXISTS (SELECT FROM hesp.schema_migrations WHERE stream = %(stream)s AND version = %(version)s);

-- name: relation_exists
SELECT to_regclass(%(name)s) IS NOT NULL AS exists;

-- name: server_versions
SELECT
    current_setting('server_version') AS postgres,
    (SELECT extversion FROM pg_extension WHERE extname = 'postgis') AS postgis,
    (SELECT default_version FROM pg_available_extensions WHERE name = 'postgis') AS postgis_available;

-- name: max_connections
SELECT current_setting('max_connections')::int AS max_connections;

-- name: pgstac_version
SELECT version FROM pgstac.migrations ORDER BY datetime DESC, version DESC LIMIT 1;

-- name: collection_state
SELECT pgstac.get_collection(%(id)s) AS content,
       (SELECT partition_trunc FROM pgstac.collections WHERE id = %(id)s) AS partition_trunc,
       EXISTS (SELECT FROM hesp.footprint_collections WHERE collection = %(id)s) AS by_footprint;

-- name: set_footprint_tiling
-- A collection's items cut to the tiles their footprint covers (true) or placed by their grid:code (false);
-- its inventory rows are made again.
WITH added AS (
    INSERT INTO hesp.footprint_collections (collection) SELECT %(id)s WHERE %(by_footprint)s ON CONFLICT DO NOTHING
), removed AS (
    DELETE FROM hesp.footprint_collections WHERE collection = %(id)s AND NOT %(by_footprint)s
)
SELECT 1;

-- name: rebuild_inventory
SELECT hesp.rebuild_inventory(%(id)s) AS rows;

-- name: upsert_collection
SELECT pgstac.upsert_collection(%(content)s::jsonb);

-- name: set_partition_trunc
-- pgSTAC has no function for this: its documented way is this update, on which its trigger
-- (collections_trigger_func -> repartition) moves existing items into the new partitions.
UPDATE pgstac.collections SET partition_trunc = %(partition_trunc)s WHERE id = %(id)s;

-- name: global_queryables
SELECT name, definition, property_index_type FROM pgstac.queryables WHERE collection_ids IS NULL;

-- name: upsert_queryables
SELECT pgstac.upsert_queryables(%(definitions)s::jsonb, NULL, %(index_fields)s::text[], false);

-- name: analyze_items
ANALYZE pgstac.items;

-- name: collection_counts
-- Exact counts while they are cheap; the planner's estimate (kept by autovacuum) beyond that.
WITH estimates AS (
    SELECT collection, sum(greatest(reltuples, 0))::bigint AS estimate
    FROM pgstac.partition_sys_meta
    GROUP BY collection
)
SELECT
    c.id,
    c.content->>'title' AS title,
    c.partition_trunc,
    CASE WHEN coalesce(e.estimate, 0) < %(exact_below)s
         THEN (SELECT count(*) FROM pgstac.items i WHERE i.collection = c.id)
         ELSE e.estimate END AS items,
    coalesce(e.estimate, 0) >= %(exact_below)s AS estimated
FROM pgstac.collections c
LEFT JOIN estimates e ON e.collection = c.id
ORDER BY c.id;

-- name: drop_catalogue
-- `hesp db reset`: every catalogue object goes; the roles pgSTAC made stay (they are cluster-wide).
DROP SCHEMA IF EXISTS hesp CASCADE;
DROP SCHEMA IF EXISTS pgstac CASCADE;

-- name: collection_ids
SELECT id FROM pgstac.collections ORDER BY id;

-- name: stored_digests
-- The content digests ingest keeps in pgSTAC's private column, for the ids of one batch.
SELECT id, private->>'hesp:digest' FROM pgstac.items WHERE collection = %(collection)s AND id = ANY(%(ids)s);

-- name: create_items
-- Products put back by `hesp restore` (pgSTAC's own insert, which creates and widens partitions; `private` left empty).
SELECT pgstac.create_items(%(items)s::jsonb);

-- name: delete_items
-- Changed items, deleted before they are written again by COPY (pgSTAC's upsert would keep the
-- stored `private` column: the digest).
DELETE FROM pgstac.items WHERE collection = %(collection)s AND id = ANY(%(ids)s);

-- name: copy_items
-- Items formatted by pypgstac's loader, into their partition ({partition}: its quoted name).
COPY {partition} (id, collection, datetime, end_datetime, geometry, content, private) FROM STDIN;

-- name: partition_written
-- What pgSTAC's staging trigger does after an insert: the partition's statistics as an insert updates them (its
-- row, and the collection's extent when pgSTAC's `update_collection_extent` is set), its constraints left as they are.
SELECT pgstac.update_partition_stats_q(%(partition)s, true);

-- name: store_digests
-- The content digests of products put back by `hesp restore`, in their `private` column.
UPDATE pgstac.items AS i SET private = d.private
FROM unnest(%(ids)s::text[], %(private)s::jsonb[]) AS d(id, private)
WHERE i.collection = %(collection)s AND i.id = d.id;

-- name: upsert_harvest
INSERT INTO hesp.harvests (key, source_url, source_collection, target_collection, query)
VALUES (%(key)s, %(source_url)s, %(source_collection)s, %(target_collection)s, %(query)s)
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
RETURNING id;

-- name: harvest_units_done
-- Units done after their window closed: their items cannot change any more (later windows are fetched again).
SELECT unit FROM hesp.harvest_units WHERE harvest_id = %(harvest_id)s;

-- name: record_harvest_unit
INSERT INTO hesp.harvest_units (harvest_id, unit, items) VALUES (%(harvest_id)s, %(unit)s, %(items)s)
ON CONFLICT (harvest_id, unit) DO UPDATE SET items = EXCLUDED.items, done_at = now();

-- name: tile_count
SELECT count(*) AS tiles FROM hesp.tiles;

-- name: create_tiles_load
CREATE TEMP TABLE tiles_load (LIKE hesp.tiles) ON COMMIT DROP;

-- name: copy_tiles_load
COPY tiles_load (id, epsg, utm_xmin, utm_ymin, utm_xmax, utm_ymax, footprint, land) FROM STDIN;

-- name: upsert_tiles
-- Requests refer to tiles: the grid is upserted, never emptied.
INSERT INTO hesp.tiles SELECT * FROM tiles_load
ON CONFLICT (id) DO UPDATE SET epsg = EXCLUDED.epsg, utm_xmin = EXCLUDED.utm_xmin, utm_ymin = EXCLUDED.utm_ymin,
    utm_xmax = EXCLUDED.utm_xmax, utm_ymax = EXCLUDED.utm_ymax, footprint = EXCLUDED.footprint, land = EXCLUDED.land;

-- name: tiles_in_zone
-- Tiles touching a WGS84 zone (NULL: every tile), or named in a list (NULL: any), over land only if asked.
-- The zone is cut in small pieces first so that the footprint index does the work.
WITH zone AS (
    SELECT ST_Subdivide(ST_GeomFromWKB(%(zone)s, 4326), 64) AS piece WHERE %(zone)s::bytea IS NOT NULL
)
SELECT t.id, t.epsg, t.land, CASE WHEN %(with_footprint)s THEN ST_AsGeoJSON(t.footprint, 6) END AS footprint
FROM hesp.tiles t
WHERE (%(zone)s::bytea IS NULL OR EXISTS (SELECT 1 FROM zone WHERE ST_Intersects(t.footprint, zone.piece)))
  AND (%(ids)s::text[] IS NULL OR t.id = ANY(%(ids)s::text[]))
  AND (NOT %(land_only)s OR t.land)
ORDER BY t.id;

-- name: tiles_per_region
-- How many tiles touch each region; a tile on a border counts for each region it touches.
WITH region AS (
    SELECT name, ST_Subdivide(ST_GeomFromWKB(wkb, 4326), 64) AS piece
    FROM unnest(%(names)s::text[], %(wkbs)s::bytea[]) AS r(name, wkb)
)
SELECT r.name, count(DISTINCT t.id) AS tiles
FROM region r JOIN hesp.tiles t ON ST_Intersects(t.footprint, r.piece)
WHERE NOT %(land_only)s OR t.land
GROUP BY r.name
ORDER BY tiles DESC;

-- name: upsert_ingest_run
-- The run of these arguments: the interrupted one when there is one, else a new one.
INSERT INTO hesp.ingest_runs (key, request) VALUES (%(key)s, %(request)s)
ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
RETURNING id, (xmax <> 0) AS resumed;

-- name: ingested_products
SELECT path FROM hesp.ingest_products WHERE run_id = %(run_id)s;

-- name: record_ingested_products
-- Products whose items the same transaction writes; nothing when the run was closed meanwhile (by another run
-- of the same arguments).
INSERT INTO hesp.ingest_products (run_id, path)
SELECT %(run_id)s, path FROM unnest(%(paths)s::text[]) AS path
WHERE EXISTS (SELECT FROM hesp.ingest_runs WHERE id = %(run_id)s)
ON CONFLICT DO NOTHING;

-- name: close_ingest_run
DELETE FROM hesp.ingest_runs WHERE id = %(run_id)s;

-- name: registration_lock
-- One writer at a time writes a batch of items of a collection by COPY, until its transaction ends: the statistics
-- update after each partition's COPY (partition_written) locks the partition's row of pgSTAC's partition_stats until
-- commit, and two writers taking the rows of several collections in different orders would deadlock. Locks taken in
-- the order of the collections.
SELECT pg_advisory_xact_lock(hashtextextended('hesp registration ' || c, 0))
FROM (SELECT DISTINCT unnest(%(collections)s::text[]) AS c) AS wanted
ORDER BY c;

-- name: partition_ranges
-- The date ranges items need of their pgSTAC partitions, grouped and ordered as pgSTAC's staging trigger does for
-- check_partition (items_staging_triggerfunc: per collection and partition period, in UTC), widened to whole UTC
-- days within the partition: a day's registrations widen a partition's constraints once, not at every batch (each
-- change validates the whole partition). Items of unknown collections are left out: their write refuses them.
WITH dated AS (
    SELECT i.collection, pgstac.stac_daterange(i.dates) AS dtr, c.partition_trunc
    FROM unnest(%(collections)s::text[], %(dates)s::jsonb[]) AS i(collection, dates)
    JOIN pgstac.collections AS c ON c.id = i.collection
), periods AS (
    SELECT collection, dtr, coalesce(date_trunc(partition_trunc, lower(dtr), 'UTC'), '-infinity') AS period
    FROM dated
), needed AS (  -- each bound widened to its whole UTC day
    SELECT collection, period,
           date_trunc('day', min(lower(dtr)), 'UTC') AS first,
           date_trunc('day', max(lower(dtr)), 'UTC') + interval '23:59:59.999999' AS last,
           date_trunc('day', min(upper(dtr)), 'UTC') AS first_end,
           date_trunc('day', max(upper(dtr)), 'UTC') + interval '23:59:59.999999' AS last_end,
           min(lower(dtr)) AS earliest
    FROM periods
    GROUP BY collection, period
)
SELECT n.collection, tstzrange(n.first, n.last, '[]') * p.partition_range AS dtrange,
       tstzrange(n.first_end, n.last_end, '[]') AS edtrange
FROM needed AS n
CROSS JOIN LATERAL pgstac.partition_name(n.collection, n.earliest) AS p
ORDER BY n.collection, n.period;

-- name: partition_lock_timeout
-- A partition's change gives way to the searches reading it, and is tried again.
SET LOCAL lock_timeout = '500ms';

-- name: check_partition
-- pgSTAC's own: creates the partition of these dates, or widens its constraints, when they do not hold them yet.
SELECT pgstac.check_partition(%(collection)s, %(dtrange)s::tstzrange, %(edtrange)s::tstzrange);

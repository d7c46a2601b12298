-- Gaps: every unit of work the requests expect of a produced collection, with its state, as one set
-- operation on hesp.inventory (migrations 0005 and 0006). Each query returns the same columns:
--   tile, slot, acquired, period_end, input, state, reason, mode, job, attempts, priority
-- where slot is the unit's key (hesp.acquisition_slot of the acquisition, or of the start of a period).
-- `{units}` in the series queries is replaced by a units query (psycopg.sql composition, never user input).

-- name: acquisition_units
-- Per-acquisition chains: one unit per acquisition slot of the source collection (the collection at the end
-- of the primary inputs: sentinel-2-l1c for maja-l2a and lis-snow) on the requested tiles and dates, and the
-- products of the chain on those tiles since `history_days` before the first requested date (the previous
-- products a multi-temporal chain looks back to; they have no input).
WITH scope AS (
    SELECT * FROM hesp.request_scope(%(wanted_by)s::text[], %(requests)s::text[], %(tiles)s::text[], %(since)s::date, %(until)s::date)
),
units AS (
    SELECT i.tile, i.slot, min(i.acquired) AS acquired, min(i.id) AS input, s.priority
    FROM scope s
    JOIN hesp.inventory i ON i.collection = %(source)s AND i.tile = s.tile
    WHERE s.dates @> (i.acquired AT TIME ZONE 'UTC')::date
    GROUP BY i.tile, i.slot, s.priority
),
made AS (
    SELECT o.tile, o.slot, max(o.acquired) AS acquired,
           max(hesp.product_rank(o.version, o.valid, %(version)s)) AS rank, max(o.version) AS version
    FROM scope s
    JOIN hesp.inventory o ON o.collection = %(collection)s AND o.tile = s.tile
    WHERE o.acquired >= lower(s.dates) - %(history_days)s * interval '1 day'
    GROUP BY o.tile, o.slot
),
upstream AS (  -- products of the produced primary input (lis-snow: the L2A), and whether any on the way is empty
    SELECT p.tile, p.slot, bool_or(p.collection = %(primary)s) AS made, bool_or(NOT p.valid) AS empty
    FROM scope s
    JOIN hesp.inventory p ON p.collection = ANY(%(path)s::text[]) AND p.tile = s.tile
    GROUP BY p.tile, p.slot
),
daily AS (  -- same-day auxiliary inputs present per date (CAMS)
    SELECT (acquired AT TIME ZONE 'UTC')::date AS day, array_agg(DISTINCT collection) AS present
    FROM hesp.inventory WHERE collection = ANY(%(daily)s::text[])
    GROUP BY 1
),
static AS (  -- static auxiliary inputs present per tile (the DEM)
    SELECT i.tile, array_agg(DISTINCT i.collection) AS present
    FROM scope s JOIN hesp.inventory i ON i.collection = ANY(%(static)s::text[]) AND i.tile = s.tile
    GROUP BY i.tile
)
SELECT coalesce(u.tile, m.tile) AS tile, coalesce(u.slot, m.slot) AS slot, coalesce(u.acquired, m.acquired) AS acquired,
       NULL::date AS period_end, u.input, v.verdict[1] AS state, v.verdict[2] AS reason, NULL::text AS mode,
       j.id AS job, j.attempts, u.priority
FROM units u
FULL JOIN made m ON m.tile = u.tile AND m.slot = u.slot
LEFT JOIN upstream p ON p.tile = u.tile AND p.slot = u.slot
LEFT JOIN daily d ON d.day = (u.acquired AT TIME ZONE 'UTC')::date
LEFT JOIN static a ON a.tile = u.tile
LEFT JOIN hesp.jobs j
       ON j.collection = %(collection)s AND j.chain_version = %(version)s AND j.tile = u.tile AND j.slot = u.slot
CROSS JOIN LATERAL (SELECT CASE
    WHEN m.rank = 3 THEN ARRAY['done', NULL]
    WHEN m.rank = 2 THEN ARRAY['invalid', 'the product is empty (too cloudy)']
    WHEN u.input IS NULL THEN ARRAY['outdated', NULL]  -- an older product before the dates: not a unit
    WHEN p.empty THEN ARRAY['invalid', 'its ' || %(primary)s || ' input is empty (too cloudy)']
    WHEN j.state <> 'succeeded' THEN hesp.job_verdict(j.id, j.state, j.attempts, j.last_error)
    WHEN cardinality(%(path)s::text[]) > 0 AND p.made IS NULL THEN ARRAY['blocked', 'no ' || %(primary)s || ' yet']
    WHEN NOT coalesce(d.present, ARRAY[]::text[]) @> %(daily)s::text[] THEN ARRAY['blocked',
        'no ' || array_to_string(ARRAY(SELECT unnest(%(daily)s::text[]) EXCEPT SELECT unnest(d.present)), ', ')
        || ' for ' || (u.acquired AT TIME ZONE 'UTC')::date]
    WHEN NOT coalesce(a.present, ARRAY[]::text[]) @> %(static)s::text[] THEN ARRAY['blocked',
        'no ' || array_to_string(ARRAY(SELECT unnest(%(static)s::text[]) EXCEPT SELECT unnest(a.present)), ', ')
        || ' for the tile']
    WHEN m.rank = 1 THEN ARRAY['outdated', 'made by version ' || m.version || ', ' || %(version)s || ' requested']
    ELSE ARRAY['runnable', NULL]
END AS verdict) AS v

-- name: period_units
-- Per-period chains: one unit per tile and period (month, year, hydrological year) overlapping the requested
-- dates in which the primary input has items or the source collection has acquisitions not processed yet.
WITH scope AS (
    SELECT * FROM hesp.request_scope(%(wanted_by)s::text[], %(requests)s::text[], %(tiles)s::text[], %(since)s::date, %(until)s::date)
),
inputs AS (  -- the primary items of each period: all of them, and the valid ones
    SELECT i.tile, hesp.period_start(%(period)s, i.acquired) AS start, count(*) FILTER (WHERE i.valid) AS valid
    FROM scope s
    JOIN hesp.inventory i ON i.collection = %(primary)s AND i.tile = s.tile
    GROUP BY 1, 2
),
pending AS (  -- source acquisitions whose primary product is not made yet (nor ruled out by an empty one)
    SELECT i.tile, hesp.period_start(%(period)s, i.acquired) AS start, count(*) AS pending
    FROM scope s
    JOIN hesp.inventory i ON i.collection = %(source)s AND i.tile = s.tile
    WHERE cardinality(%(path)s::text[]) > 0 AND NOT EXISTS (
        SELECT FROM hesp.inventory p
        WHERE p.collection = ANY(%(path)s::text[]) AND p.tile = i.tile AND p.slot = i.slot
          AND (p.collection = %(primary)s OR NOT p.valid))
    GROUP BY 1, 2
),
units AS (
    SELECT k.tile, k.start, hesp.period_end(%(period)s, k.start) AS period_end, s.priority,
           coalesce(n.valid, 0) AS valid, coalesce(q.pending, 0) AS pending
    FROM (SELECT tile, start FROM inputs UNION SELECT tile, start FROM pending) AS k
    JOIN scope s ON s.tile = k.tile AND s.dates && daterange(k.start, hesp.period_end(%(period)s, k.start))
    LEFT JOIN inputs n ON n.tile = k.tile AND n.start = k.start
    LEFT JOIN pending q ON q.tile = k.tile AND q.start = k.start
),
made AS (
    SELECT o.tile, hesp.period_start(%(period)s, o.acquired) AS start,
           max(hesp.product_rank(o.version, o.valid, %(version)s)) AS rank, max(o.version) AS version
    FROM scope s
    JOIN hesp.inventory o ON o.collection = %(collection)s AND o.tile = s.tile
    GROUP BY 1, 2
),
static AS (
    SELECT i.tile, array_agg(DISTINCT i.collection) AS present
    FROM scope s JOIN hesp.inventory i ON i.collection = ANY(%(static)s::text[]) AND i.tile = s.tile
    GROUP BY i.tile
)
SELECT u.tile, w.slot, u.start::timestamp AT TIME ZONE 'UTC' AS acquired, u.period_end, NULL::text AS input,
       v.verdict[1] AS state, v.verdict[2] AS reason, NULL::text AS mode, j.id AS job, j.attempts, u.priority
FROM units u
CROSS JOIN LATERAL (SELECT hesp.acquisition_slot(NULL, u.start::timestamp AT TIME ZONE 'UTC') AS slot) AS w
LEFT JOIN made m ON m.tile = u.tile AND m.start = u.start
LEFT JOIN static a ON a.tile = u.tile
LEFT JOIN hesp.jobs j
       ON j.collection = %(collection)s AND j.chain_version = %(version)s AND j.tile = u.tile AND j.slot = w.slot
CROSS JOIN LATERAL (SELECT CASE
    WHEN m.rank = 3 THEN ARRAY['done', NULL]
    WHEN m.rank = 2 THEN ARRAY['invalid', 'the product is empty (too cloudy)']
    WHEN u.valid < %(min_valid)s AND u.pending = 0 THEN ARRAY['invalid',
        u.valid || ' valid ' || %(primary)s || ' in the period, ' || %(min_valid)s || ' needed']
    WHEN j.state <> 'succeeded' THEN hesp.job_verdict(j.id, j.state, j.attempts, j.last_error)
    WHEN u.period_end > %(now)s THEN ARRAY['blocked', 'the period ends on ' || u.period_end]
    WHEN u.pending > 0 THEN ARRAY['blocked', u.pending || ' acquisitions of the period have no ' || %(primary)s || ' yet']
    WHEN NOT coalesce(a.present, ARRAY[]::text[]) @> %(static)s::text[] THEN ARRAY['blocked',
        'no ' || array_to_string(ARRAY(SELECT unnest(%(static)s::text[]) EXCEPT SELECT unnest(a.present)), ', ')
        || ' for the tile']
    WHEN m.rank = 1 THEN ARRAY['outdated', 'made by version ' || m.version || ', ' || %(version)s || ' requested']
    ELSE ARRAY['runnable', NULL]
END AS verdict) AS v

-- name: units_only
-- A chain without temporal dependencies: its units as they are (products before the dates are not units).
SELECT * FROM ({units}) AS u WHERE u.input IS NOT NULL OR u.period_end IS NOT NULL

-- name: series_modes
-- A multi-temporal chain (MAJA), per tile in time order. A unit to do runs NOMINAL when the latest earlier
-- unit of the series is a valid product at most `limit` days before it; when that unit is still to do and
-- within the limit, it waits for it (blocked, NOMINAL); otherwise the series restarts here: BACKWARD when
-- at least `backward` acquisitions (this one included) follow to initialise on, else INIT. So a hole longer
-- than the limit costs exactly one restart. The limit is `earlier_days` before `earlier_until`.
SELECT tile, slot, acquired, period_end, input,
       CASE WHEN waits AND state IN ('runnable', 'outdated') THEN 'blocked' ELSE state END AS state,
       CASE WHEN waits AND state IN ('runnable', 'outdated')
            THEN 'waits for the acquisition of ' || (last_todo AT TIME ZONE 'UTC')::date
            ELSE reason END AS reason,
       CASE WHEN state IN ('done', 'invalid') THEN NULL
            WHEN waits OR acquired - last_valid <= age_limit THEN 'nominal'
            WHEN ahead >= %(backward)s - 1 THEN 'backward'
            ELSE 'init' END AS mode,
       job, attempts, priority
FROM (
    SELECT s.*, s.last_todo > coalesce(s.last_valid, '-infinity') AND s.acquired - s.last_todo <= s.age_limit AS waits
    FROM (
        SELECT u.*,
               max(u.acquired) FILTER (WHERE u.state = 'done') OVER earlier AS last_valid,
               max(u.acquired) FILTER (WHERE u.input IS NOT NULL AND u.state NOT IN ('done', 'invalid')) OVER earlier
                   AS last_todo,
               count(u.input) OVER later AS ahead,
               CASE WHEN u.acquired < %(earlier_until)s THEN %(earlier_days)s ELSE %(limit_days)s END
                   * interval '1 day' AS age_limit
        FROM ({units}) AS u
        WINDOW earlier AS (PARTITION BY u.tile ORDER BY u.slot ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
               later AS (PARTITION BY u.tile ORDER BY u.slot ROWS BETWEEN 1 FOLLOWING AND %(backward)s - 1 FOLLOWING)
    ) AS s
) AS g
WHERE input IS NOT NULL

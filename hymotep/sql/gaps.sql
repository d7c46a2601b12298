-- Gaps: every unit of work the requests expect of a produced collection, with its state, as one set
-- operation on hesp.inventory (hygor 0005, hymotep 0002). Each query returns the same columns:
--   tile, slot, acquired, period_end, input, state, reason, mode, job, attempts, priority, campaign
-- where slot is the unit's key (hesp.acquisition_slot of the acquisition, or of the start of a period), and
-- campaign the reprocessing campaign that replays an outdated unit (hymotep 0005). With `planning`, the
-- outdated units no active campaign replays are left out (hesp.replay_verdict: `held`).
-- `{series}` in acquisition_units is replaced by independent_series or dependent_series, `{static}` in both
-- gap queries by static_present (psycopg.sql composition of this file's text, never of user input).

-- name: streaming
-- Set in each gap query's transaction. The inventory's index pages are read in order and mostly cached: the
-- planner is told so (random_page_cost of an SSD), and a modest work_mem keeps the memory of a gap query
-- bounded: together they make it stream units through the (tile, slot) index instead of hashing them all.
SET LOCAL TIME ZONE 'UTC';  -- a unit's date is a UTC date, and times are written in UTC
SET LOCAL random_page_cost = 1.1;
SET LOCAL work_mem = '16MB';
SET LOCAL cursor_tuple_fraction = 1;  -- lists are read to the end: plan for all rows, not the first ones

-- name: scope_tiles
SELECT array_agg(tile ORDER BY tile) AS tiles  -- in the order of the database, which cuts the ranges
FROM hesp.request_scope(%(wanted_by)s::text[], %(requests)s::text[], %(tiles)s::text[], %(since)s::date, %(until)s::date);

-- name: acquisition_gaps
-- Per-acquisition chains: one unit per acquisition slot of the source collection (the collection at the end
-- of the primary inputs: sentinel-2-l1c for maja-l2a and lis-snow) on the requested tiles and dates, and the
-- products of the chain on those tiles since `history_days` before the first requested date (the previous
-- products a multi-temporal chain looks back to; they have no input).
-- The source, the produced primary input (`upstream`, NULL when it is the source) and the chain's products
-- are read together from the inventory's (tile, slot) index, so that grouping them per unit and the series
-- windows need no sort; `scope_tiles` narrows the scan for small requests (NULL: all tiles), and
-- [`tiles_from`, `tiles_before`) cuts a large one in ranges of tiles that separate connections compute at once.
WITH scope AS (  -- the tiles of this range only: the static inputs are looked up per tile of the scope
    SELECT * FROM hesp.request_scope(%(wanted_by)s::text[], %(requests)s::text[], %(tiles)s::text[], %(since)s::date, %(until)s::date)
    WHERE (%(tiles_from)s::text IS NULL OR tile >= %(tiles_from)s::text)
      AND (%(tiles_before)s::text IS NULL OR tile < %(tiles_before)s::text)
),
slots AS (  -- per unit: the source's acquisition, the upstream product (2 valid, 1 empty), the best product,
            -- whether the primary input (the upstream product, else the source) can be fetched, whether an
            -- upstream product was superseded (products made from it may be stale), whether a product is valid
    SELECT tile, slot, min(acquired) FILTER (WHERE role = 0) AS acquired, min(acquired) AS made_at,
           (min(acquired) FILTER (WHERE role = 0) AT TIME ZONE 'UTC')::date AS day,
           max(upstream) AS upstream, max(rank) AS rank, bool_and(fetchable) FILTER (WHERE is_primary) AS fetchable,
           bool_or(superseded) FILTER (WHERE role = 1) AS replaced, bool_or(valid) FILTER (WHERE role = 2) AS made_valid
    FROM (
        SELECT tile, slot, acquired, fetchable, superseded, valid,
               collection = coalesce(%(upstream)s::text, %(source)s) AS is_primary,
               CASE collection WHEN %(source)s THEN 0 WHEN %(collection)s THEN 2 ELSE 1 END AS role,
               CASE WHEN collection = %(upstream)s::text THEN CASE WHEN valid THEN 2 ELSE 1 END END AS upstream,
               CASE WHEN collection = %(collection)s THEN hesp.product_rank(version, valid, %(version)s) END AS rank
        FROM hesp.inventory
        WHERE collection = ANY(ARRAY[%(source)s, %(upstream)s::text, %(collection)s])
          AND tile IS NOT NULL AND (%(scope_tiles)s::text[] IS NULL OR tile = ANY(%(scope_tiles)s::text[]))
          AND (%(tiles_from)s::text IS NULL OR tile >= %(tiles_from)s::text)
          AND (%(tiles_before)s::text IS NULL OR tile < %(tiles_before)s::text)
    ) AS items
    GROUP BY tile, slot
),
scoped AS (  -- the slots with their tile's scope, and whether each is a unit asked for: computed here once (OFFSET 0
             -- keeps the subquery whole; flattened, each test would be repeated wherever it is used)
    SELECT u.*, s.priority, s.left_out,
           coalesce(s.dates @> u.day, false) AS unit, coalesce(s.accepted @> u.day, false) AS accepted,
           u.made_at >= lower(s.dates) - %(history_days)s * interval '1 day' AS history
    FROM slots u
    JOIN scope s ON s.tile = u.tile
    ORDER BY u.tile, u.slot OFFSET 0
),
units AS (  -- slots with an input on a requested date, and the chain's products since `history_days` before;
            -- a unit without a current product whose product was withdrawn is not to do (see withdrawn_verdict);
            -- a made unit whose products were made from a superseded upstream product is to do (stale); an
            -- outdated one only when an active campaign replays it (`campaign`), else its product is `kept`
            -- (when valid, the previous product of a multi-temporal series). OFFSET 0: each unit's lookups and
            -- flags are computed once, not again at each use in the series and the verdict.
    SELECT u.tile, u.slot, coalesce(u.acquired, u.made_at) AS acquired, u.day, u.priority, u.upstream, u.rank,
           u.fetchable,
           u.unit, w.withdrawn, u.accepted, u.left_out, st.stale, c.name AS campaign,
           c.priority AS campaign_priority, c.active,
           u.rank = 1 AND u.made_valid AND NOT coalesce(c.active, false) AS kept,
           u.unit AND (coalesce(u.rank, 0) = 0 OR u.rank = 1 AND coalesce(c.active, false) OR st.stale IS NOT NULL)
             AND u.upstream IS DISTINCT FROM 1 AND w.withdrawn IS NULL
             AND u.accepted AS todo  -- a unit of left-out requests only is not to do (nor waited for)
    FROM scoped u
    LEFT JOIN LATERAL (  -- the campaign replaying an outdated unit: looked up for those only (OFFSET 0 keeps the
                         -- subquery whole, so that its condition gates the lookup instead of filtering its rows)
        SELECT * FROM hesp.campaign_cover(%(collection)s, %(version)s, u.tile, daterange(u.day, u.day, '[]'))
        WHERE u.unit AND u.rank = 1 OFFSET 0
    ) AS c ON true
    CROSS JOIN LATERAL (SELECT CASE WHEN u.unit AND u.accepted AND u.rank >= 2 AND u.replaced THEN  -- those only
        hesp.stale_input(%(collection)s, %(upstream)s::text, u.tile, u.slot, u.slot, %(version)s) END) AS st(stale)
    CROSS JOIN LATERAL (SELECT CASE WHEN u.unit AND coalesce(u.rank, 0) < 2 THEN (  -- looked up for those only
        SELECT min(d.id) FROM hesp.withdrawn_items d
        WHERE d.collection = %(collection)s AND d.tile = u.tile AND d.slot = u.slot) END) AS w(withdrawn)
    WHERE u.unit OR u.history
    ORDER BY u.tile, u.slot OFFSET 0
),
series AS ({series}),
daily AS (  -- same-day auxiliary inputs present (fetchable) per date (CAMS), and one that is not fetchable
    SELECT (acquired AT TIME ZONE 'UTC')::date AS day,
           array_agg(DISTINCT collection) FILTER (WHERE fetchable) AS present,
           min(collection || ' ' || id) FILTER (WHERE NOT fetchable) AS unfetchable
    FROM hesp.inventory WHERE collection = ANY(%(daily)s::text[])
    GROUP BY 1
),
static AS ({static})
SELECT u.tile, u.slot, u.acquired, NULL::date AS period_end,
       (SELECT min(i.id) FROM hesp.inventory i  -- looked up for the rows asked for only
        WHERE i.collection = %(source)s AND i.tile = u.tile AND i.slot = u.slot) AS input,
       v.verdict[1] AS state, v.verdict[2] AS reason,
       CASE WHEN u.todo AND u.age_limit IS NOT NULL THEN
           CASE WHEN u.waits OR u.acquired - u.last_valid <= u.age_limit THEN 'nominal'
                WHEN (SELECT count(*) FROM (  -- acquisitions after this one to initialise on (looked up for restarts only)
                          SELECT DISTINCT f.slot FROM hesp.inventory f
                          WHERE f.collection = %(source)s AND f.tile = u.tile AND f.slot > u.slot
                          ORDER BY f.slot LIMIT %(backward)s::integer - 1) AS following) >= %(backward)s::integer - 1
                THEN 'backward'
                ELSE 'init' END
       END AS mode,
       j.id AS job, j.attempts, coalesce(u.campaign_priority, k.priority, u.priority) AS priority,
       coalesce(u.campaign, k.name) AS campaign
FROM series u
LEFT JOIN daily d ON d.day = u.day
LEFT JOIN static a ON a.tile = u.tile
LEFT JOIN LATERAL (  -- looked up for the units to do only
    SELECT j.id, j.state, j.attempts, j.last_error FROM hesp.jobs j
    WHERE u.todo AND j.collection = %(collection)s AND j.chain_version = %(version)s AND j.tile = u.tile
      AND j.slot = u.slot
) AS j ON true
LEFT JOIN LATERAL (  -- the campaign whose job replaced a stale unit's input
    SELECT * FROM hesp.cascade_campaign(%(upstream)s::text, u.tile, u.slot) WHERE u.todo AND u.stale IS NOT NULL
    OFFSET 0
) AS k ON true
CROSS JOIN LATERAL (SELECT coalesce(
    CASE WHEN u.stale IS NOT NULL THEN coalesce(hesp.job_verdict(j.id, j.state, j.attempts, j.last_error),
                                                hesp.replay_verdict(u.stale, k.name, k.active, false)) END,
    hesp.made_verdict(u.rank),
    hesp.withdrawn_verdict(u.withdrawn),
    CASE WHEN u.upstream = 1 THEN ARRAY['invalid', 'its ' || %(upstream)s::text || ' input is empty (too cloudy)'] END,
    hesp.not_accepted_verdict(u.accepted, u.left_out),
    hesp.job_verdict(j.id, j.state, j.attempts, j.last_error),
    CASE WHEN %(upstream)s::text IS NOT NULL AND u.upstream IS NULL THEN ARRAY['blocked', 'no ' || %(upstream)s::text || ' yet'] END,
    CASE WHEN NOT u.fetchable THEN ARRAY['blocked', (  -- looked up for the blocked units only
        SELECT min(i.collection || ' ' || i.id) FROM hesp.inventory i
        WHERE i.collection = coalesce(%(upstream)s::text, %(source)s) AND i.tile = u.tile AND i.slot = u.slot
          AND NOT i.fetchable) || ' is catalogued but not fetchable yet'] END,
    CASE WHEN hesp.lacks(%(daily)s::text[], d.present) THEN coalesce(
        CASE WHEN d.unfetchable IS NOT NULL THEN ARRAY['blocked', d.unfetchable || ' is catalogued but not fetchable yet'] END,
        hesp.missing_verdict(%(daily)s::text[], d.present, 'for ' || u.day)) END,
    CASE WHEN hesp.lacks(%(static)s::text[], a.present) THEN coalesce(
        CASE WHEN a.unfetchable IS NOT NULL THEN ARRAY['blocked', a.unfetchable || ' is catalogued but not fetchable yet'] END,
        hesp.missing_verdict(%(static)s::text[], a.present, 'for the tile')) END,
    CASE WHEN u.waits THEN ARRAY['blocked', 'waits for the acquisition of ' || (u.last_todo AT TIME ZONE 'UTC')::date] END,
    hesp.replay_verdict((hesp.outdated_verdict(u.rank, (SELECT max(o.version) FROM hesp.inventory o
                                   WHERE o.collection = %(collection)s AND o.tile = u.tile AND o.slot = u.slot),
                                               %(version)s))[2], u.campaign, u.active, true),
    ARRAY['runnable', NULL]
) AS verdict) AS v
WHERE u.unit AND NOT (%(planning)s::boolean AND v.verdict[4] IS NOT NULL)

-- name: period_gaps
-- Per-period chains: one unit per tile and period (month, year, hydrological year) overlapping the requested
-- dates in which the primary input has items or the source collection has acquisitions not processed yet. A
-- chain with a synthesis window (`window_from`, `window_to`: days from the period's start, the second excluded;
-- WASP: 23 days either side of the 15th) reads the items of its window instead, so an item may serve two periods.
WITH scope AS (
    SELECT * FROM hesp.request_scope(%(wanted_by)s::text[], %(requests)s::text[], %(tiles)s::text[], %(since)s::date, %(until)s::date)
),
served AS (  -- the primary items and the source acquisitions of the scope, with each period they serve
    SELECT i.tile, p.start, i.collection, i.slot, i.valid, i.superseded, i.fetchable, i.id
    FROM scope s
    JOIN hesp.inventory i ON i.collection = ANY(ARRAY[%(primary)s, %(source)s]) AND i.tile = s.tile
    CROSS JOIN LATERAL (
        SELECT hesp.period_start(%(period)s, i.acquired) AS start WHERE %(window_to)s::integer IS NULL
        UNION ALL
        SELECT g::date FROM generate_series(  -- the months whose window holds the item (two at most)
            hesp.period_start(%(period)s, i.acquired - %(window_to)s::integer * interval '1 day')::timestamp,
            (i.acquired AT TIME ZONE 'UTC') - %(window_from)s::integer * interval '1 day', interval '1 month') AS g
        WHERE i.acquired >= (g::date + %(window_from)s::integer)::timestamp AT TIME ZONE 'UTC'
          AND i.acquired < (g::date + %(window_to)s::integer)::timestamp AT TIME ZONE 'UTC'
    ) AS p
),
inputs AS (  -- the primary items of each period: all of them, the valid ones (current versions), whether a valid
            -- one is not fetchable, whether one was superseded (the period's product may be stale)
    SELECT tile, start, count(*) FILTER (WHERE valid AND NOT superseded) AS valid,
           bool_or(valid AND NOT superseded AND NOT fetchable) AS unfetchable, bool_or(superseded) AS replaced
    FROM served WHERE collection = %(primary)s
    GROUP BY 1, 2
),
pending AS (  -- source acquisitions whose primary product is not made yet (nor ruled out by an empty one)
    SELECT i.tile, i.start, count(*) AS pending
    FROM served i
    WHERE i.collection = %(source)s AND cardinality(%(path)s::text[]) > 0 AND NOT EXISTS (
        SELECT FROM hesp.inventory p
        WHERE p.collection = ANY(%(path)s::text[]) AND p.tile = i.tile AND p.slot = i.slot
          AND (p.collection = %(primary)s OR NOT p.valid))
    GROUP BY 1, 2
),
units AS (
    SELECT k.tile, k.start, hesp.period_end(%(period)s, k.start) AS period_end, s.priority, s.left_out,
           s.accepted && daterange(k.start, hesp.period_end(%(period)s, k.start)) AS accepted,
           coalesce(k.start + %(window_to)s::integer, hesp.period_end(%(period)s, k.start)) AS inputs_end,
           coalesce(n.valid, 0) AS valid, coalesce(q.pending, 0) AS pending, n.unfetchable, n.replaced
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
static AS ({static})
SELECT u.tile, w.slot, u.start::timestamp AT TIME ZONE 'UTC' AS acquired, u.period_end, NULL::text AS input,
       v.verdict[1] AS state, v.verdict[2] AS reason, NULL::text AS mode, j.id AS job, j.attempts,
       coalesce(c.priority, u.priority) AS priority, c.name AS campaign
FROM units u
CROSS JOIN LATERAL (SELECT hesp.acquisition_slot(NULL, u.start::timestamp AT TIME ZONE 'UTC') AS slot) AS w
LEFT JOIN made m ON m.tile = u.tile AND m.start = u.start
LEFT JOIN static a ON a.tile = u.tile
LEFT JOIN hesp.jobs j
       ON j.collection = %(collection)s AND j.chain_version = %(version)s AND j.tile = u.tile AND j.slot = w.slot
CROSS JOIN LATERAL (SELECT CASE WHEN coalesce(m.rank, 0) < 2 THEN (  -- a withdrawn product of the period
    SELECT min(d.id) FROM hesp.withdrawn_items d
    WHERE d.collection = %(collection)s AND d.tile = u.tile
      AND d.acquired >= u.start::timestamp AT TIME ZONE 'UTC'
      AND d.acquired < u.period_end::timestamp AT TIME ZONE 'UTC') END) AS d(withdrawn)
LEFT JOIN LATERAL (  -- the campaign replaying an outdated period (OFFSET 0: see acquisition_gaps)
    SELECT * FROM hesp.campaign_cover(%(collection)s, %(version)s, u.tile, daterange(u.start, u.period_end))
    WHERE m.rank = 1 OFFSET 0
) AS c ON true
CROSS JOIN LATERAL (SELECT CASE WHEN m.rank >= 2 AND u.replaced AND u.accepted THEN  -- made from superseded inputs
    hesp.stale_input(%(collection)s, %(primary)s, u.tile,
                     hesp.acquisition_slot(u.tile, u.start::timestamp AT TIME ZONE 'UTC'),
                     hesp.acquisition_slot(u.tile, u.period_end::timestamp AT TIME ZONE 'UTC') - 1,
                     %(version)s) END) AS st(stale)
CROSS JOIN LATERAL (SELECT coalesce(
    CASE WHEN st.stale IS NOT NULL THEN coalesce(hesp.job_verdict(j.id, j.state, j.attempts, j.last_error),
                                                 hesp.replay_verdict(st.stale, NULL, NULL, false)) END,
    hesp.made_verdict(m.rank),
    hesp.withdrawn_verdict(d.withdrawn),
    CASE WHEN u.valid < %(min_valid)s AND u.pending = 0 THEN ARRAY['invalid',
        u.valid || ' valid ' || %(primary)s || ' in the period, ' || %(min_valid)s || ' needed'] END,
    hesp.not_accepted_verdict(u.accepted, u.left_out),
    hesp.job_verdict(j.id, j.state, j.attempts, j.last_error),
    CASE WHEN u.inputs_end > %(now)s THEN ARRAY['blocked', CASE WHEN %(window_to)s::integer IS NULL
        THEN 'the period ends on ' ELSE 'the synthesis window ends on ' END || u.inputs_end] END,
    CASE WHEN u.pending > 0 THEN ARRAY['blocked', u.pending || ' acquisitions of the '
        || CASE WHEN %(window_to)s::integer IS NULL THEN 'period' ELSE 'synthesis window' END
        || ' have no ' || %(primary)s || ' yet'] END,
    CASE WHEN u.unfetchable THEN ARRAY['blocked', (SELECT min(f.collection || ' ' || f.id) FROM served f
        WHERE f.collection = %(primary)s AND f.tile = u.tile AND f.start = u.start AND f.valid AND NOT f.superseded
          AND NOT f.fetchable)
        || ' is catalogued but not fetchable yet'] END,
    CASE WHEN hesp.lacks(%(static)s::text[], a.present) THEN coalesce(
        CASE WHEN a.unfetchable IS NOT NULL THEN ARRAY['blocked', a.unfetchable || ' is catalogued but not fetchable yet'] END,
        hesp.missing_verdict(%(static)s::text[], a.present, 'for the tile')) END,
    hesp.replay_verdict((hesp.outdated_verdict(m.rank, m.version, %(version)s))[2], c.name, c.active, true),
    ARRAY['runnable', NULL]
) AS verdict) AS v
WHERE NOT (%(planning)s::boolean AND v.verdict[4] IS NOT NULL)

-- name: static_present
-- Static auxiliary inputs present per tile of the scope: items on the tile (the DEM made for it), or untiled
-- items whose footprint meets it (source DEM tiles of one degree; see static_inputs in run.sql).
-- Only fetchable items count as present; `unfetchable` names one that is catalogued but cannot be fetched yet.
SELECT tile, array_agg(DISTINCT collection) FILTER (WHERE fetchable) AS present,
       min(collection || ' ' || id) FILTER (WHERE NOT fetchable) AS unfetchable
FROM (
    SELECT i.tile, i.collection, i.id, i.fetchable
    FROM scope s JOIN hesp.inventory i ON i.collection = ANY(%(static)s::text[]) AND i.tile = s.tile
    UNION ALL
    SELECT s.tile, u.collection, u.id, u.fetchable
    FROM (  -- the untiled items first, with their footprints: a few, often none (a tiled DEM is found above)
        SELECT i.collection, i.id, i.fetchable, p.geometry
        FROM hesp.inventory i JOIN pgstac.items p ON p.collection = i.collection AND p.id = i.id
        WHERE i.collection = ANY(%(static)s::text[]) AND i.tile IS NULL
    ) AS u
    JOIN hesp.tiles t ON ST_Intersects(u.geometry, t.footprint)
    JOIN scope s ON s.tile = t.id
) AS found
GROUP BY tile

-- name: independent_series
-- A chain without temporal dependencies: no series to follow.
SELECT *, NULL::timestamptz AS last_valid, NULL::timestamptz AS last_todo, NULL::interval AS age_limit,
       false AS waits
FROM units

-- name: dependent_series
-- A multi-temporal chain (MAJA), per tile in time order, over the stream of units as it comes from the index
-- (no sort). A unit to do runs NOMINAL when the latest earlier unit of the series is a valid product at most
-- `age_limit` before it (an outdated valid product that no active campaign replays serves as one); when that
-- unit is still to do and within the limit, it waits for it (blocked, NOMINAL); otherwise the series restarts
-- there: BACKWARD when at least `backward` acquisitions (this one included) follow to initialise on, else INIT.
-- So a hole longer than the limit costs exactly one restart.
-- The limit is `earlier_days` before `earlier_until` (MAJA: 30 days before July 2017), else `limit_days`.
SELECT *, todo AND last_todo > coalesce(last_valid, '-infinity') AND acquired - last_todo <= age_limit AS waits
FROM (
    SELECT u.*,
           max(u.acquired) FILTER (WHERE u.rank = 3 OR u.kept) OVER earlier AS last_valid,
           max(u.acquired) FILTER (WHERE u.todo) OVER earlier AS last_todo,
           CASE WHEN u.acquired < %(earlier_until)s::date THEN %(earlier_days)s::integer ELSE %(limit_days)s::integer END
               * interval '1 day' AS age_limit
    FROM units u
    WINDOW earlier AS (PARTITION BY u.tile ORDER BY u.slot ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
) AS s

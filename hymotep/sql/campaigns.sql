-- Reprocessing campaigns (hesp.campaigns, hymotep migration 0005): stored, listed, paused, removed, and their
-- progress from the jobs planned for them.

-- name: insert_campaign
INSERT INTO hesp.campaigns (name, title, collection, chain_version, zone, start_date, end_date, priority, notes,
                            created_by, updated_by)
VALUES (%(name)s, %(title)s, %(collection)s, %(chain_version)s, %(zone)s, %(start)s, %(end)s, %(priority)s, %(notes)s,
        %(by)s, %(by)s);

-- name: insert_campaign_tiles
INSERT INTO hesp.campaign_tiles (campaign, tile) SELECT %(name)s, unnest(%(tiles)s::text[]);

-- name: list_campaigns
SELECT c.name, c.title, c.collection, c.chain_version, c.zone, c.start_date, c.end_date, c.priority, c.state,
       c.notes, c.created_at, c.created_by, c.updated_at, c.updated_by,
       (SELECT count(*) FROM hesp.campaign_tiles t WHERE t.campaign = c.name) AS tiles
FROM hesp.campaigns c
WHERE %(name)s::text IS NULL OR c.name = %(name)s
ORDER BY c.priority, c.name;

-- name: campaign_tiles
SELECT tile FROM hesp.campaign_tiles WHERE campaign = %(name)s ORDER BY tile;

-- name: set_state
-- Paused: its queued jobs are claimed by no run and no job is planned for it (hymotep/sql/gaps.sql, queue.sql).
UPDATE hesp.campaigns SET state = %(state)s, updated_at = now(), updated_by = %(by)s
WHERE name = %(name)s
RETURNING name;

-- name: remove_campaign
-- The campaign and its queued jobs; its running, done and failed jobs stay, without it (ON DELETE SET NULL).
WITH dropped AS (
    DELETE FROM hesp.jobs WHERE campaign = %(name)s AND state = 'queued' RETURNING id
), removed AS (
    DELETE FROM hesp.campaigns WHERE name = %(name)s RETURNING name
)
SELECT (SELECT count(*) FROM removed) AS campaigns, (SELECT count(*) FROM dropped) AS jobs;

-- name: progress
-- The jobs planned for each campaign by state: its replays and the products made from what they replaced.
SELECT c.name AS campaign, c.collection, c.chain_version, c.state, c.priority,
       count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
       count(j.id) FILTER (WHERE j.state = 'running') AS running,
       count(j.id) FILTER (WHERE j.state = 'succeeded') AS succeeded,
       count(j.id) FILTER (WHERE j.state = 'failed') AS failed
FROM hesp.campaigns c
LEFT JOIN hesp.jobs j ON j.campaign = c.name
WHERE %(name)s::text IS NULL OR c.name = %(name)s
GROUP BY c.name
ORDER BY c.priority, c.name;

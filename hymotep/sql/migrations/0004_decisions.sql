-- Decided requests: whether each request is produced (accepted) or left out, why, by whom and when; the history
-- of every change to a request or its decision; gaps that tell what only left-out requests ask for.
-- A request stored before, or added by an operator, is accepted: it is produced as it was.
ALTER TABLE hesp.requests
    ADD COLUMN decision text NOT NULL DEFAULT 'accepted' CHECK (decision IN ('accepted', 'left-out')),
    ADD COLUMN decision_reason text,
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decided_by text;

-- One row per change: the request's name is not a foreign key, so that its history outlives its removal.
CREATE TABLE hesp.request_history (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    by text NOT NULL,
    action text NOT NULL CHECK (action IN ('added', 'replaced', 'removed', 'accepted', 'left-out')),
    details jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX request_history_request_idx ON hesp.request_history (request, id);

-- The scope of a collection's gaps (0002), with the dates asked by accepted requests apart (`accepted`) and the
-- names of the requests left out (`left_out`): units that only those ask for are shown, not planned. The
-- priority is the best of the accepted requests (of all when none is accepted).
DROP FUNCTION hesp.request_scope(text[], text[], text[], date, date);
CREATE FUNCTION hesp.request_scope(wanted_by text[], requests text[], tiles text[], since date, until date)
RETURNS TABLE (tile text, priority smallint, dates datemultirange, accepted datemultirange, left_out text)
LANGUAGE sql STABLE AS $$
    SELECT rt.tile,
           coalesce(min(r.priority) FILTER (WHERE r.decision = 'accepted'), min(r.priority)),
           range_agg(daterange(w.first, w.last, '[]')),
           coalesce(range_agg(daterange(w.first, w.last, '[]')) FILTER (WHERE r.decision = 'accepted'),
                    '{}'::datemultirange),
           string_agg(r.name, ', ' ORDER BY r.name) FILTER (WHERE r.decision <> 'accepted')
    FROM hesp.requests r
    JOIN hesp.request_tiles rt ON rt.request = r.name
    CROSS JOIN LATERAL (SELECT greatest(r.start_date, since) AS first, least(r.end_date, until) AS last) AS w
    WHERE r.chains && wanted_by
      AND (requests IS NULL OR r.name = ANY(requests))
      AND (tiles IS NULL OR rt.tile = ANY(tiles))
      AND (w.last IS NULL OR w.first <= w.last)
    GROUP BY rt.tile
$$;

-- Not accepted: the unit is asked for by left-out requests only (named in the reason).
CREATE FUNCTION hesp.not_accepted_verdict(accepted boolean, left_out text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN NOT accepted THEN
        ARRAY['not-accepted', 'asked only by requests left out: ' || coalesce(left_out, '?')] END
$$;

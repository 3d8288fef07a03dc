-- The runs projection (as in the SQLite schema): one row per workflow run of a release, written with
-- the release events that start or change the run; runs recorded before this table existed are filled
-- in from their `WorkflowRunStarted` events with their place only (`state` NULL).
CREATE TABLE runs (
    run_id     TEXT COLLATE "C" PRIMARY KEY,
    release_id TEXT COLLATE "C" NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    workflow   TEXT        NOT NULL,
    target     JSON        NOT NULL,
    state      JSON
);
CREATE INDEX runs_release ON runs (release_id, started_at);
INSERT INTO runs (run_id, release_id, started_at, workflow, target, state)
SELECT body->>'runId', release_id, at, body->>'workflow', body->'target', NULL
FROM events
WHERE body->>'type' = 'WorkflowRunStarted' AND body->>'runId' IS NOT NULL
ORDER BY gid
ON CONFLICT (run_id) DO NOTHING;

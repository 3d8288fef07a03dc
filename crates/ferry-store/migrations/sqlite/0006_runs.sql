-- The runs projection: one row per workflow run of a release, written with the release events that
-- start or change the run. The logs endpoint and the step page read where a run belongs and its
-- steps from here instead of scanning the event log. `state` is the run as the engine models it
-- (JSON); runs recorded before this table existed are filled in from their `WorkflowRunStarted`
-- events with their place only (`state` NULL).
CREATE TABLE runs (
    run_id     TEXT PRIMARY KEY,
    release_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    workflow   TEXT NOT NULL,
    target     TEXT NOT NULL,
    state      TEXT
);
CREATE INDEX runs_release ON runs (release_id, started_at);
INSERT OR IGNORE INTO runs (run_id, release_id, started_at, workflow, target, state)
SELECT json_extract(body, '$.runId'), release_id, at, json_extract(body, '$.workflow'),
       json_extract(body, '$.target'), NULL
FROM events
WHERE json_extract(body, '$.type') = 'WorkflowRunStarted' AND json_extract(body, '$.runId') IS NOT NULL
ORDER BY gid;

-- Release event log: append-only, the source of truth and the audit trail. Product events (why a
-- commit created no release, ...) live here too, under release_id 'product:<name>'.
CREATE TABLE events (
    gid         INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id  TEXT    NOT NULL,
    product     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    at          TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    UNIQUE (release_id, seq)
);
CREATE INDEX events_product ON events (product, gid);

-- Projection: one row per release for list pages (never replayed on read).
CREATE TABLE releases (
    id           TEXT PRIMARY KEY,
    product      TEXT    NOT NULL,
    flow         TEXT    NOT NULL,
    flow_version TEXT,
    status       TEXT    NOT NULL,
    initiator    TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    finished_at  TEXT,
    reason       TEXT,
    retries      INTEGER NOT NULL DEFAULT 0,
    version      TEXT,
    environments TEXT    NOT NULL,
    next_seq     INTEGER NOT NULL,
    view         TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX releases_product ON releases (product, id DESC);
CREATE INDEX releases_product_status ON releases (product, status, id DESC);
CREATE INDEX releases_active ON releases (status) WHERE status IN ('Queued', 'Running', 'Suspended', 'Terminating');

-- Projection: what is live where (environment x application).
CREATE TABLE app_state (
    application TEXT PRIMARY KEY,
    product     TEXT NOT NULL,
    environment TEXT NOT NULL,
    component   TEXT NOT NULL,
    version     TEXT,
    revision    TEXT,
    sync        TEXT NOT NULL,
    health      TEXT NOT NULL,
    message     TEXT,
    release_id  TEXT,
    updated_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX app_state_product ON app_state (product, environment);

-- Workflow logs, written in batches; capped per run by the runner.
CREATE TABLE logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id  TEXT    NOT NULL,
    run_id      TEXT    NOT NULL,
    step        TEXT    NOT NULL,
    at          TEXT    NOT NULL,
    stream      TEXT    NOT NULL,
    text        TEXT    NOT NULL
);
CREATE INDEX logs_release ON logs (release_id, id);

-- Applied configuration, versioned: each apply stores the whole validated set.
CREATE TABLE config_versions (
    version    INTEGER PRIMARY KEY AUTOINCREMENT,
    applied_at TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    catalog    TEXT NOT NULL
);

-- Small durable settings and cursors (e.g. the last commit seen per watched branch).
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

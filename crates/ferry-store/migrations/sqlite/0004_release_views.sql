-- The release view (~2 KB of JSON per release) moves out of the list projection. In the former
-- WITHOUT ROWID `releases` every row was an index cell, so each view spilled to an overflow page and
-- interior pages held few keys: list pages read ~19 pages per listed row and views came from a
-- seven-level tree. Now `releases` is a rowid table of the list columns only (dense rows; UUIDv7 ids
-- make insertion order the id order, so the newest rows of a product share pages) and each view is
-- one inline row of `release_views`.
CREATE TABLE release_views (
    id   TEXT PRIMARY KEY,
    view TEXT NOT NULL
);
INSERT INTO release_views (id, view) SELECT id, view FROM releases ORDER BY id;

CREATE TABLE releases_list (
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
    next_seq     INTEGER NOT NULL
);
INSERT INTO releases_list (id, product, flow, flow_version, status, initiator, created_at, finished_at, reason,
                           retries, version, environments, next_seq)
    SELECT id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version,
           environments, next_seq
    FROM releases ORDER BY id;
DROP TABLE releases;
ALTER TABLE releases_list RENAME TO releases;
CREATE INDEX releases_product ON releases (product, id DESC);
CREATE INDEX releases_product_status ON releases (product, status, id DESC);
CREATE INDEX releases_active ON releases (status) WHERE status IN ('Queued', 'Running', 'Suspended', 'Terminating');

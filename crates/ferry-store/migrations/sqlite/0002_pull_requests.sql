-- Pull requests of the local provider (SPEC §6.2): the pushed branch plus this record. Numbers are
-- unique in this Ferry and never reused.
CREATE TABLE pull_requests (
    number       INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id   TEXT NOT NULL,
    product      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    applications TEXT NOT NULL, -- JSON array of application names
    repo         TEXT NOT NULL,
    branch       TEXT NOT NULL,
    target       TEXT NOT NULL,
    state        TEXT NOT NULL, -- open | merged | closed
    head         TEXT NOT NULL,
    merge_commit TEXT,
    comment      TEXT,
    title        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX pull_requests_product ON pull_requests (product, number DESC);
CREATE INDEX pull_requests_release ON pull_requests (release_id, number DESC);
CREATE INDEX pull_requests_state ON pull_requests (state, number DESC);

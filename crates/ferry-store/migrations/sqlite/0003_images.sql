-- Image reports (SPEC §6.5): an image with its provenance, as CI reports it. Append-only: a report
-- made again is a new row and lookups take the newest. Annotations (JSON object) carry the OCI keys
-- org.opencontainers.image.{revision,source,version,created} plus whatever the reporter added.
CREATE TABLE images (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    image        TEXT NOT NULL, -- the reference as reported, e.g. registry.example/shop/api:1.4.2
    repository   TEXT NOT NULL, -- the reference without tag and digest
    tag          TEXT,
    digest       TEXT,          -- sha256:...
    git_repo     TEXT NOT NULL, -- credentials redacted
    git_revision TEXT NOT NULL,
    git_branch   TEXT,
    annotations  TEXT NOT NULL,
    issues       TEXT,
    reported_by  TEXT NOT NULL,
    reported_at  TEXT NOT NULL
);
CREATE INDEX images_tag ON images (tag, id DESC);
CREATE INDEX images_digest ON images (digest, id DESC);
CREATE INDEX images_repository ON images (repository, id DESC);

-- Release notes computed once a release is final (SPEC §5), as JSON; recomputed when missing.
CREATE TABLE release_notes (
    release_id  TEXT PRIMARY KEY,
    notes       TEXT NOT NULL,
    computed_at TEXT NOT NULL
) WITHOUT ROWID;

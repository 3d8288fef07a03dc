-- Authentication and audit (SPEC §8.2).
-- API tokens: only the SHA-256 of each secret is kept. Revoked tokens stay (names are never reused, so
-- the audit log's names stay unambiguous).
CREATE TABLE tokens (
    name        TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret
    role        TEXT NOT NULL,        -- viewer | promoter | admin
    products    TEXT NOT NULL,        -- JSON array of product globs; [] = every product
    env_types   TEXT NOT NULL,        -- JSON array of environment types; [] = every type
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    expires_at  TEXT,
    revoked_at  TEXT
) WITHOUT ROWID;

-- Web UI sessions: a signed-in browser holds the secret in an HttpOnly cookie; the hash is kept here.
CREATE TABLE sessions (
    hash        TEXT PRIMARY KEY,
    token       TEXT NOT NULL REFERENCES tokens (name),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_token ON sessions (token);

-- Every state-changing request of an identified caller: who, what, on what, with which result, from where.
CREATE TABLE audit (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    status   INTEGER NOT NULL, -- the HTTP status answered
    outcome  TEXT NOT NULL,    -- ok | denied | failed
    source   TEXT NOT NULL,    -- the peer address
    detail   TEXT
);
CREATE INDEX audit_at ON audit (at);

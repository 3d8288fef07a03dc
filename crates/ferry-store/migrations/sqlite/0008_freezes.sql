-- Runtime freezes (SPEC §10): made with `ferry freeze create`, kept apart from the applied
-- configuration so that an apply never removes them. `spec` is the freeze as the model writes it (JSON).
CREATE TABLE freezes (
    name       TEXT PRIMARY KEY,
    spec       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- DORA metrics read by week (SPEC §10, §9): per product, environment and week (Monday 00:00 UTC), the
-- counts and bounded duration statistics of the outcomes of that week, updated in the write that
-- records each outcome, so a window reads (weeks × environments) rows. `lead` and `restore` are JSON
-- (count, sum, exact values while few, log-scale histogram). A rollback or a restore updates the week
-- of the earlier outcome it decides.
CREATE TABLE dora_weeks (
    id              INTEGER PRIMARY KEY,
    product         TEXT    NOT NULL,
    environment     TEXT    NOT NULL,
    week            TEXT    NOT NULL,
    deployments     INTEGER NOT NULL,
    changes         INTEGER NOT NULL,
    change_failures INTEGER NOT NULL,
    unrestored      INTEGER NOT NULL,
    lead            TEXT    NOT NULL,
    restore         TEXT    NOT NULL,
    UNIQUE (product, environment, week)
);
CREATE INDEX dora_weeks_product ON dora_weeks (product, week);
CREATE INDEX dora_weeks_week ON dora_weeks (week);

-- What the next outcome of an environment needs of the earlier ones: its last deployment and its change
-- failures not restored yet (JSON).
CREATE TABLE dora_tracks (
    id          INTEGER PRIMARY KEY,
    product     TEXT NOT NULL,
    environment TEXT NOT NULL,
    track       TEXT NOT NULL,
    UNIQUE (product, environment)
);

-- Each outcome's classification as decided so far: a change failure, and its time to restore once
-- restored (the first, partial week of a window is read from the outcomes themselves).
ALTER TABLE env_outcomes ADD COLUMN failure INTEGER NOT NULL DEFAULT 0;
ALTER TABLE env_outcomes ADD COLUMN restore_secs INTEGER;

-- The rows of the outcomes already stored are built when this migration is applied, in the same
-- transaction, by replaying them in time order (the store's code, ferry-store/src/rollup.rs).

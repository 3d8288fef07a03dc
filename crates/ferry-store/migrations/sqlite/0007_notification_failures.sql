-- Outgoing notifications that did not reach their webhooks (SPEC §6.6): dead letters (every attempt
-- failed) and status changes dropped because the delivery queue was full. Kept across restarts for an
-- admin to see and redeliver; pruned with the audit log (the retention setting).
CREATE TABLE notification_failures (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    notification   TEXT,          -- NULL for a dropped change
    outcome        TEXT NOT NULL, -- failed | dropped
    attempts       INTEGER NOT NULL,
    error          TEXT NOT NULL,
    change         TEXT NOT NULL, -- the change as JSON (the body of a json notification)
    failed_at      TEXT NOT NULL,
    redelivered_at TEXT,
    redelivered_by TEXT
);
CREATE INDEX notification_failures_failed_at ON notification_failures (failed_at);

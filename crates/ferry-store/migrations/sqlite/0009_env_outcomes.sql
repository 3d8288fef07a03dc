-- DORA metrics (SPEC §10): one row each time an environment of a release reaches Successful or Failed
-- (per attempt: a retried environment that ends again is a new row), written in the release write that
-- got it there. `after_action` is 1 when the promotion had landed (always for Successful);
-- `committed_at` is the trigger commit's date. Read by time window, per product or for every product.
CREATE TABLE env_outcomes (
    id           INTEGER PRIMARY KEY,
    release_id   TEXT    NOT NULL,
    product      TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    flow         TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    after_action INTEGER NOT NULL,
    committed_at TEXT    NOT NULL,
    at           TEXT    NOT NULL,
    UNIQUE (release_id, environment, attempt)
);
CREATE INDEX env_outcomes_product ON env_outcomes (product, at);
CREATE INDEX env_outcomes_at ON env_outcomes (at);

-- Existing releases: the final status of each environment as their stored views show it (earlier
-- attempts of a retried environment are not known without the event log, which is not replayed).
-- Times are rewritten in the store's fixed form (microseconds, `Z`), so they compare as text.
INSERT OR IGNORE INTO env_outcomes (release_id, product, environment, flow, attempt, status, after_action,
                                    committed_at, at)
    SELECT r.id, r.product, json_extract(e.value, '$.name'), r.flow, r.retries, json_extract(e.value, '$.status'),
           CASE WHEN json_extract(e.value, '$.status') = 'Successful' THEN 1
                ELSE EXISTS (SELECT 1 FROM json_each(json_extract(e.value, '$.applications')) AS a
                             WHERE json_extract(a.value, '$.action.status') = 'Succeeded') END,
           strftime('%Y-%m-%dT%H:%M:%f', json_extract(v.view, '$.trigger.date')) || '000Z',
           strftime('%Y-%m-%dT%H:%M:%f', json_extract(e.value, '$.finishedAt')) || '000Z'
    FROM releases AS r
    JOIN release_views AS v ON v.id = r.id
    JOIN json_each(json_extract(v.view, '$.environments')) AS e
    WHERE json_extract(e.value, '$.status') IN ('Successful', 'Failed')
      AND json_extract(e.value, '$.finishedAt') IS NOT NULL
      AND json_extract(v.view, '$.trigger.date') IS NOT NULL
    ORDER BY json_extract(e.value, '$.finishedAt');

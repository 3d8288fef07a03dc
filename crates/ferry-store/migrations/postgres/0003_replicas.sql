-- Replicas driving releases (SPEC §8.1). Each release event records the lease epoch of the replica
-- that wrote it (NULL when no replica wrote it: a single server, or a copied embedded installation),
-- so the log shows that no release was ever driven by two replicas at once: epochs never go back.
ALTER TABLE events ADD COLUMN epoch BIGINT;

-- Control requests (terminate, retry, approve) that reached a replica not owning the release: the
-- owner takes them, carries them out and writes the answer the asking replica waits for. Both steps
-- are announced on the `ferry_control` channel.
CREATE TABLE control_requests (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    release_id   TEXT COLLATE "C" NOT NULL,
    body         JSON        NOT NULL,
    requested_by TEXT        NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    taken_by     TEXT,
    answer       JSON
);
CREATE INDEX control_requests_waiting ON control_requests (release_id) WHERE taken_by IS NULL;

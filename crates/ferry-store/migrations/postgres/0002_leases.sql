-- Replicas (SPEC §8.1): each active release is owned by one replica through its lease. `epoch` grows by
-- one at each claim; a replica's release writes carry the epoch it claimed and fail once it moved
-- (fencing). A row with no owner (or an expired one) is free to claim.
CREATE TABLE leases (
    release_id TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT,
    epoch      BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX leases_owner ON leases (owner);

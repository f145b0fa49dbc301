-- The shared view of every pod's health (circuit breaker state and the
-- probe's findings), so that every gateway instance sees the same pods down
-- within seconds. Each instance keeps its own breaker in memory, writes a
-- row when its breaker changes state (`version` is bumped then) and on probe
-- results, and reads every row on a short period: a row whose version is
-- newer than the one it last saw replaces its own state. Rows go with their
-- pod; nothing else is ever deleted because of a pod's health.
CREATE TABLE pod_health (
    pod_id               VARCHAR(36)   NOT NULL PRIMARY KEY REFERENCES pods (pod_id) ON DELETE CASCADE,
    -- up | degraded | down
    state                VARCHAR(16)   NOT NULL,
    since                VARCHAR(32)   NOT NULL,
    last_error           VARCHAR(1024),
    last_error_at        VARCHAR(32),
    consecutive_failures BIGINT        NOT NULL DEFAULT 0,
    -- Answers and failures seen by every instance since the row was made.
    successes            BIGINT        NOT NULL DEFAULT 0,
    failures             BIGINT        NOT NULL DEFAULT 0,
    -- Free capacity the last probe read (Nova's hypervisors), NULL unknown.
    free_vcpus           BIGINT,
    free_ram_mb          BIGINT,
    probed_at            VARCHAR(32),
    version              BIGINT        NOT NULL DEFAULT 1,
    updated_at           VARCHAR(32)   NOT NULL
);

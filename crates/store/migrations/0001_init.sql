-- Tricircle schema, version 1. One file for SQLite and PostgreSQL: the only
-- difference between them, the auto-increment primary key, is written
-- @ID_PK@ and substituted when the migrator is built (see src/migrate.rs).
-- Flags are BIGINT 0/1 and times are RFC 3339 UTC text, which both engines
-- store, compare and sort the same way.

CREATE TABLE pods (
    pod_id      VARCHAR(36)  NOT NULL PRIMARY KEY,
    pod_name    VARCHAR(255) NOT NULL,
    az_name     VARCHAR(255) NOT NULL DEFAULT '',
    pod_az_name VARCHAR(255) NOT NULL DEFAULT '',
    dc_name     VARCHAR(255) NOT NULL DEFAULT '',
    maintenance BIGINT       NOT NULL DEFAULT 0,
    created_at  VARCHAR(32)  NOT NULL,
    updated_at  VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX pods_pod_name ON pods (pod_name);
-- Exactly one top pod: every top pod has az_name '' so a unique partial
-- index over that value admits one row at most.
CREATE UNIQUE INDEX pods_single_top ON pods (az_name) WHERE az_name = '';

CREATE TABLE aggregates (
    id         @ID_PK@,
    uuid       VARCHAR(36)  NOT NULL,
    name       VARCHAR(255) NOT NULL,
    pod_id     VARCHAR(36)  REFERENCES pods (pod_id),
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX aggregates_name ON aggregates (name);
CREATE UNIQUE INDEX aggregates_uuid ON aggregates (uuid);

CREATE TABLE aggregate_metadata (
    id           @ID_PK@,
    aggregate_id BIGINT       NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    meta_key     VARCHAR(255) NOT NULL,
    meta_value   VARCHAR(255) NOT NULL
);
CREATE UNIQUE INDEX aggregate_metadata_key ON aggregate_metadata (aggregate_id, meta_key);

CREATE TABLE pod_bindings (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    tenant_id  VARCHAR(255) NOT NULL,
    pod_id     VARCHAR(36)  NOT NULL REFERENCES pods (pod_id),
    is_binding BIGINT       NOT NULL DEFAULT 1,
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX pod_bindings_tenant_pod ON pod_bindings (tenant_id, pod_id);
CREATE INDEX pod_bindings_pod ON pod_bindings (pod_id);

CREATE TABLE routings (
    id            @ID_PK@,
    top_id        VARCHAR(127) NOT NULL,
    bottom_id     VARCHAR(127),
    pod_id        VARCHAR(36)  NOT NULL REFERENCES pods (pod_id),
    project_id    VARCHAR(255) NOT NULL DEFAULT '',
    resource_type VARCHAR(64)  NOT NULL,
    created_at    VARCHAR(32)  NOT NULL,
    updated_at    VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX routings_top_pod_type ON routings (top_id, pod_id, resource_type);
CREATE INDEX routings_bottom_id ON routings (bottom_id);
CREATE INDEX routings_project ON routings (project_id, id);
CREATE INDEX routings_pod ON routings (pod_id);

CREATE TABLE cached_endpoints (
    region       VARCHAR(255)  NOT NULL,
    service_type VARCHAR(64)   NOT NULL,
    interface    VARCHAR(16)   NOT NULL,
    url          VARCHAR(1024) NOT NULL,
    updated_at   VARCHAR(32)   NOT NULL,
    PRIMARY KEY (region, service_type, interface)
);

-- Durable jobs (the engine arrives with the network work). One row per
-- pending or running job; finished ones move to job_log.
CREATE TABLE jobs (
    id               VARCHAR(36)  NOT NULL PRIMARY KEY,
    job_type         VARCHAR(64)  NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    project_id       VARCHAR(255) NOT NULL DEFAULT '',
    resource_id      VARCHAR(255) NOT NULL,
    resource         TEXT         NOT NULL,
    attempts         BIGINT       NOT NULL DEFAULT 0,
    run_after        VARCHAR(32)  NOT NULL,
    lease_owner      VARCHAR(64),
    lease_expires_at VARCHAR(32),
    last_error       TEXT,
    created_at       VARCHAR(32)  NOT NULL,
    updated_at       VARCHAR(32)  NOT NULL
);
CREATE INDEX jobs_ready ON jobs (status, run_after);
CREATE INDEX jobs_resource ON jobs (job_type, resource_id);

CREATE TABLE job_log (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    job_type    VARCHAR(64)  NOT NULL,
    status      VARCHAR(16)  NOT NULL,
    project_id  VARCHAR(255) NOT NULL DEFAULT '',
    resource_id VARCHAR(255) NOT NULL,
    resource    TEXT         NOT NULL,
    attempts    BIGINT       NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  VARCHAR(32)  NOT NULL,
    finished_at VARCHAR(32)  NOT NULL
);
CREATE INDEX job_log_project ON job_log (project_id, finished_at);

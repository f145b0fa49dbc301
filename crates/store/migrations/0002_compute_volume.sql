-- Version 2: what the compute and volume gateways keep at the top.

-- Flavors live at the top and are copied into a pod the first time a
-- server there needs one (a routing of type 'flavor' records the copy).
CREATE TABLE flavors (
    flavorid     VARCHAR(255) NOT NULL PRIMARY KEY,
    name         VARCHAR(255) NOT NULL,
    vcpus        BIGINT       NOT NULL,
    ram_mb       BIGINT       NOT NULL,
    root_gb      BIGINT       NOT NULL,
    ephemeral_gb BIGINT       NOT NULL DEFAULT 0,
    swap_mb      BIGINT       NOT NULL DEFAULT 0,
    rxtx_factor  DOUBLE PRECISION NOT NULL DEFAULT 1.0,
    is_public    BIGINT       NOT NULL DEFAULT 1,
    disabled     BIGINT       NOT NULL DEFAULT 0,
    description  TEXT,
    created_at   VARCHAR(32)  NOT NULL,
    updated_at   VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX flavors_name ON flavors (name);

CREATE TABLE flavor_extra_specs (
    flavorid   VARCHAR(255) NOT NULL REFERENCES flavors (flavorid) ON DELETE CASCADE,
    spec_key   VARCHAR(255) NOT NULL,
    spec_value VARCHAR(255) NOT NULL,
    PRIMARY KEY (flavorid, spec_key)
);

CREATE TABLE flavor_projects (
    flavorid   VARCHAR(255) NOT NULL REFERENCES flavors (flavorid) ON DELETE CASCADE,
    project_id VARCHAR(255) NOT NULL,
    PRIMARY KEY (flavorid, project_id)
);

-- Keypairs belong to a user, as in Nova; copied to a pod on first use.
CREATE TABLE keypairs (
    user_id     VARCHAR(255) NOT NULL,
    name        VARCHAR(255) NOT NULL,
    key_type    VARCHAR(16)  NOT NULL,
    public_key  TEXT         NOT NULL,
    fingerprint VARCHAR(255) NOT NULL,
    created_at  VARCHAR(32)  NOT NULL,
    PRIMARY KEY (user_id, name)
);

CREATE TABLE volume_types (
    id          VARCHAR(36)  NOT NULL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    description TEXT,
    is_public   BIGINT       NOT NULL DEFAULT 1,
    created_at  VARCHAR(32)  NOT NULL,
    updated_at  VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX volume_types_name ON volume_types (name);

CREATE TABLE volume_type_extra_specs (
    type_id    VARCHAR(36)  NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    spec_key   VARCHAR(255) NOT NULL,
    spec_value VARCHAR(255) NOT NULL,
    PRIMARY KEY (type_id, spec_key)
);

CREATE TABLE volume_type_projects (
    type_id    VARCHAR(36)  NOT NULL REFERENCES volume_types (id) ON DELETE CASCADE,
    project_id VARCHAR(255) NOT NULL,
    PRIMARY KEY (type_id, project_id)
);

-- Quotas set by an operator; absent rows take the defaults.
CREATE TABLE quotas (
    project_id VARCHAR(255) NOT NULL,
    resource   VARCHAR(64)  NOT NULL,
    hard_limit BIGINT       NOT NULL,
    PRIMARY KEY (project_id, resource)
);

-- What each project uses, across all pods: one row per server, volume or
-- snapshot, written (as a reservation, top_id empty) before the pod is
-- asked and completed after. Quota checks sum a project's rows.
CREATE TABLE allocations (
    id            @ID_PK@,
    project_id    VARCHAR(255) NOT NULL,
    resource_type VARCHAR(64)  NOT NULL,
    top_id        VARCHAR(127),
    pod_id        VARCHAR(36)  NOT NULL,
    instances     BIGINT       NOT NULL DEFAULT 0,
    cores         BIGINT       NOT NULL DEFAULT 0,
    ram_mb        BIGINT       NOT NULL DEFAULT 0,
    volumes       BIGINT       NOT NULL DEFAULT 0,
    gigabytes     BIGINT       NOT NULL DEFAULT 0,
    snapshots     BIGINT       NOT NULL DEFAULT 0,
    created_at    VARCHAR(32)  NOT NULL
);
CREATE INDEX allocations_project ON allocations (project_id);
CREATE UNIQUE INDEX allocations_resource ON allocations (resource_type, top_id);

-- One row per project that has ever reserved quota: the lock that orders
-- concurrent reservations of one project (SELECT ... FOR UPDATE).
CREATE TABLE quota_locks (
    project_id VARCHAR(255) NOT NULL PRIMARY KEY
);

-- Lists fan out only to the pods where a project has resources.
CREATE INDEX routings_project_type_pod ON routings (project_id, resource_type, pod_id);

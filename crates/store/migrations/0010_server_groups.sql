-- Server groups live at the top (as flavors and keypairs do) and are
-- copied into a pod when a server of the group is booted there (a routing
-- of type 'server_group' records the copy). Members are the top ids of the
-- servers booted into the group; a member whose server routing is gone
-- (the server was deleted) is no longer shown.
CREATE TABLE server_groups (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    user_id    VARCHAR(255) NOT NULL,
    name       VARCHAR(255) NOT NULL,
    -- affinity | anti-affinity | soft-affinity | soft-anti-affinity
    policy     VARCHAR(32)  NOT NULL,
    -- JSON object (2.64 `rules`)
    rules      TEXT         NOT NULL,
    created_at VARCHAR(32)  NOT NULL
);
CREATE INDEX server_groups_project ON server_groups (project_id, created_at);

CREATE TABLE server_group_members (
    group_id   VARCHAR(36)  NOT NULL REFERENCES server_groups (id) ON DELETE CASCADE,
    server_id  VARCHAR(127) NOT NULL,
    pod_id     VARCHAR(36)  NOT NULL,
    created_at VARCHAR(32)  NOT NULL,
    PRIMARY KEY (group_id, server_id)
);
CREATE INDEX server_group_members_server ON server_group_members (server_id);

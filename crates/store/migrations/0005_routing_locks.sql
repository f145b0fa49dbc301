-- Tombstones: a top resource whose deletion is under way. Lazy bottom
-- creation refuses to (re)create a bottom copy of a tombstoned resource, so a
-- delete in progress is never undone by a concurrent create.
CREATE TABLE tombstones (
    top_id        VARCHAR(127) NOT NULL,
    resource_type VARCHAR(64)  NOT NULL,
    created_at    VARCHAR(32)  NOT NULL,
    PRIMARY KEY (top_id, resource_type)
);

-- The top ports a boot created for a server (deleted with the server), and
-- those the user gave (kept, unbound, when the server goes).
CREATE TABLE server_ports (
    server_id    VARCHAR(36)  NOT NULL,
    port_id      VARCHAR(36)  NOT NULL,
    project_id   VARCHAR(255) NOT NULL,
    created_by_boot BIGINT    NOT NULL,
    created_at   VARCHAR(32)  NOT NULL,
    PRIMARY KEY (server_id, port_id)
);
CREATE INDEX server_ports_port ON server_ports (port_id);

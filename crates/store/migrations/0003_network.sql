-- Version 3: the top Neutron (network API, port 9696). Each resource is a
-- row with the columns lists filter and join on, plus `body`: the resource
-- as the API shows it (JSON text), so new attributes need no migration.
-- What decides races between instances is a unique key: an IP in a subnet,
-- a MAC in a network, a segment, a project's default security group, a
-- reserved port's name, a security group rule.

CREATE TABLE networks (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name       VARCHAR(255) NOT NULL DEFAULT '',
    shared     BIGINT       NOT NULL DEFAULT 0,
    external   BIGINT       NOT NULL DEFAULT 0,
    body       TEXT         NOT NULL,
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE INDEX networks_project ON networks (project_id);
CREATE INDEX networks_shared ON networks (shared);
CREATE INDEX networks_external ON networks (external);

-- VLAN ids, VNIs and flat physical networks in use. Local networks have
-- none. `owner_id` is the network (or another user of a segment, such as a
-- bridge network), not a foreign key.
CREATE TABLE network_segments (
    network_type     VARCHAR(32)  NOT NULL,
    physical_network VARCHAR(64)  NOT NULL DEFAULT '',
    segmentation_id  BIGINT       NOT NULL DEFAULT 0,
    owner_id         VARCHAR(127) NOT NULL,
    created_at       VARCHAR(32)  NOT NULL,
    PRIMARY KEY (network_type, physical_network, segmentation_id)
);
CREATE INDEX network_segments_owner ON network_segments (owner_id);

CREATE TABLE subnets (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    network_id VARCHAR(36)  NOT NULL REFERENCES networks (id),
    name       VARCHAR(255) NOT NULL DEFAULT '',
    ip_version BIGINT       NOT NULL,
    cidr       VARCHAR(64)  NOT NULL,
    body       TEXT         NOT NULL,
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE INDEX subnets_network ON subnets (network_id);
CREATE INDEX subnets_project ON subnets (project_id);

-- `reserved_name` is set on the ports Tricircle reserves for itself
-- (per-pod gateway and DHCP ports): one of a name per network. NULLs never
-- collide in a unique index, on either engine.
CREATE TABLE ports (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id    VARCHAR(255) NOT NULL,
    network_id    VARCHAR(36)  NOT NULL REFERENCES networks (id),
    name          VARCHAR(255) NOT NULL DEFAULT '',
    mac_address   VARCHAR(32)  NOT NULL,
    device_id     VARCHAR(255) NOT NULL DEFAULT '',
    device_owner  VARCHAR(255) NOT NULL DEFAULT '',
    reserved_name VARCHAR(255),
    body          TEXT         NOT NULL,
    created_at    VARCHAR(32)  NOT NULL,
    updated_at    VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX ports_network_mac ON ports (network_id, mac_address);
CREATE UNIQUE INDEX ports_reserved_name ON ports (network_id, reserved_name);
CREATE INDEX ports_project ON ports (project_id);
CREATE INDEX ports_device ON ports (device_id);

-- Top IPAM: an address belongs to at most one port; the primary key is
-- what decides two instances allocating the same address.
CREATE TABLE ip_allocations (
    subnet_id  VARCHAR(36) NOT NULL REFERENCES subnets (id),
    ip_address VARCHAR(64) NOT NULL,
    port_id    VARCHAR(36) NOT NULL REFERENCES ports (id),
    network_id VARCHAR(36) NOT NULL,
    PRIMARY KEY (subnet_id, ip_address)
);
CREATE INDEX ip_allocations_port ON ip_allocations (port_id);

CREATE TABLE security_groups (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name       VARCHAR(255) NOT NULL DEFAULT '',
    body       TEXT         NOT NULL,
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE INDEX security_groups_project ON security_groups (project_id);

-- One default group per project: the first request to insert wins.
CREATE TABLE default_security_groups (
    project_id        VARCHAR(255) NOT NULL PRIMARY KEY,
    security_group_id VARCHAR(36)  NOT NULL
);

-- `rule_key` is the normalised rule (direction, ethertype, protocol,
-- ports, remote): a duplicate rule in a group is a unique violation.
CREATE TABLE security_group_rules (
    id                VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id        VARCHAR(255) NOT NULL,
    security_group_id VARCHAR(36)  NOT NULL REFERENCES security_groups (id),
    remote_group_id   VARCHAR(36),
    rule_key          VARCHAR(512) NOT NULL,
    body              TEXT         NOT NULL,
    created_at        VARCHAR(32)  NOT NULL,
    updated_at        VARCHAR(32)  NOT NULL
);
CREATE UNIQUE INDEX security_group_rules_key ON security_group_rules (security_group_id, rule_key);
CREATE INDEX security_group_rules_remote ON security_group_rules (remote_group_id);
CREATE INDEX security_group_rules_project ON security_group_rules (project_id);

-- Which ports use a group (a group in use cannot be deleted).
CREATE TABLE port_security_groups (
    port_id           VARCHAR(36) NOT NULL REFERENCES ports (id),
    security_group_id VARCHAR(36) NOT NULL,
    PRIMARY KEY (port_id, security_group_id)
);
CREATE INDEX port_security_groups_group ON port_security_groups (security_group_id);

-- Network quotas an operator set; absent rows take the configured defaults.
CREATE TABLE network_quotas (
    project_id VARCHAR(255) NOT NULL,
    resource   VARCHAR(64)  NOT NULL,
    hard_limit BIGINT       NOT NULL,
    PRIMARY KEY (project_id, resource)
);

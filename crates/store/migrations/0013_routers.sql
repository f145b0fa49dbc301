-- Version 13: the top Neutron's routers and floating IPs, stored like the
-- other resources of version 3 (a row with the columns lists filter on,
-- plus `body`, the resource as the API shows it). A router's ports (its
-- interfaces and its gateway) are ports whose `device_id` is the router;
-- a floating IP's own port on the external network has the floating IP as
-- its `device_id`.

CREATE TABLE routers (
    id         VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id VARCHAR(255) NOT NULL,
    name       VARCHAR(255) NOT NULL DEFAULT '',
    body       TEXT         NOT NULL,
    created_at VARCHAR(32)  NOT NULL,
    updated_at VARCHAR(32)  NOT NULL
);
CREATE INDEX routers_project ON routers (project_id);

-- `port_id`, `fixed_ip_address` and `router_id` are NULL while the
-- floating IP is not associated. One fixed IP of a port has at most one
-- floating IP on an external network: the unique key decides two
-- instances associating at once (NULLs never collide, on either engine).
CREATE TABLE floatingips (
    id                  VARCHAR(36)  NOT NULL PRIMARY KEY,
    project_id          VARCHAR(255) NOT NULL,
    floating_network_id VARCHAR(36)  NOT NULL REFERENCES networks (id),
    floating_ip_address VARCHAR(64)  NOT NULL,
    port_id             VARCHAR(36),
    fixed_ip_address    VARCHAR(64),
    router_id           VARCHAR(36),
    body                TEXT         NOT NULL,
    created_at          VARCHAR(32)  NOT NULL,
    updated_at          VARCHAR(32)  NOT NULL
);
CREATE INDEX floatingips_project ON floatingips (project_id);
CREATE INDEX floatingips_network ON floatingips (floating_network_id);
CREATE INDEX floatingips_port ON floatingips (port_id);
CREATE INDEX floatingips_router ON floatingips (router_id);
CREATE UNIQUE INDEX floatingips_fixed ON floatingips (floating_network_id, port_id, fixed_ip_address);

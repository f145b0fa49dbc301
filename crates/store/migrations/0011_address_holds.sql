-- Addresses (IPs and MACs) of deleted top ports whose copies a pod may
-- still hold. The top deletes a port at once and its copies later, through
-- the port's delete job; until that job has run, a pod would refuse the
-- same address to another port. A hold is live while a job of
-- `job_type` for the port (`resource_id` = port id) is in `jobs` (NEW,
-- RUNNING or FAIL): the job's success moves it to the log, which frees the
-- hold in the same transaction. An operator frees the addresses of a pod
-- that never answers by deleting the FAIL job. Dead holds are swept by the
-- next allocation in their subnet.
CREATE TABLE address_holds (
    port_id     VARCHAR(36)  NOT NULL,
    network_id  VARCHAR(36)  NOT NULL,
    -- '' for the hold of the MAC address itself.
    subnet_id   VARCHAR(36)  NOT NULL,
    ip_address  VARCHAR(64)  NOT NULL,
    mac_address VARCHAR(32)  NOT NULL,
    job_type    VARCHAR(64)  NOT NULL,
    created_at  VARCHAR(32)  NOT NULL,
    PRIMARY KEY (port_id, subnet_id, ip_address)
);
CREATE INDEX address_holds_subnet ON address_holds (subnet_id, ip_address);
CREATE INDEX address_holds_mac ON address_holds (network_id, mac_address);

"""User scenarios driven by the real `openstack` CLI against Tricircle.

The same functions run over simulated pods (`tricircle demo`) and over
real OpenStack pods (tests/realcloud): a *bed* gives them a way to run the
CLI against Tricircle (region RegionOne) and directly against a pod (region
Pod1/Pod2), and the id of a bootable image. Where the two beds differ, the
simulator is wrong.
"""

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import openapi_check

CLI_TIMEOUT = 240


class CliError(AssertionError):
    pass


class Bed:
    """How scenarios reach the cloud. `env` holds the OS_* variables of an
    admin of the `admin` project; `image` is a bootable image id."""

    def __init__(self, env, image, name, member_env=None):
        self.env = dict(env)
        self.image = image
        self.name = name
        # OS_* variables of a non-admin member of another project, if the bed
        # has one (else member_scenario makes one).
        self.member_env = dict(member_env) if member_env else None

    def openstack(self, *args, region="RegionOne", check=True, timeout=CLI_TIMEOUT):
        env = dict(self.env, OS_REGION_NAME=region, **openapi_check.subprocess_env())
        exe = Path(sys.executable).parent / "openstack"
        r = subprocess.run(
            [str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and r.returncode != 0:
            raise CliError(
                f"[{self.name}] openstack {' '.join(args)} (region {region}) -> rc {r.returncode}\n"
                f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"
            )
        return r

    def json(self, *args, region="RegionOne"):
        out = self.openstack(*args, "-f", "json", region=region).stdout
        return json.loads(out) if out.strip() else None


def _uid():
    return uuid.uuid4().hex[:8]


def wait_status(bed, server_id, want, timeout=120):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = bed.json("server", "show", server_id)["status"]
        if status == want:
            return
        if status == "ERROR":
            break
        time.sleep(1)
    raise AssertionError(f"[{bed.name}] server {server_id} is {status}, wanted {want}")


def compute_scenario(bed):
    """Flavor, keypair, servers in az1 and az2, list/paging, show, actions,
    delete; flavor and keypair copied into the pods on first use."""
    uid = _uid()
    flavor = f"tc-tiny-{uid}"
    f = bed.json("flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", flavor)
    assert f["name"] == flavor and f["vcpus"] == 1, f

    key = f"key-{uid}"
    with tempfile.TemporaryDirectory() as d:
        kp = bed.json("keypair", "create", "--private-key", str(Path(d) / "id"), key)
        assert kp["name"] == key and kp.get("fingerprint"), kp
        assert (Path(d) / "id").read_text().startswith("-----BEGIN"), "no private key written"

    # The pods have neither the flavor nor the keypair yet.
    for pod in ("Pod1", "Pod2"):
        r = bed.openstack("flavor", "show", f["id"], region=pod, check=False)
        assert r.returncode != 0, f"[{bed.name}] flavor already in {pod}"

    servers = {}
    for az in ("az1", "az2"):
        name = f"s-{az}-{uid}"
        s = bed.json(
            "server", "create", "--flavor", flavor, "--image", bed.image, "--nic", "none",
            "--availability-zone", az, "--key-name", key, "--wait", name,
        )
        assert s["status"] == "ACTIVE", s
        assert s["OS-EXT-AZ:availability_zone"] == az, s
        servers[az] = s["id"]

    # Copied on first use: the flavor (same id) and the keypair exist in both pods now.
    for pod in ("Pod1", "Pod2"):
        pf = bed.json("flavor", "show", f["id"], region=pod)
        assert pf["id"] == f["id"] and pf["ram"] == 512, pf
        pk = bed.json("keypair", "show", key, region=pod)
        assert pk["name"] == key, pk
    # Each server lives in the pod of its AZ, under the same id.
    assert bed.json("server", "show", servers["az1"], region="Pod1")["id"] == servers["az1"]
    assert bed.json("server", "show", servers["az2"], region="Pod2")["id"] == servers["az2"]

    # One list across pods, sorted and paged.
    listed = bed.json("server", "list", f"--name={uid}")
    assert sorted(s["ID"] for s in listed) == sorted(servers.values()), listed
    by_name = bed.json("server", "list", f"--name={uid}", "--sort-column", "Name")
    assert [s["Name"] for s in by_name] == sorted(f"s-{az}-{uid}" for az in servers), by_name
    first = bed.json("server", "list", f"--name={uid}", "--limit", "1")
    assert len(first) == 1, first
    rest = bed.json("server", "list", f"--name={uid}", "--limit", "5", "--marker", first[0]["ID"])
    assert len(rest) == 1 and rest[0]["ID"] != first[0]["ID"], rest

    s1 = servers["az1"]
    shown = bed.json("server", "show", s1)
    assert shown["name"] == f"s-az1-{uid}" and shown["key_name"] == key, shown
    bed.openstack("server", "stop", s1)
    wait_status(bed, s1, "SHUTOFF")
    bed.openstack("server", "start", s1)
    wait_status(bed, s1, "ACTIVE")
    bed.openstack("server", "reboot", "--wait", s1)
    wait_status(bed, s1, "ACTIVE")

    bed.openstack("server", "delete", "--wait", *servers.values())
    assert bed.json("server", "list", f"--name={uid}") == []
    bed.openstack("keypair", "delete", key)
    bed.openstack("flavor", "delete", flavor)


def wait_volume(bed, volume_id, want, timeout=120):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = bed.json("volume", "show", volume_id)["status"]
        if status == want:
            return
        if status.startswith("error"):
            break
        time.sleep(1)
    raise AssertionError(f"[{bed.name}] volume {volume_id} is {status}, wanted {want}")


def volume_scenario(bed):
    """Volume type copied on first use, volumes in az1/az2, list, show,
    attach in the same pod, refusal across pods, detach, extend, delete."""
    uid = _uid()
    flavor = f"tc-vol-{uid}"
    bed.json("flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", flavor)
    servers = {}
    for az in ("az1", "az2"):
        s = bed.json("server", "create", "--flavor", flavor, "--image", bed.image, "--nic", "none",
                     "--availability-zone", az, "--wait", f"vs-{az}-{uid}")
        servers[az] = s["id"]

    vtype = f"gold-{uid}"
    # A scoped spec: Cinder's CapabilitiesFilter checks unscoped ones
    # against the backend, which reports no "tier".
    bed.json("volume", "type", "create", "--property", "tricircle:tier=gold", vtype)
    r = bed.openstack("volume", "type", "show", vtype, region="Pod1", check=False)
    assert r.returncode != 0, f"[{bed.name}] type already in Pod1"

    volumes = {}
    for az in ("az1", "az2"):
        v = bed.json("volume", "create", "--size", "1", "--availability-zone", az, "--type", vtype, f"v-{az}-{uid}")
        wait_volume(bed, v["id"], "available")
        shown = bed.json("volume", "show", v["id"])
        assert shown["availability_zone"] == az and shown["type"] == vtype, shown
        volumes[az] = v["id"]
    # The type now exists in both pods; each volume is in its AZ's pod.
    for pod in ("Pod1", "Pod2"):
        copied = bed.json("volume", "type", "show", vtype, region=pod)
        assert copied["name"] == vtype, copied
        assert "tricircle:tier" in str(copied.get("properties")), copied
    assert bed.json("volume", "show", volumes["az1"], region="Pod1")["id"] == volumes["az1"]
    assert bed.json("volume", "show", volumes["az2"], region="Pod2")["id"] == volumes["az2"]

    listed = bed.json("volume", "list", "--name", f"v-az1-{uid}")
    assert [v["ID"] for v in listed] == [volumes["az1"]], listed
    everything = bed.json("volume", "list")
    assert set(volumes.values()) <= {v["ID"] for v in everything}, everything

    # Attach in the same pod; across pods is refused.
    bed.openstack("server", "add", "volume", servers["az1"], volumes["az1"])
    wait_volume(bed, volumes["az1"], "in-use")
    r = bed.openstack("server", "add", "volume", servers["az1"], volumes["az2"], check=False)
    assert r.returncode != 0 and "same pod" in (r.stderr + r.stdout), r.stderr
    assert bed.json("volume", "show", volumes["az2"])["status"] == "available"
    bed.openstack("server", "remove", "volume", servers["az1"], volumes["az1"])
    wait_volume(bed, volumes["az1"], "available")

    bed.openstack("volume", "set", "--size", "2", volumes["az1"])
    deadline = time.monotonic() + 60
    while bed.json("volume", "show", volumes["az1"])["size"] != 2:
        assert time.monotonic() < deadline, "extend did not happen"
        time.sleep(1)

    bed.openstack("volume", "delete", *volumes.values())
    deadline = time.monotonic() + 60
    while any(v["ID"] in volumes.values() for v in bed.json("volume", "list")):
        assert time.monotonic() < deadline, "volumes not deleted"
        time.sleep(1)
    bed.openstack("server", "delete", "--wait", *servers.values())
    bed.openstack("volume", "type", "delete", vtype)
    bed.openstack("flavor", "delete", flavor)


def eventually(what, check, timeout=90):
    """Polls `check` until it returns a truthy value (returned) or fails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(1)
    raise AssertionError(f"{what}: not so after {timeout} s (last: {last!r})")


def _bottom_network(bed, pod, top):
    found = bed.json("network", "list", "--long", "--name", f"{top['id']}#{top['name']}", region=pod)
    return found[0] if found else None


def network_scenario(bed):
    """Networks at the top (AZ hints, subnets, security groups), servers in
    az1 and az2 on them, the copies made in the pods on first use (same IPs
    and MACs, the same segment of a network stretched over both pods, the
    security group's rules), updates reaching the pods, and deletes leaving
    nothing behind in the pods."""
    uid = _uid()
    flavor = f"tc-net-{uid}"
    bed.json("flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", flavor)

    net1 = bed.json("network", "create", "--availability-zone-hint", "az1", f"net1-{uid}")
    assert net1["availability_zone_hints"] == ["az1"], net1
    sub1 = bed.json("subnet", "create", "--network", net1["id"], "--subnet-range", "10.51.1.0/24", f"sub1-{uid}")
    assert sub1["gateway_ip"] == "10.51.1.1" and sub1["cidr"] == "10.51.1.0/24", sub1
    # Stretched over both pods: a VxLAN network (an admin may choose the type).
    net2 = bed.json("network", "create", "--provider-network-type", "vxlan", f"net2-{uid}")
    assert net2["provider:network_type"] == "vxlan" and net2["provider:segmentation_id"], net2
    sub2 = bed.json("subnet", "create", "--network", net2["id"], "--subnet-range", "10.51.2.0/24", f"sub2-{uid}")
    sg = bed.json("security", "group", "create", f"sg-{uid}")
    bed.json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
             "--remote-ip", "0.0.0.0/0", sg["id"])

    # Nothing is in any pod before a server needs it.
    for pod in ("Pod1", "Pod2"):
        assert _bottom_network(bed, pod, net1) is None, f"[{bed.name}] net1 already in {pod}"

    # net1 is for az1 only.
    r = bed.openstack("server", "create", "--flavor", flavor, "--image", bed.image, "--nic",
                      f"net-id={net1['id']}", "--availability-zone", "az2", f"bad-{uid}", check=False)
    assert r.returncode != 0 and "availability" in (r.stderr + r.stdout), r.stderr

    s1 = bed.json("server", "create", "--flavor", flavor, "--image", bed.image,
                  "--nic", f"net-id={net1['id']}", "--nic", f"net-id={net2['id']}",
                  "--security-group", sg["name"], "--availability-zone", "az1", "--wait", f"s1-{uid}")
    s2 = bed.json("server", "create", "--flavor", flavor, "--image", bed.image,
                  "--nic", f"net-id={net2['id']}", "--availability-zone", "az2", "--wait", f"s2-{uid}")
    assert s1["status"] == "ACTIVE" and s2["status"] == "ACTIVE", (s1, s2)

    # Addresses carry the top network names; the ports are top ports.
    shown = bed.json("server", "show", s1["id"])
    addresses = shown["addresses"]
    assert set(addresses) == {f"net1-{uid}", f"net2-{uid}"}, addresses
    ports = bed.json("port", "list", "--server", s1["id"], "--long")
    assert len(ports) == 2, ports
    top_ips = {}
    for p in ports:
        full = bed.json("port", "show", p["ID"])
        assert full["device_owner"] == "compute:az1", full
        for ip in full["fixed_ips"]:
            top_ips[ip["ip_address"]] = full
    assert any(ip.startswith("10.51.1.") for ip in top_ips), top_ips
    assert any(ip.startswith("10.51.2.") for ip in top_ips), top_ips
    shown_ips = {a for v in addresses.values() for a in v}
    assert shown_ips == set(top_ips), (shown_ips, top_ips)

    # Pod1 holds net1, its subnet and the ports (same MAC and IP); net2 is
    # in both pods with the same segment; net1 is not in Pod2.
    b1 = _bottom_network(bed, "Pod1", net1)
    assert b1 is not None, f"[{bed.name}] net1 not in Pod1"
    assert _bottom_network(bed, "Pod2", net1) is None
    bsub = bed.json("subnet", "list", "--name", sub1["id"], region="Pod1")
    assert len(bsub) == 1 and bsub[0]["Subnet"] == "10.51.1.0/24", bsub
    for ip, top_port in top_ips.items():
        bp = bed.json("port", "list", "--name", top_port["id"], "--long", region="Pod1")
        assert len(bp) == 1, bp
        assert bp[0]["MAC Address"] == top_port["mac_address"], (bp, top_port)
        assert ip in str(bp[0]["Fixed IP Addresses"]), (bp, ip)
    segs = []
    for pod in ("Pod1", "Pod2"):
        b2 = _bottom_network(bed, pod, net2)
        assert b2 is not None, f"[{bed.name}] net2 not in {pod}"
        shown2 = bed.json("network", "show", b2["ID"], region=pod)
        segs.append((shown2["provider:network_type"], shown2["provider:segmentation_id"]))
    assert segs[0] == segs[1] == ("vxlan", net2["provider:segmentation_id"]), segs

    # The security group and its rule are in Pod1 (named by the top id).
    bsg = bed.json("security", "group", "show", sg["id"], region="Pod1")
    assert any(r.get("port_range_min") == 22 and r.get("protocol") == "tcp"
               for r in bsg["rules"]), bsg
    # A new rule at the top reaches the pod (a job).
    bed.json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "80", sg["id"])
    eventually("the new rule reaches Pod1", lambda: any(
        r.get("port_range_min") == 80 for r in bed.json("security", "group", "show", sg["id"], region="Pod1")["rules"]))
    # A rename reaches the pods holding the network.
    bed.openstack("network", "set", "--name", f"net2b-{uid}", net2["id"])
    net2["name"] = f"net2b-{uid}"
    for pod in ("Pod1", "Pod2"):
        eventually(f"the rename reaches {pod}", lambda pod=pod: _bottom_network(bed, pod, net2))

    # Deletes leave nothing behind in the pods.
    bed.openstack("server", "delete", "--wait", s1["id"], s2["id"])
    for p in ports:
        eventually("the servers' top ports are gone",
                   lambda p=p: bed.openstack("port", "show", p["ID"], check=False).returncode != 0)
    for p in ports:
        eventually("bottom ports are gone", lambda p=p: bed.json("port", "list", "--name", p["ID"], region="Pod1") == [])
    bed.openstack("subnet", "delete", sub1["id"], sub2["id"])
    bed.openstack("network", "delete", net1["id"], net2["id"])
    bed.openstack("security", "group", "delete", sg["id"])
    for pod in ("Pod1", "Pod2"):
        eventually(f"networks gone from {pod}", lambda pod=pod: all(
            _bottom_network(bed, pod, n) is None for n in (net1, net2)))
        eventually(f"security group gone from {pod}", lambda pod=pod: bed.openstack(
            "security", "group", "show", sg["id"], region=pod, check=False).returncode != 0)
    bed.openstack("flavor", "delete", flavor)


def _member(bed, uid):
    """The bed's member, or a new project with a new user holding only the
    `member` role on it (made by the admin, deleted by the caller)."""
    if bed.member_env:
        return bed.member_env, None
    project = bed.json("project", "create", "--domain", "Default", f"tc-member-{uid}")
    password = f"pw-{uid}"
    user = bed.json("user", "create", "--domain", "Default", "--project", project["id"], "--password", password,
                    f"tc-member-{uid}")
    bed.openstack("role", "add", "--project", project["id"], "--user", user["id"], "member")
    env = dict(bed.env, OS_USERNAME=user["name"], OS_PASSWORD=password, OS_PROJECT_NAME=project["name"],
               OS_USER_DOMAIN_NAME="Default", OS_PROJECT_DOMAIN_NAME="Default")
    return env, (project["id"], user["id"])


def _server_ips(env, server_id):
    """`GET /servers/{id}/ips` through Tricircle with `env`'s credentials."""
    import openstack

    conn = openstack.connect(
        auth_url=env["OS_AUTH_URL"], username=env["OS_USERNAME"], password=env["OS_PASSWORD"],
        project_name=env["OS_PROJECT_NAME"], user_domain_name=env.get("OS_USER_DOMAIN_NAME", "Default"),
        project_domain_name=env.get("OS_PROJECT_DOMAIN_NAME", "Default"), region_name="RegionOne",
        identity_api_version="3",
    )
    try:
        r = conn.compute.get(f"/servers/{server_id}/ips")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["addresses"]
    finally:
        conn.close()


def member_scenario(bed):
    """A non-admin member of another project boots on a shared network an
    admin made: the server has the network (addresses, `/ips`), and the
    port's copy in the pod is bound to it — the pod's Nova looks the network
    up with the member's token, so its copy must be shared as the top
    network is."""
    uid = _uid()
    member_env, made = _member(bed, uid)
    member = Bed(member_env, bed.image, f"{bed.name}/member")
    flavor = f"tc-mem-{uid}"
    bed.json("flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", flavor)
    net = bed.json("network", "create", "--share", f"shared-{uid}")
    assert net["shared"] is True, net
    bed.json("subnet", "create", "--network", net["id"], "--subnet-range", "10.52.1.0/24", f"shsub-{uid}")
    # The member sees the shared network and its subnet.
    assert any(n["ID"] == net["id"] for n in member.json("network", "list")), f"[{bed.name}] shared net unseen"
    assert [s["Subnet"] for s in member.json("subnet", "list", "--network", net["id"])] == ["10.52.1.0/24"]

    server = member.json("server", "create", "--flavor", flavor, "--image", bed.image,
                         "--nic", f"net-id={net['id']}", "--availability-zone", "az1", "--wait", f"m-{uid}")
    assert server["status"] == "ACTIVE", server
    try:
        shown = member.json("server", "show", server["id"])
        assert list(shown["addresses"]) == [f"shared-{uid}"], shown["addresses"]
        ips = _server_ips(member_env, server["id"])
        assert [a["addr"] for a in ips.get(f"shared-{uid}", [])], f"[{bed.name}] /ips: {ips}"
        assert all(a["addr"].startswith("10.52.1.") for a in ips[f"shared-{uid}"]), ips

        # The copy in Pod1 is shared; the port's copy is the member's and bound.
        b = _bottom_network(bed, "Pod1", net)
        assert b is not None, f"[{bed.name}] the shared network is not in Pod1"
        assert bed.json("network", "show", b["ID"], region="Pod1")["shared"] is True
        ports = member.json("port", "list", "--server", server["id"])
        assert len(ports) == 1, ports
        top_port = member.json("port", "show", ports[0]["ID"])
        bp = bed.json("port", "list", "--name", ports[0]["ID"], region="Pod1")
        assert len(bp) == 1, bp
        full = bed.json("port", "show", bp[0]["ID"], region="Pod1")
        assert full["project_id"] == top_port["project_id"], (full, top_port)
        assert full["device_id"], full
        assert full.get("binding_vif_type") not in (None, "unbound", "binding_failed"), full
    finally:
        member.openstack("server", "delete", "--wait", server["id"])
    bed.openstack("network", "delete", net["id"])
    bed.openstack("flavor", "delete", flavor)
    if made:
        bed.openstack("user", "delete", made[1])
        bed.openstack("project", "delete", made[0])

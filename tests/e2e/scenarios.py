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

CLI_TIMEOUT = 240


class CliError(AssertionError):
    pass


class Bed:
    """How scenarios reach the cloud. `env` holds the OS_* variables of an
    admin of the `admin` project; `image` is a bootable image id."""

    def __init__(self, env, image, name):
        self.env = dict(env)
        self.image = image
        self.name = name

    def openstack(self, *args, region="RegionOne", check=True, timeout=CLI_TIMEOUT):
        env = dict(self.env, OS_REGION_NAME=region)
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

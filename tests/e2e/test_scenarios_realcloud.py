"""The user scenarios (scenarios.py) over REAL OpenStack pods.

tests/realcloud/realcloud.sh brings up a real Keystone and two real pods
(Nova with the fake driver, Neutron, Cinder, one shared Glance) and writes
an env file; point TRICIRCLE_REALCLOUD_ENV at it. Tricircle then runs as
`tricircle serve` against that Keystone, its pods are registered through the
admin API, and its compute and volume gateways are registered in Keystone
as the RegionOne endpoints — the deployment an operator would make.
Without the env file these tests are skipped, unless
TRICIRCLE_REQUIRE_REALCLOUD=1 (scripts/test --realcloud), where they fail.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import openapi_check
import pytest
from conftest import Creds, Keystone, _parse_exports, free_port, start_serve, stop_serve
from helpers import call, describe
from scenarios import Bed, compute_scenario, member_scenario, network_scenario, volume_scenario

pytestmark = pytest.mark.realcloud


def _realcloud_env():
    path = os.environ.get("TRICIRCLE_REALCLOUD_ENV")
    if not path or not Path(path).exists():
        if os.environ.get("TRICIRCLE_REQUIRE_REALCLOUD") == "1":
            pytest.fail("TRICIRCLE_REQUIRE_REALCLOUD=1 but TRICIRCLE_REALCLOUD_ENV is not a file", pytrace=False)
        pytest.skip("no real pods (set TRICIRCLE_REALCLOUD_ENV to realcloud.sh's env file)")
    return _parse_exports(Path(path).read_text())


def _openstack(env, *args, region="RegionOne", check=True):
    exe = Path(sys.executable).parent / "openstack"
    env = dict(env, OS_REGION_NAME=region, **openapi_check.subprocess_env())
    r = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                       timeout=120, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} -> {r.returncode}: {r.stderr[-2000:]}")
    return r.stdout


def pick_service(services, endpoints, stype, name, region="RegionOne"):
    """The catalog service of type `stype` to register an endpoint with (its
    id), or None when there is none. Keystone may hold several services of
    one type (two `volumev3` ones, say), and then the `openstack` CLI refuses
    the type ("Multiple service matches found"): the one named `name` is
    taken, else the one that already has endpoints in `region`, else the
    first. `services` and `endpoints` are `service list` / `endpoint list`
    as JSON."""
    of_type = [s for s in services if s.get("Type") == stype]
    if not of_type:
        return None
    for s in of_type:
        if s.get("Name") == name:
            return s["ID"]
    in_region = {e.get("Service Name") for e in endpoints
                 if e.get("Service Type") == stype and e.get("Region") == region}
    for s in of_type:
        if s.get("Name") in in_region:
            return s["ID"]
    return of_type[0]["ID"]


def _service_id(env, stype, name):
    """The id of the service to register Tricircle's `stype` endpoints with
    (see pick_service); made when Keystone has none of that type."""
    services = json.loads(_openstack(env, "service", "list", "--long", "-f", "json"))
    endpoints = json.loads(_openstack(env, "endpoint", "list", "-f", "json"))
    sid = pick_service(services, endpoints, stype, name)
    if sid is None:
        sid = _openstack(env, "service", "create", "--name", name, "-f", "value", "-c", "id", stype).strip()
    return sid


def test_pick_service_among_several_of_one_type():
    services = [{"ID": "a", "Name": "cinder", "Type": "volumev3"},
                {"ID": "b", "Name": "cinderv3", "Type": "volumev3"},
                {"ID": "c", "Name": "nova", "Type": "compute"}]
    assert pick_service(services, [], "volumev3", "cinderv3") == "b"
    endpoints = [{"Service Name": "cinder", "Service Type": "volumev3", "Region": "RegionOne"}]
    assert pick_service(services[:1] + [{"ID": "d", "Name": "other", "Type": "volumev3"}], endpoints,
                        "volumev3", "cinderv3") == "a"
    assert pick_service(services, [], "network", "neutron") is None
    assert pick_service(services, [], "compute", "nova-legacy") == "c"


@pytest.fixture(scope="module")
def bed(tricircle_bin, tmp_path_factory):
    env = _realcloud_env()
    url = env["TRICIRCLE_REALCLOUD_KEYSTONE_URL"]
    creds = lambda who: Creds(  # noqa: E731
        env[f"TRICIRCLE_REALCLOUD_KEYSTONE_{who}_USER"], env[f"TRICIRCLE_REALCLOUD_KEYSTONE_{who}_PASSWORD"],
        env[f"TRICIRCLE_REALCLOUD_KEYSTONE_{who}_PROJECT"])
    keystone = Keystone(url, creds("ADMIN"), creds("SERVICE"), creds("DEMO"))
    workdir = tmp_path_factory.mktemp("realcloud-serve")
    compute_port, volume_port, network_port = free_port(), free_port(), free_port()
    server = start_serve(tricircle_bin, workdir, db_url=f"sqlite://{workdir}/tricircle.db", keystone=keystone,
                         token_cache_time=60, compute_port=compute_port, volume_port=volume_port,
                         network_port=network_port)
    admin_os = {
        "OS_AUTH_URL": url, "OS_IDENTITY_API_VERSION": "3",
        "OS_USERNAME": keystone.admin.user, "OS_PASSWORD": keystone.admin.password,
        "OS_PROJECT_NAME": keystone.admin.project, "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default", "PATH": os.environ.get("PATH", ""),
    }
    token = keystone.token(keystone.admin)
    for pod in ({"pod_name": "RegionOne"},
                {"pod_name": "Pod1", "az_name": "az1", "pod_az_name": env.get("TRICIRCLE_REALCLOUD_POD1_AZ", "az1")},
                {"pod_name": "Pod2", "az_name": "az2", "pod_az_name": env.get("TRICIRCLE_REALCLOUD_POD2_AZ", "az2")}):
        r = call("POST", f"{server.api}/pods", token, json={"pod": pod})
        assert r.status_code == 200, describe(r)
    # Tricircle's gateways become the top region's compute and volume services.
    added = []
    for stype, name, endpoint in (
        ("compute", "nova", f"http://127.0.0.1:{compute_port}/v2.1"),
        ("volumev3", "cinderv3", f"http://127.0.0.1:{volume_port}/v3/$(project_id)s"),
        ("block-storage", "cinder", f"http://127.0.0.1:{volume_port}/v3/$(project_id)s"),
        ("network", "neutron", f"http://127.0.0.1:{network_port}"),
    ):
        # By id: the type may name several services.
        service = _service_id(admin_os, stype, name)
        for iface in ("public", "internal", "admin"):
            eid = _openstack(admin_os, "endpoint", "create", "--region", "RegionOne", "-f", "value", "-c", "id",
                             service, iface, endpoint).strip()
            added.append(eid)
    member_os = dict(admin_os, OS_USERNAME=keystone.demo.user, OS_PASSWORD=keystone.demo.password,
                     OS_PROJECT_NAME=keystone.demo.project)
    yield Bed(admin_os, env["TRICIRCLE_REALCLOUD_IMAGE_ID"], "real", member_env=member_os)
    for eid in added:
        _openstack(admin_os, "endpoint", "delete", eid, check=False)
    stop_serve(server)


def test_compute_scenario(bed):
    compute_scenario(bed)


def test_volume_scenario(bed):
    volume_scenario(bed)


def test_network_scenario(bed):
    network_scenario(bed)


def test_member_scenario(bed):
    member_scenario(bed)

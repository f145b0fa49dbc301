"""`tricircle serve` without Keystone (auth_strategy = noauth) and `tricircle db migrate`."""

import subprocess
import uuid

import pytest
from conftest import REQUEST_ID_RE, write_config
from helpers import assert_error, call, describe, json_body

BACKENDS = ["sqlite", "postgresql"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_noauth_pod_crud_without_token(serve, databases, backend):
    server = serve(db_url=databases.get(backend), auth_strategy="noauth")
    r = call("GET", f"{server.api}/pods")
    assert r.status_code == 200, describe(r)
    assert json_body(r)["pods"] == []
    assert REQUEST_ID_RE.match(r.headers.get("X-Openstack-Request-Id", "")), describe(r)

    r = call("POST", f"{server.api}/pods", json={"pod": {"pod_name": "RegionOne"}})
    assert r.status_code == 200, describe(r)
    top = json_body(r)["pod"]
    r = call(
        "POST",
        f"{server.api}/pods",
        json={"pod": {"pod_name": "Pod1", "az_name": "az1", "pod_az_name": "az1", "dc_name": "dc1"}},
    )
    assert r.status_code == 200, describe(r)
    pod1 = json_body(r)["pod"]

    r = call("GET", f"{server.api}/pods")
    assert r.status_code == 200, describe(r)
    pods = {p["pod_name"]: p for p in json_body(r)["pods"]}
    assert set(pods) == {"RegionOne", "Pod1"}
    assert pods["Pod1"]["pod_id"] == pod1["pod_id"] and pods["Pod1"]["az_name"] == "az1"
    assert pods["RegionOne"]["pod_id"] == top["pod_id"]

    r = call("DELETE", f"{server.api}/pods/{pod1['pod_id']}")
    assert r.status_code in (200, 204), describe(r)
    assert_error(call("GET", f"{server.api}/pods/{pod1['pod_id']}"), 404)


@pytest.mark.parametrize("backend", BACKENDS)
def test_db_migrate_then_serve_without_auto_migrate(tricircle_bin, serve, databases, tmp_path, backend):
    db_url = databases.get(backend)
    config = tmp_path / "migrate.conf"
    write_config(config, port=1, db_url=db_url, auth_strategy="noauth", auto_migrate=False)
    for attempt in (1, 2):  # migrating an up-to-date database is a no-op, not an error
        r = subprocess.run(
            [str(tricircle_bin), "--config", str(config), "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert r.returncode == 0, f"db migrate #{attempt}: rc={r.returncode}\n{r.stdout}\n{r.stderr}"

    server = serve(db_url=db_url, auth_strategy="noauth", auto_migrate=False)
    name = f"Pod-{uuid.uuid4().hex[:6]}"
    r = call(
        "POST",
        f"{server.api}/pods",
        json={"pod": {"pod_name": name, "az_name": "az9", "pod_az_name": "az9", "dc_name": "dc9"}},
    )
    assert r.status_code == 200, describe(r)
    r = call("GET", f"{server.api}/pods")
    assert r.status_code == 200, describe(r)
    assert name in {p["pod_name"] for p in json_body(r)["pods"]}

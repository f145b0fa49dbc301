"""The admin API of `tricircle serve` behind a REAL Keystone (auth_strategy = keystone).

Runs once per database backend: sqlite, and PostgreSQL when TRICIRCLE_TEST_POSTGRES_URL is set
(each on a fresh database).
"""

import time
import uuid

import pytest
import requests
from conftest import REQUEST_ID_RE, start_serve, stop_serve
from helpers import assert_error, call, describe, json_body

pytestmark = pytest.mark.keystone

TOKEN_CACHE_TIME = 2  # [keystone_authtoken] token_cache_time of the server under test


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, tricircle_bin, keystone, databases, tmp_path_factory):
    db_url = databases.get(request.param)
    server = start_serve(
        tricircle_bin,
        tmp_path_factory.mktemp(f"serve-keystone-{request.param}"),
        db_url=db_url,
        auth_strategy="keystone",
        keystone=keystone,
        token_cache_time=TOKEN_CACHE_TIME,
    )
    yield server
    rc = stop_serve(server)
    assert rc is not None, "tricircle serve did not stop"


@pytest.fixture(scope="module")
def top_pod(api, admin_token):
    r = call("POST", f"{api.api}/pods", admin_token, json={"pod": {"pod_name": "RegionOne"}})
    assert r.status_code == 200, describe(r)
    return json_body(r)["pod"]


def create_pod(api, token, name, az):
    body = {"pod": {"pod_name": name, "az_name": az, "pod_az_name": az, "dc_name": "dc1"}}
    return call("POST", f"{api.api}/pods", token, json=body)


def pod_names(api, token):
    r = call("GET", f"{api.api}/pods", token)
    assert r.status_code == 200, describe(r)
    return {p["pod_name"] for p in json_body(r)["pods"]}


def test_healthcheck_needs_no_token(api):
    r = requests.get(f"{api.url}/healthcheck", timeout=10)
    assert r.status_code == 200, describe(r)


def test_top_pod_created_with_admin_token(top_pod):
    assert top_pod["pod_name"] == "RegionOne"
    assert isinstance(top_pod["pod_id"], str) and top_pod["pod_id"]
    assert not top_pod.get("az_name"), f"top pod has no az: {top_pod}"


def test_pod_create_get_list_delete(api, admin_token, top_pod):
    name = f"Pod-{uuid.uuid4().hex[:8]}"
    r = create_pod(api, admin_token, name, "az1")
    assert r.status_code == 200, describe(r)
    pod = json_body(r)["pod"]
    assert pod["pod_name"] == name
    assert pod["az_name"] == "az1"
    assert pod["pod_az_name"] == "az1"
    assert pod["dc_name"] == "dc1"
    pod_id = pod["pod_id"]
    assert isinstance(pod_id, str) and pod_id and pod_id != top_pod["pod_id"]

    r = call("GET", f"{api.api}/pods", admin_token)
    assert r.status_code == 200, describe(r)
    pods = {p["pod_id"]: p for p in json_body(r)["pods"]}
    assert pod_id in pods and top_pod["pod_id"] in pods, pods
    assert pods[pod_id]["pod_name"] == name and pods[pod_id]["az_name"] == "az1"

    r = call("GET", f"{api.api}/pods/{pod_id}", admin_token)
    assert r.status_code == 200, describe(r)
    got = json_body(r)["pod"]
    assert got["pod_id"] == pod_id and got["pod_name"] == name and got["az_name"] == "az1"

    r = call("DELETE", f"{api.api}/pods/{pod_id}", admin_token)
    assert r.status_code in (200, 204), describe(r)

    assert_error(call("GET", f"{api.api}/pods/{pod_id}", admin_token), 404)
    assert name not in pod_names(api, admin_token)
    assert "RegionOne" in pod_names(api, admin_token)


def test_pod_create_without_pod_object_is_400(api, admin_token):
    assert_error(call("POST", f"{api.api}/pods", admin_token, json={}), 400)
    assert_error(call("POST", f"{api.api}/pods", admin_token, json={"pods": {"pod_name": "x"}}), 400)


def test_pod_create_with_malformed_json_is_400(api, admin_token):
    assert_error(call("POST", f"{api.api}/pods", admin_token, data=b'{"pod": {"pod_name": '), 400)


def test_unknown_pod_is_404(api, admin_token):
    missing = str(uuid.uuid4())
    assert_error(call("GET", f"{api.api}/pods/{missing}", admin_token), 404)
    assert_error(call("DELETE", f"{api.api}/pods/{missing}", admin_token), 404)


def test_binding_and_routings(api, keystone, admin_token, top_pod):
    _, demo_body = keystone.auth(keystone.demo)
    demo_project_id = demo_body["project"]["id"]
    name = f"Pod-{uuid.uuid4().hex[:8]}"
    r = create_pod(api, admin_token, name, "az2")
    assert r.status_code == 200, describe(r)
    pod_id = json_body(r)["pod"]["pod_id"]

    r = call(
        "POST",
        f"{api.api}/bindings",
        admin_token,
        json={"pod_binding": {"tenant_id": demo_project_id, "pod_id": pod_id}},
    )
    assert r.status_code == 200, describe(r)
    binding = json_body(r)["pod_binding"]
    assert binding["tenant_id"] == demo_project_id, binding
    assert binding["pod_id"] == pod_id, binding

    # Routings: admin creates one for the demo project and one for another;
    # the member sees only its own project's rows.
    top_id = uuid.uuid4().hex
    for project, tid in ((demo_project_id, top_id), ("someone-else", top_id + "-x")):
        r = call(
            "POST",
            f"{api.api}/routings",
            admin_token,
            json={"routing": {"top_id": tid, "bottom_id": tid, "pod_id": pod_id,
                              "project_id": project, "resource_type": "server"}},
        )
        assert r.status_code == 200, describe(r)
    dup = {"routing": {"top_id": top_id, "pod_id": pod_id, "project_id": "p", "resource_type": "server"}}
    assert_error(call("POST", f"{api.api}/routings", admin_token, json=dup), 409)
    r = call("GET", f"{api.api}/routings?project_id=someone-else", admin_token)
    assert r.status_code == 200, describe(r)
    assert [row["top_id"] for row in json_body(r)["routings"]] == [top_id + "-x"]
    demo_token = keystone.token(keystone.demo)
    r = call("GET", f"{api.api}/routings", demo_token)
    assert r.status_code == 200, describe(r)
    rows = json_body(r)["routings"]
    assert rows and all(row["project_id"] == demo_project_id for row in rows), rows
    assert_error(call("POST", f"{api.api}/routings", demo_token,
                      json={"routing": {"top_id": "x", "pod_id": pod_id, "resource_type": "server"}}), 403)


def test_member_token_is_forbidden(api, demo_token, admin_token, top_pod):
    name = f"Pod-{uuid.uuid4().hex[:8]}"
    assert_error(call("GET", f"{api.api}/pods", demo_token), 403)
    assert_error(call("GET", f"{api.api}/pods/{top_pod['pod_id']}", demo_token), 403)
    assert_error(create_pod(api, demo_token, name, "az1"), 403)
    assert_error(call("DELETE", f"{api.api}/pods/{top_pod['pod_id']}", demo_token), 403)
    assert_error(call("GET", f"{api.api}/bindings", demo_token), 403)
    # nothing happened
    names = pod_names(api, admin_token)
    assert name not in names and "RegionOne" in names


def _assert_401_names_keystone(r, keystone):
    assert_error(r, 401)
    assert r.headers.get("WWW-Authenticate") == f'Keystone uri="{keystone.url}"', describe(r)


def test_no_token_is_401_with_www_authenticate(api, keystone):
    _assert_401_names_keystone(call("GET", f"{api.api}/pods"), keystone)
    _assert_401_names_keystone(create_pod(api, None, "NoToken", "az1"), keystone)


def test_garbage_token_is_401(api, keystone):
    _assert_401_names_keystone(call("GET", f"{api.api}/pods", "garbage-" + uuid.uuid4().hex), keystone)
    # a well-formed looking but unknown fernet token
    _assert_401_names_keystone(call("GET", f"{api.api}/pods", "gAAAAAB" + "x" * 180), keystone)


def test_revoked_token_is_refused_after_cache_time(api, keystone, admin_token):
    victim = keystone.token(keystone.admin)
    r = call("GET", f"{api.api}/pods", victim)
    assert r.status_code == 200, describe(r)

    keystone.revoke(victim, admin_token)
    assert keystone.validate(victim, admin_token) == 404, "Keystone itself still accepts the revoked token"
    time.sleep(TOKEN_CACHE_TIME + 1)

    _assert_401_names_keystone(call("GET", f"{api.api}/pods", victim), keystone)
    # the admin token that was not revoked still works
    assert call("GET", f"{api.api}/pods", admin_token).status_code == 200


@pytest.mark.parametrize("who", ["admin", "none"])
def test_request_id_is_echoed(api, admin_token, who):
    token = admin_token if who == "admin" else None
    rid = f"req-{uuid.uuid4()}"
    r = call("GET", f"{api.api}/pods", token, headers={"X-Openstack-Request-Id": rid})
    assert r.status_code == (200 if token else 401), describe(r)
    assert r.headers.get("X-Openstack-Request-Id") == rid, describe(r)


@pytest.mark.parametrize("who", ["admin", "member", "none"])
def test_request_id_is_generated(api, admin_token, demo_token, who):
    token = {"admin": admin_token, "member": demo_token, "none": None}[who]
    r = call("GET", f"{api.api}/pods", token)
    assert r.status_code == {"admin": 200, "member": 403, "none": 401}[who], describe(r)
    rid = r.headers.get("X-Openstack-Request-Id", "")
    assert REQUEST_ID_RE.match(rid), describe(r)
    r2 = call("GET", f"{api.api}/pods", token)
    assert r2.headers.get("X-Openstack-Request-Id") != rid, "request ids must differ per request"

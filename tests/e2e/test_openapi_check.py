"""The OpenAPI checker itself: it finds what is wrong, names the field, and lets a conforming
answer (and an allow-listed spec error) pass."""

import json

import openapi_check
import pytest
from openapi_allowlist import ALLOWED


@pytest.fixture(scope="module")
def checker():
    return openapi_check.Checker(openapi_check.Specs(), ALLOWED)


def rec(method, path, status, body, headers=None, request_body=None):
    return {"method": method, "url": f"http://127.0.0.1:1{path}", "status": status, "headers": headers or {},
            "body": json.dumps(body), "request_body": request_body}


NET = {
    "id": "6f4b8d0c-52b5-4bb8-9d0d-3c0a4e0f6b11", "name": "n1", "admin_state_up": True, "status": "ACTIVE",
    "subnets": [], "shared": False, "project_id": "0123456789abcdef0123456789abcdef",
    "tenant_id": "0123456789abcdef0123456789abcdef", "mtu": 1450, "router:external": False,
    "availability_zone_hints": [], "availability_zones": [], "ipv4_address_scope": None,
    "ipv6_address_scope": None, "port_security_enabled": True, "provider:network_type": "vxlan",
    "provider:physical_network": None, "provider:segmentation_id": 100001, "tags": [], "description": "",
    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "revision_number": 1,
    "is_default": False, "l2_adjacency": True, "dns_domain": "", "qos_policy_id": None,
}


def test_a_conforming_network_passes(checker):
    assert checker.check(rec("GET", "/v2.0/networks/x", 200, {"network": NET})) == []
    # podsim's prefix is understood.
    assert checker.check(rec("GET", "/network/v2.0/networks", 200, {"networks": [NET]})) == []


def test_a_wrong_type_is_named_with_its_path(checker):
    bad = dict(NET, name=5)
    out = checker.check(rec("GET", "/v2.0/networks/x", 200, {"network": bad}))
    assert len(out) == 1 and "$.network.name" in out[0] and "networks/network_id:get" in out[0], out


def test_compute_extra_and_missing_fields_by_microversion(checker):
    body = {"keypair": {"name": "k", "public_key": "ssh-ed25519 AAAA", "fingerprint": "aa", "type": "ssh",
                        "user_id": "u", "surprise": 1}}
    out = checker.check(rec("GET", "/v2.1/os-keypairs/k", 200, body,
                            headers={"openstack-api-version": "compute 2.2"}))
    assert any("$.keypair.surprise" in line and "not in the spec" in line for line in out), out
    assert all("microversion 2.2" in line for line in out), out


def test_unknown_paths_are_not_checked(checker):
    assert checker.check(rec("GET", "/v1.0/pods", 200, {"pods": []})) == []

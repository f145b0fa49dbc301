#!/usr/bin/env python3
"""Seed the e2e Keystone through its v3 API (idempotent).

Creates:
  * project ``service`` and user ``tricircle``/``tricircle-secret`` with role ``admin`` on it
    (the gateway's own service credentials);
  * project ``demo`` and user ``demo``/``demo-secret`` with role ``member`` on it;
  * regions ``Pod1`` and ``Pod2``, each with an ``identity`` endpoint (the same Keystone URL,
    otherwise the openstack CLI with OS_REGION_NAME=PodN cannot find Keystone) and endpoints
    for compute, volumev3, network and image on 127.0.0.1 for the interfaces public,
    internal and admin.

Then it checks that the seeded credentials work and that the service user may validate
another user's token (what the gateway does for every request).

Run with the e2e venv's python (needs ``requests``); used by tests/e2e/keystone.sh.
"""

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor

import requests
import requests.adapters

TIMEOUT = 30
INTERFACES = ("public", "internal", "admin")
PODS = {"Pod1": "http://127.0.0.1:21001", "Pod2": "http://127.0.0.1:21002"}
SERVICES = {
    # type: (name, path appended to the pod base URL)
    "compute": ("nova", "/compute/v2.1"),
    "volumev3": ("cinderv3", "/volume/v3/$(project_id)s"),
    "network": ("neutron", "/network"),
    "image": ("glance", "/image"),
}


class KeystoneError(RuntimeError):
    pass


def password_auth(url, user, password, project, domain="Default"):
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": {"name": domain}, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": {"name": domain}}},
        }
    }
    r = requests.post(f"{url}/auth/tokens", json=body, timeout=TIMEOUT)
    if r.status_code != 201:
        raise KeystoneError(f"auth as {user}@{project} failed: {r.status_code} {r.text[:300]}")
    return r.headers["X-Subject-Token"], r.json()["token"]


class Keystone:
    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.s.headers.update({"X-Auth-Token": token, "Content-Type": "application/json"})
        # Keystone answers an authenticated call in ~60 ms here; create things in parallel.
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=8)
        self.s.mount("http://", adapter)

    def call(self, method, path, expect=(200,), **kw):
        r = self.s.request(method, self.url + path, timeout=TIMEOUT, **kw)
        if r.status_code not in expect:
            raise KeystoneError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r

    def list(self, collection, **params):
        return self.call("GET", f"/{collection}", params=params).json()[collection]

    def create(self, collection, member, body):
        return self.call("POST", f"/{collection}", expect=(201,), json={member: body}).json()[member]


def parallel(fn, items):
    items = list(items)
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=6) as pool:
        return list(pool.map(fn, items))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="Keystone v3 URL, e.g. http://127.0.0.1:5000/v3")
    ap.add_argument("--admin-user", default="admin")
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--admin-project", default="admin")
    args = ap.parse_args()
    url = args.url.rstrip("/")

    admin_token, _ = password_auth(url, args.admin_user, args.admin_password, args.admin_project)
    ks = Keystone(url, admin_token)

    # roles (admin, member, reader come from `keystone-manage bootstrap`)
    roles = {r["name"]: r for r in ks.list("roles")}
    for name in ("admin", "member"):
        if name not in roles:
            roles[name] = ks.create("roles", "role", {"name": name})

    # projects and users
    projects = {p["name"]: p for p in ks.list("projects", domain_id="default")}
    users = {u["name"]: u for u in ks.list("users", domain_id="default")}
    wanted = [
        # project, description, user, password, role
        ("service", "Service project (gateway credentials)", "tricircle", "tricircle-secret", "admin"),
        ("demo", "Demo project (non-admin user)", "demo", "demo-secret", "member"),
    ]
    for pname, descr, uname, password, role in wanted:
        if pname not in projects:
            body = {"name": pname, "domain_id": "default", "description": descr, "enabled": True}
            projects[pname] = ks.create("projects", "project", body)
        fields = {"password": password, "default_project_id": projects[pname]["id"], "enabled": True}
        if uname in users:
            ks.call("PATCH", f"/users/{users[uname]['id']}", json={"user": fields})
        else:
            users[uname] = ks.create("users", "user", dict(fields, name=uname, domain_id="default"))
        ks.call(
            "PUT",
            f"/projects/{projects[pname]['id']}/users/{users[uname]['id']}/roles/{roles[role]['id']}",
            expect=(204,),
        )

    # services
    services = {}
    for s in ks.list("services"):
        services.setdefault(s["type"], s)
    if "identity" not in services:
        raise KeystoneError("no identity service: was `keystone-manage bootstrap` run?")
    missing = [(t, name) for t, (name, _) in SERVICES.items() if t not in services]
    for svc in parallel(
        lambda tn: ks.create("services", "service", {"type": tn[0], "name": tn[1], "enabled": True}), missing
    ):
        services[svc["type"]] = svc

    # regions
    regions = {r["id"] for r in ks.list("regions")}
    for region_id in PODS:
        if region_id not in regions:
            ks.create("regions", "region", {"id": region_id, "description": f"bottom pod {region_id}"})

    # endpoints: one identity endpoint per pod region (the same Keystone URL) + the pod services
    existing = {(e["service_id"], e["region_id"], e["interface"]): e for e in ks.list("endpoints")}
    todo_create, todo_patch = [], []
    for region_id, base in PODS.items():
        urls = {"identity": url}
        urls.update({t: base + path for t, (_, path) in SERVICES.items()})
        for stype, ep_url in urls.items():
            for iface in INTERFACES:
                key = (services[stype]["id"], region_id, iface)
                if key not in existing:
                    todo_create.append(
                        {
                            "service_id": key[0],
                            "region_id": region_id,
                            "interface": iface,
                            "url": ep_url,
                            "enabled": True,
                        }
                    )
                elif existing[key]["url"] != ep_url:
                    todo_patch.append((existing[key]["id"], ep_url))
    parallel(lambda body: ks.create("endpoints", "endpoint", body), todo_create)
    parallel(lambda ip: ks.call("PATCH", f"/endpoints/{ip[0]}", json={"endpoint": {"url": ip[1]}}), todo_patch)

    # Self-check: the seeded users can log in, the catalog has the pods, and the service user
    # can validate someone else's token (the gateway's token check).
    svc_token, _ = password_auth(url, "tricircle", "tricircle-secret", "service")
    demo_token, demo_body = password_auth(url, "demo", "demo-secret", "demo")
    regions = {ep["region_id"] for svc in demo_body.get("catalog", []) for ep in svc["endpoints"]}
    missing = set(PODS) - regions
    if missing:
        raise KeystoneError(f"catalog of a demo token lacks regions {sorted(missing)}")
    r = requests.get(
        f"{url}/auth/tokens",
        headers={"X-Auth-Token": svc_token, "X-Subject-Token": demo_token},
        timeout=TIMEOUT,
    )
    if r.status_code != 200:
        raise KeystoneError(f"service user cannot validate tokens: {r.status_code} {r.text[:300]}")
    token_roles = sorted(role["name"] for role in r.json()["token"]["roles"])
    print(
        f"keystone_seed: ok: projects service,demo; users tricircle,demo; regions {sorted(regions)}; "
        f"demo token roles {token_roles}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    try:
        main()
    except (KeystoneError, requests.RequestException) as e:
        print(f"keystone_seed: {e}", file=sys.stderr)
        sys.exit(1)

#!/usr/bin/env python3
"""Keystone seeding, readiness checks and image seeding for tests/realcloud/realcloud.sh.

Run with the realcloud venv's python. All input comes from DIR/bed.json (written by
realcloud.sh): ports, passwords, regions and availability zones.

  bed.py keystone DIR   users, projects, roles, services, regions and endpoints (idempotent)
  bed.py wait DIR       wait until every pod answers and can schedule: nova-compute up and
                        mapped to cell1, cinder-volume up, the AZs visible, neutron and glance
                        answering
  bed.py image DIR      upload the public image ``cirros`` (1 MiB of zeros, raw) to the
                        shared Glance; prints its id

The small HTTP helpers come from tests/e2e/keystone_seed.py (the other test tier's seeding).
"""

import json
import os
import sys
import time

import pymysql
import requests

sys.dont_write_bytecode = True  # no __pycache__ in tests/e2e from this import
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from keystone_seed import Keystone, KeystoneError, parallel, password_auth  # noqa: E402

INTERFACES = ("public", "internal", "admin")
TIMEOUT = 30
# type -> name of the catalog service
SERVICE_NAMES = {
    "compute": "nova",
    "network": "neutron",
    "volumev3": "cinderv3",
    "image": "glance",
    "placement": "placement",
}
# the OpenStack services' own users (admin + service roles on project "service")
SERVICE_USERS = ("nova", "neutron", "glance", "cinder", "placement")


def load(dirname):
    with open(os.path.join(dirname, "bed.json")) as f:
        return json.load(f)


def log(msg):
    print(f"bed.py: {msg}", file=sys.stderr, flush=True)


def pod_urls(bed, pod):
    p = bed["pods"][pod]
    return {
        "identity": bed["keystone_url"],
        "compute": f"http://127.0.0.1:{p['nova_api']}/v2.1",
        "network": f"http://127.0.0.1:{p['neutron']}",
        "volumev3": f"http://127.0.0.1:{p['cinder_api']}/v3/$(project_id)s",
        "image": bed["glance_url"],
        "placement": f"http://127.0.0.1:{p['placement']}",
    }


def cmd_keystone(bed):
    url = bed["keystone_url"]
    admin_token, _ = password_auth(url, "admin", bed["admin_password"], "admin")
    ks = Keystone(url, admin_token)

    roles = {r["name"]: r for r in ks.list("roles")}
    for name in ("admin", "member", "reader", "service"):
        if name not in roles:
            roles[name] = ks.create("roles", "role", {"name": name})

    projects = {p["name"]: p for p in ks.list("projects", domain_id="default")}
    for pname, descr in (("service", "OpenStack services and the gateway"), ("demo", "non-admin tests")):
        if pname not in projects:
            body = {"name": pname, "domain_id": "default", "description": descr, "enabled": True}
            projects[pname] = ks.create("projects", "project", body)

    users = {u["name"]: u for u in ks.list("users", domain_id="default")}
    wanted = [
        # user, password, project, roles
        ("tricircle", "tricircle-secret", "service", ("admin",)),
        ("demo", "demo-secret", "demo", ("member",)),
    ] + [(u, bed["service_password"], "service", ("admin", "service")) for u in SERVICE_USERS]

    def ensure_user(item):
        uname, password, pname, role_names = item
        fields = {"password": password, "default_project_id": projects[pname]["id"], "enabled": True}
        if uname in users:
            ks.call("PATCH", f"/users/{users[uname]['id']}", json={"user": fields})
            user = users[uname]
        else:
            user = ks.create("users", "user", dict(fields, name=uname, domain_id="default"))
        for rn in role_names:
            ks.call(
                "PUT",
                f"/projects/{projects[pname]['id']}/users/{user['id']}/roles/{roles[rn]['id']}",
                expect=(204,),
            )

    parallel(ensure_user, wanted)

    services = {}
    for s in ks.list("services"):
        services.setdefault(s["type"], s)
    if "identity" not in services:
        raise KeystoneError("no identity service: was `keystone-manage bootstrap` run?")
    missing = [(t, n) for t, n in SERVICE_NAMES.items() if t not in services]
    for svc in parallel(
        lambda tn: ks.create("services", "service", {"type": tn[0], "name": tn[1], "enabled": True}), missing
    ):
        services[svc["type"]] = svc

    regions = {r["id"] for r in ks.list("regions")}
    for pod in bed["pods"]:
        if pod not in regions:
            ks.create("regions", "region", {"id": pod, "description": f"bottom pod {pod}"})

    # RegionOne (bootstrap: identity) also gets the shared Glance; every pod gets all its services.
    want = {(bed["top_region"], "image"): bed["glance_url"]}
    for pod in bed["pods"]:
        for stype, ep_url in pod_urls(bed, pod).items():
            want[(pod, stype)] = ep_url
    existing = {(e["service_id"], e["region_id"], e["interface"]): e for e in ks.list("endpoints")}
    todo_create, todo_patch = [], []
    for (region, stype), ep_url in want.items():
        for iface in INTERFACES:
            key = (services[stype]["id"], region, iface)
            if key not in existing:
                todo_create.append(
                    {"service_id": key[0], "region_id": region, "interface": iface, "url": ep_url, "enabled": True}
                )
            elif existing[key]["url"] != ep_url:
                todo_patch.append((existing[key]["id"], ep_url))
    parallel(lambda body: ks.create("endpoints", "endpoint", body), todo_create)
    parallel(lambda ip: ks.call("PATCH", f"/endpoints/{ip[0]}", json={"endpoint": {"url": ip[1]}}), todo_patch)

    # self-check: the seeded users log in; the demo catalog has every pod
    password_auth(url, "tricircle", "tricircle-secret", "service")
    _, demo_body = password_auth(url, "demo", "demo-secret", "demo")
    got = {ep["region_id"] for svc in demo_body.get("catalog", []) for ep in svc["endpoints"]}
    lacking = set(bed["pods"]) - got
    if lacking:
        raise KeystoneError(f"catalog of a demo token lacks regions {sorted(lacking)}")
    log(f"keystone seeded: {len(todo_create)} endpoints created, regions {sorted(got)}")


class Waiter:
    """Polls until a check passes; fails with the last error after the deadline."""

    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def until(self, what, check, interval=1.0):
        last = None
        while True:
            try:
                res = check()
                if res:
                    return res
            except Exception as e:  # noqa: BLE001 - any failure means "not yet"
                last = e
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"timed out waiting for {what}" + (f": {last}" if last else ""))
            time.sleep(interval)


def get_json(sess, url, **kw):
    r = sess.get(url, timeout=10, **kw)
    r.raise_for_status()
    return r.json()


def cmd_wait(bed, seconds):
    url = bed["keystone_url"]
    token, body = password_auth(url, "admin", bed["admin_password"], "admin")
    project_id = body["project"]["id"]
    s = requests.Session()
    s.headers.update({"X-Auth-Token": token})
    w = Waiter(seconds)
    glance = bed["glance_url"]
    w.until("glance", lambda: "images" in get_json(s, f"{glance}/v2/images"))
    db = bed["db"]
    for pod, p in bed["pods"].items():
        urls = pod_urls(bed, pod)
        az = p["az"]
        t0 = time.monotonic()
        w.until(f"{pod} neutron", lambda: "networks" in get_json(s, f"{urls['network']}/v2.0/networks"))
        w.until(f"{pod} placement", lambda: "resource_providers" in get_json(
            s, f"{urls['placement']}/resource_providers", headers={"OpenStack-API-Version": "placement 1.10"}))

        def compute_up():
            svcs = get_json(s, f"{urls['compute']}/os-services?binary=nova-compute")["services"]
            return [x for x in svcs if x["state"] == "up" and x["status"] == "enabled"]

        w.until(f"{pod} nova-compute up", compute_up)

        def hypervisor():
            hv = get_json(s, f"{urls['compute']}/os-hypervisors")["hypervisors"]
            return [h for h in hv if h.get("state") == "up"]

        w.until(f"{pod} hypervisor", hypervisor)

        def mapped():
            # the scheduler maps new compute hosts to cell1 every 2 s; a server create fails
            # with NoValidHost until it has
            conn = pymysql.connect(host="127.0.0.1", port=db["port"], user=db["user"], password=db["password"],
                                   database=p["nova_api_db"], connect_timeout=5)
            try:
                with conn.cursor() as c:
                    c.execute("SELECT COUNT(*) FROM host_mappings")
                    return c.fetchone()[0] > 0
            finally:
                conn.close()

        w.until(f"{pod} nova-compute mapped to cell1", mapped)

        def providers():
            rps = get_json(s, f"{urls['placement']}/resource_providers",
                           headers={"OpenStack-API-Version": "placement 1.10"})["resource_providers"]
            return rps

        w.until(f"{pod} resource provider in placement", providers)

        def compute_az():
            zones = get_json(s, f"{urls['compute']}/os-availability-zone")["availabilityZoneInfo"]
            return any(z["zoneName"] == az and z["zoneState"]["available"] for z in zones)

        w.until(f"{pod} compute AZ {az}", compute_az)
        vol = urls["volumev3"].replace("$(project_id)s", project_id)

        def volume_up():
            svcs = get_json(s, f"{vol}/os-services?binary=cinder-volume")["services"]
            return [x for x in svcs if x["state"] == "up" and x["status"] == "enabled" and x["zone"] == az]

        w.until(f"{pod} cinder-volume up in {az}", volume_up)

        def volume_az():
            zones = get_json(s, f"{vol}/os-availability-zone")["availabilityZoneInfo"]
            return any(z["zoneName"] == az and z["zoneState"]["available"] for z in zones)

        w.until(f"{pod} volume AZ {az}", volume_az)
        log(f"{pod} ready (+{time.monotonic() - t0:.1f} s)")


def cmd_image(bed):
    url = bed["keystone_url"]
    token, _ = password_auth(url, "admin", bed["admin_password"], "admin")
    s = requests.Session()
    s.headers.update({"X-Auth-Token": token})
    glance = bed["glance_url"]
    found = get_json(s, f"{glance}/v2/images", params={"name": "cirros"})["images"]
    active = [i for i in found if i["status"] == "active"]
    if active:
        print(active[0]["id"])
        return
    r = s.post(f"{glance}/v2/images", json={
        "name": "cirros", "disk_format": "raw", "container_format": "bare", "visibility": "public",
        "min_disk": 0, "min_ram": 0,
    }, timeout=TIMEOUT)
    r.raise_for_status()
    image_id = r.json()["id"]
    r = s.put(f"{glance}/v2/images/{image_id}/file", data=b"\0" * (1 << 20),
              headers={"Content-Type": "application/octet-stream"}, timeout=TIMEOUT)
    r.raise_for_status()
    Waiter(60).until("image active", lambda: get_json(s, f"{glance}/v2/images/{image_id}")["status"] == "active",
                     interval=0.5)
    log(f"image cirros {image_id} active")
    print(image_id)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("keystone", "wait", "image"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    bed = load(sys.argv[2])
    if sys.argv[1] == "keystone":
        cmd_keystone(bed)
    elif sys.argv[1] == "wait":
        cmd_wait(bed, float(sys.argv[3]) if len(sys.argv) > 3 else 300)
    else:
        cmd_image(bed)


if __name__ == "__main__":
    try:
        main()
    except (KeystoneError, requests.RequestException, TimeoutError, pymysql.MySQLError) as e:
        print(f"bed.py {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)

"""Helpers of scripts/tempest (standard library only; runs with the Tempest venv's python).

    bed.py prepare --auth-url URL --user U --password P --project P [--region R] [--image-name N]
        Makes what tempest.conf points at, through the region's catalog endpoints, as an admin:
        two flavors, a shared network with a subnet (Tempest's fixed network), an external
        network with an IPv4 subnet (its public network), and finds the image to boot. Prints shell assignments (FLAVOR_REF=..., IMAGE_REF=..., ...).
    bed.py register --auth-url URL --user U --password P --project P --admin-api URL
                    --compute URL --volume URL --network URL --pod NAME:AZ:POD_AZ ...
        Registers a gateway over existing pods: its pods through its admin API, and its
        compute/volume/network endpoints as the top region's (RegionOne) in Keystone.
        Prints the ids of the endpoints it made (for `unregister`).
    bed.py unregister --auth-url URL --user U --password P --project P ENDPOINT_ID ...
    bed.py results --csv FILE --known FILE --label LABEL --target demo|realpods [--output FILE]
        Reads subunit2csv output and known-failures.txt (and, for entries that name the error,
        the failures' errors in `tempest run`'s output); prints failures, known failures that
        now pass, and the counts line last. Exit 1 if a test outside known-failures failed.
"""

import argparse
import csv
import json
import re
import sys
import time
import urllib.error
import urllib.request


class HttpError(Exception):
    pass


def http(method, url, token=None, body=None, ok=(200, 201, 202, 204), timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status, headers = r.status, r.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        status, headers = e.code, e.headers
    if status not in ok:
        raise HttpError(f"{method} {url} -> {status}: {raw[:500].decode(errors='replace')}")
    return status, headers, (json.loads(raw) if raw.strip() else None)


def authenticate(a):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": a.user, "password": a.password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": a.project, "domain": {"name": "Default"}}}}}
    _, headers, tok = http("POST", a.auth_url.rstrip("/") + "/auth/tokens", body=body)
    return headers["X-Subject-Token"], tok["token"]


def endpoint(tok, stype, region):
    for svc in tok.get("catalog", []):
        if svc["type"] != stype:
            continue
        for ep in svc["endpoints"]:
            if ep["interface"] == "public" and ep.get("region_id", ep.get("region")) == region:
                return ep["url"].rstrip("/")
    raise SystemExit(f"bed.py: no public {stype} endpoint in region {region}")


def max_version(url, token):
    """`version` of the version document at url ({"version": {...}} or {"versions": [...]})."""
    _, _, doc = http("GET", url, token)
    docs = [doc["version"]] if "version" in doc else doc.get("versions", [])
    found = [d.get("version") for d in docs if d.get("version")]
    if not found:
        raise SystemExit(f"bed.py: no microversion in the version document at {url}")
    return max(found, key=lambda v: tuple(int(x) for x in v.split(".")))


def cmd_prepare(a):
    token, tok = authenticate(a)
    compute = endpoint(tok, "compute", a.region)
    network = endpoint(tok, "network", a.region)
    image = endpoint(tok, "image", a.region)
    out = {}
    # Flavors: small, with distinct ids (Tempest's flavor_ref and flavor_ref_alt).
    for key, fid, name, ram in (("FLAVOR_REF", "tempest1", "m1.tempest", 512),
                                ("FLAVOR_REF_ALT", "tempest2", "m1.tempest-alt", 1024)):
        st, _, _ = http("GET", f"{compute}/flavors/{fid}", token, ok=(200, 404))
        if st == 404:
            http("POST", f"{compute}/flavors", token, {"flavor": {
                "name": name, "id": fid, "ram": ram, "vcpus": 1, "disk": 1}})
        out[key] = fid
    # The image to boot.
    _, _, images = http("GET", f"{image}/v2/images?limit=100", token)
    found = [i for i in images["images"] if i["name"] == a.image_name] if a.image_name else images["images"]
    found = [i for i in found if i.get("status") == "active"]
    if not found:
        raise SystemExit(f"bed.py: no active image {a.image_name or ''} at {image}")
    out["IMAGE_REF"] = found[0]["id"]
    # Tempest's fixed network: shared, so that every dynamic project's servers can use it.
    name = "tempest-fixed"
    _, _, nets = http("GET", f"{network}/v2.0/networks?name={name}", token)
    if nets["networks"]:
        net = nets["networks"][0]
    else:
        _, _, net = http("POST", f"{network}/v2.0/networks", token,
                         {"network": {"name": name, "shared": True}})
        net = net["network"]
        http("POST", f"{network}/v2.0/subnets", token, {"subnet": {
            "name": name, "network_id": net["id"], "ip_version": 4, "cidr": "10.250.0.0/16"}})
    # Tempest's public network: external, with an IPv4 subnet (router gateways and floating IPs).
    public = "tempest-public"
    _, _, nets = http("GET", f"{network}/v2.0/networks?name={public}", token)
    if nets["networks"]:
        pub = nets["networks"][0]
    else:
        _, _, pub = http("POST", f"{network}/v2.0/networks", token,
                         {"network": {"name": public, "router:external": True}})
        pub = pub["network"]
        http("POST", f"{network}/v2.0/subnets", token, {"subnet": {
            "name": public, "network_id": pub["id"], "ip_version": 4, "cidr": "172.24.0.0/16"}})
    out["PUBLIC_NETWORK_NAME"] = public
    out["PUBLIC_NETWORK_ID"] = pub["id"]
    # The network extensions the region offers (Tempest skips tests of the others).
    _, _, exts = http("GET", f"{network}/v2.0/extensions", token)
    out["NETWORK_EXTENSIONS"] = ",".join(sorted(e["alias"] for e in exts["extensions"]))
    # The newest microversions the gateway serves (Tempest skips tests that need newer ones).
    out["COMPUTE_MAX_MICROVERSION"] = max_version(compute + "/", token)
    volume = endpoint(tok, "volumev3", a.region)
    out["VOLUME_MAX_MICROVERSION"] = max_version(volume.split("/v3")[0] + "/v3/", token)
    # The volume extensions it lists (Tempest's default `all` wants Cinder's `Hosts`).
    _, _, exts = http("GET", f"{volume}/extensions", token)
    out["VOLUME_EXTENSIONS"] = ",".join(sorted(e["alias"] for e in exts["extensions"]))
    out["FIXED_NETWORK_NAME"] = name
    out["FIXED_NETWORK_ID"] = net["id"]
    for k, v in out.items():
        print(f"{k}={v}")


def cmd_register(a):
    token, tok = authenticate(a)
    ks = a.auth_url.rstrip("/")
    for spec in a.pod:
        name, _, rest = spec.partition(":")
        az, _, pod_az = rest.partition(":")
        pod = {"pod_name": name}
        if az:
            pod.update(az_name=az, pod_az_name=pod_az or az)
        http("POST", f"{a.admin_api}/pods", token, {"pod": pod})
    _, _, services = http("GET", f"{ks}/services", token)
    ids = []
    for stype, sname, url in (("compute", "nova", a.compute), ("volumev3", "cinderv3", a.volume),
                              ("block-storage", "cinder", a.volume), ("network", "neutron", a.network)):
        svc = next((s for s in services["services"] if s["type"] == stype), None)
        if svc is None:
            _, _, svc = http("POST", f"{ks}/services", token, {"service": {"type": stype, "name": sname}})
            svc = svc["service"]
        for iface in ("public", "internal", "admin"):
            _, _, ep = http("POST", f"{ks}/endpoints", token, {"endpoint": {
                "service_id": svc["id"], "interface": iface, "region_id": "RegionOne", "url": url}})
            ids.append(ep["endpoint"]["id"])
    print(" ".join(ids))


def cmd_unregister(a):
    token, _ = authenticate(a)
    for eid in a.ids:
        http("DELETE", f"{a.auth_url.rstrip('/')}/endpoints/{eid}", token, ok=(204, 404))


def load_known(path, target):
    """known-failures.txt: `[@demo|@realpods] REGEX [~ DETAIL_REGEX]  # diagnosis` per line (an
    entry with a target applies to that target only; with a DETAIL_REGEX, a failure is known
    only if its captured error also matches it); blank lines and # comments skipped.
    Entries are (pattern, regex, detail regex or None, diagnosis)."""
    known = []
    with open(path) as f:
        for line in f:
            pattern = line.split("#", 1)[0].strip()
            if not pattern:
                continue
            if pattern.startswith("@"):
                only, _, pattern = pattern.partition(" ")
                if only[1:] != target:
                    continue
                pattern = pattern.strip()
            detail = None
            if " ~ " in pattern:
                pattern, _, d = pattern.partition(" ~ ")
                pattern, detail = pattern.strip(), re.compile(d.strip())
            diagnosis = line.split("#", 1)[1].strip() if "#" in line else ""
            known.append((pattern, re.compile(pattern), detail, diagnosis))
    return known


def failure_texts(path):
    """The captured error of each failed test in `tempest run`'s output: a section starts with
    the test's id underlined by dashes."""
    texts = {}
    if not path:
        return texts
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return texts
    current = None
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line and nxt and set(nxt) == {"-"} and len(nxt) == len(line):
            current = line.strip()
            texts[current] = []
        elif current is not None:
            texts[current].append(line)
    return {k: "\n".join(v) for k, v in texts.items()}


def known_entry(known, test, texts):
    """The known-failures entry covering a failed `test`, if any."""
    bid = base_id(test)
    for k in known:
        if k[1].search(bid) and (k[2] is None or k[2].search(texts.get(test, ""))):
            return k
    return None


def base_id(test):
    """The test id without its [id-...,tags] suffix; `setUpClass (mod.Class)` -> mod.Class."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.*)\)$", test)
    if m:
        return m.group(2)
    return test.split("[", 1)[0]


def cmd_results(a):
    known = load_known(a.known, a.target)
    texts = failure_texts(a.output)
    rows = []
    with open(a.csv) as f:
        for row in csv.DictReader(f):
            rows.append((row["test"], row["status"]))
    passed, failed, skipped, known_failed = [], [], [], []
    now_pass = set()
    for test, status in rows:
        bid = base_id(test)
        if status in ("success", "xfail"):
            passed.append(test)
            hit = next((k for k in known if k[1].search(bid)), None)
            if hit:
                now_pass.add(hit[0])
        elif status == "skip":
            skipped.append(test)
        elif status in ("fail", "failure", "error", "uxsuccess"):
            (known_failed if known_entry(known, test, texts) else failed).append(test)
    # A known-failure entry counts as fixed only if nothing it covers failed.
    still = {known_entry(known, t, texts)[0] for t in known_failed}
    fixed = sorted(now_pass - still)
    if known_failed:
        print(f"known failures ({len(known_failed)}), see tests/tempest/known-failures.txt:")
        for t in sorted(known_failed):
            print(f"  known: {t}")
    if fixed:
        print(f"known failures that now pass ({len(fixed)}): remove from known-failures:")
        for p in fixed:
            print(f"  {p}")
    if failed:
        print(f"NEW FAILURES ({len(failed)}):")
        for t in sorted(failed):
            print(f"  FAILED: {t}")
    print(f"tempest ({a.label}): {len(rows)} run, {len(passed)} passed, {len(failed)} failed, "
          f"{len(skipped)} skipped, {len(known_failed)} known failures")
    return 1 if failed or not rows else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def creds(sp):
        sp.add_argument("--auth-url", required=True)
        sp.add_argument("--user", required=True)
        sp.add_argument("--password", required=True)
        sp.add_argument("--project", required=True)

    sp = sub.add_parser("prepare")
    creds(sp)
    sp.add_argument("--region", default="RegionOne")
    sp.add_argument("--image-name", default="")
    sp = sub.add_parser("register")
    creds(sp)
    for o in ("--admin-api", "--compute", "--volume", "--network"):
        sp.add_argument(o, required=True)
    sp.add_argument("--pod", action="append", default=[])
    sp = sub.add_parser("unregister")
    creds(sp)
    sp.add_argument("ids", nargs="*")
    sp = sub.add_parser("results")
    sp.add_argument("--csv", required=True)
    sp.add_argument("--known", required=True)
    sp.add_argument("--label", required=True)
    sp.add_argument("--target", required=True, choices=("demo", "realpods"))
    sp.add_argument("--output", default="", help="tempest run's output (failures' errors)")
    a = p.parse_args()
    for attempt in range(3):
        try:
            return {"prepare": cmd_prepare, "register": cmd_register, "unregister": cmd_unregister,
                    "results": cmd_results}[a.cmd](a) or 0
        except (HttpError, OSError) as e:
            if a.cmd != "prepare" or attempt == 2:
                print(f"bed.py {a.cmd}: {e}", file=sys.stderr)
                return 1
            time.sleep(2)
    return 1


if __name__ == "__main__":
    sys.exit(main())

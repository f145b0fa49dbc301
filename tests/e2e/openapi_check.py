"""OpenAPI conformance of every JSON answer the e2e suites receive from
Tricircle and from podsim.

The specs are the OpenAPI documents gtema's `openstack_types` crate ships
(`data/<service>/<version>.yaml`); the crate is a dev-dependency of
tricircle-podsim, pinned in Cargo.lock, so cargo brings it into its registry
and `cargo metadata` says where. Nothing of it is copied into this repo.

How answers are collected: `requests.Session.send` is wrapped, in the pytest
process (helpers.call, conftest) and, through `openapi_hook/sitecustomize.py`
on PYTHONPATH, in every `openstack` CLI the suites run (their answers are
appended to the JSON-lines file $TRICIRCLE_OPENAPI_LOG). After each test,
conftest validates what the test collected that came from an origin a
fixture registered as ours (`check_origin`), and fails the test with the
operation, the status, the microversion and, per mismatch, the JSON path of
the field and what is wrong. Real Keystone and real pods are not checked.

Where the spec is wrong about real OpenStack, ALLOWED (openapi_allowlist.py)
names the operation, the field and the reason.
"""

import fcntl
import hashlib
import json
import os
import re
import subprocess
import threading
import urllib.parse
from pathlib import Path

# jsonschema and yaml are imported where used: the CLIs load this module
# only to record.

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CRATE = "openstack_types"
# service → the spec file in the crate's data/ (the newest microversion).
SPECS = {
    "compute": "compute/v2.yaml",
    "block-storage": "block-storage/v3.yaml",
    "network": "network/v2.yaml",
    "image": "image/v2.yaml",
    "identity": "identity/v3.yaml",
}
# podsim serves each pod service under a prefix.
PODSIM_PREFIXES = {"/compute": "compute", "/volume": "block-storage", "/network": "network", "/image": "image"}
# Headers that carry the microversion of an answer.
MV_SERVICE = {"compute": "compute", "block-storage": "volume"}
DEFAULT_MV = {"compute": "2.1", "block-storage": "3.0"}

# The JSON-lines file the CLIs' answers go to (conftest sets it).
LOG_PATH = None

_lock = threading.Lock()
_origins = set()
_records = []  # in-process answers: dicts as in the log file


def check_origin(url_or_netloc):
    """Answers from this origin (`host:port`, or a URL) are ours: checked."""
    netloc = urllib.parse.urlsplit(url_or_netloc).netloc if "//" in url_or_netloc else url_or_netloc
    with _lock:
        _origins.add(netloc)


# ---------------------------------------------------------------- recording


def record(method, url, status, headers, body_text, request_body=None):
    rec = {
        "method": method,
        "url": url,
        "status": status,
        "headers": {k.lower(): v for k, v in headers.items()},
        "body": body_text,
        "request_body": request_body,
    }
    log = os.environ.get("TRICIRCLE_OPENAPI_LOG")
    if log and os.environ.get("TRICIRCLE_OPENAPI_SUBPROCESS") == "1":
        line = json.dumps(rec) + "\n"
        with open(log, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(line)
            fcntl.flock(f, fcntl.LOCK_UN)
    else:
        with _lock:
            _records.append(rec)


def _is_json(headers):
    return "json" in headers.get("Content-Type", headers.get("content-type", "")).lower()


def install_requests_hook():
    """Wrap requests.Session.send so that every JSON answer is recorded."""
    import requests

    if getattr(requests.Session.send, "_tricircle_openapi", False):
        return
    orig = requests.Session.send

    def send(self, request, **kwargs):
        resp = orig(self, request, **kwargs)
        try:
            if _is_json(resp.headers) and not kwargs.get("stream"):
                body = request.body
                if isinstance(body, bytes):
                    body = body.decode("utf-8", "replace")
                if not isinstance(body, str):
                    body = None
                record(request.method, request.url, resp.status_code, dict(resp.headers), resp.text, body)
        except Exception:  # noqa: BLE001 - recording must never break a request
            pass
        return resp

    send._tricircle_openapi = True
    requests.Session.send = send


def subprocess_env(log_path=None):
    """Environment for a subprocess (the openstack CLI) whose answers are recorded."""
    log_path = log_path or LOG_PATH
    if log_path is None:
        return {}
    pp = os.environ.get("PYTHONPATH", "")
    hook = str(HERE / "openapi_hook")
    return {
        "PYTHONPATH": hook + (os.pathsep + pp if pp else ""),
        "TRICIRCLE_OPENAPI_LOG": str(log_path),
        "TRICIRCLE_OPENAPI_SUBPROCESS": "1",
    }


def take_records(log_path=None):
    """Everything recorded since the last call (in-process and from the log file)."""
    with _lock:
        recs = list(_records)
        _records.clear()
    log_path = log_path or LOG_PATH
    p = Path(log_path) if log_path else None
    if p is not None and p.exists():
        with open(p, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            lines = f.read().splitlines()
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)
        for line in lines:
            try:
                recs.append(json.loads(line))
            except ValueError:
                pass
    return recs


# ---------------------------------------------------------------- specs


def _crate_data_dir():
    explicit = os.environ.get("TRICIRCLE_OPENAPI_SPECS")
    if explicit:
        return Path(explicit)
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--manifest-path", str(REPO / "Cargo.toml")],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    if out.returncode != 0:
        raise RuntimeError(f"cargo metadata failed: {out.stderr[-2000:]}")
    for pkg in json.loads(out.stdout)["packages"]:
        if pkg["name"] == CRATE:
            return Path(pkg["manifest_path"]).parent / "data"
    raise RuntimeError(f"{CRATE} is not in the workspace's dependencies (Cargo.lock)")


_UUID_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
_FORMATS = None


def _format_checker():
    """jsonschema's checks, except `uuid`: OpenStack ids are uuids with or
    without dashes (Keystone's user, project and service ids are 32 hex
    digits, uuid4().hex), as oslo's is_uuid_like accepts them; the specs say
    `format: uuid` for both."""
    global _FORMATS
    if _FORMATS is None:
        import uuid

        from jsonschema import Draft202012Validator, FormatChecker

        checker = FormatChecker(list(Draft202012Validator.FORMAT_CHECKER.checkers))
        for name, (func, raises) in Draft202012Validator.FORMAT_CHECKER.checkers.items():
            checker.checkers[name] = (func, raises)

        @checker.checks("uuid", raises=ValueError)
        def _uuid(instance):
            if not isinstance(instance, str):
                return True
            if _UUID_HEX.match(instance):
                return True
            uuid.UUID(instance)
            return all(instance[i] == "-" for i in (8, 13, 18, 23))

        _FORMATS = checker
    return _FORMATS


class Specs:
    def __init__(self, data_dir=None, cache_dir=None):
        self.data_dir = Path(data_dir) if data_dir else _crate_data_dir()
        self.cache_dir = Path(cache_dir or os.environ.get("TRICIRCLE_OPENAPI_CACHE")
                              or Path.home() / ".cache" / "tricircle" / "openapi")
        self.docs = {}
        self.routes = {}
        self.validators = {}

    def doc(self, service):
        if service not in self.docs:
            src = self.data_dir / SPECS[service]
            raw = src.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()[:16]
            cached = self.cache_dir / f"{service}-{digest}.json"
            if cached.exists():
                doc = json.loads(cached.read_text())
            else:
                import yaml

                loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
                doc = yaml.load(raw, Loader=loader)
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(doc))
                tmp.replace(cached)
            self.docs[service] = doc
            routes = []
            for template, item in doc.get("paths", {}).items():
                parts = [p for p in template.split("/") if p]
                rx = "^/" + "/".join("[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else re.escape(p) for p in parts) + "/?$"
                params = sum(1 for p in parts if p.startswith("{"))
                routes.append((params, -len(parts), template, re.compile(rx), item))
            routes.sort(key=lambda r: (r[0], r[1]))
            self.routes[service] = routes
        return self.docs[service]

    def match(self, service, path):
        self.doc(service)
        for _, _, template, rx, item in self.routes[service]:
            if rx.match(path):
                return template, item
        return None, None

    def validator(self, service, key, schema):
        if key not in self.validators:
            doc = self.doc(service)
            from jsonschema import Draft202012Validator

            root = {"allOf": [schema], "components": doc.get("components", {})}
            # Formats are asserted: the specs use them to tell alternatives
            # apart (accessIPv4: oneOf const "" | format ipv4).
            self.validators[key] = Draft202012Validator(root, format_checker=_format_checker())
        return self.validators[key]


# ---------------------------------------------------------------- checking


def _version_tuple(v):
    try:
        return tuple(int(x) for x in str(v).split("."))
    except ValueError:
        return None


def classify(path):
    """(service candidates, path as the specs spell it) for a request path."""
    for prefix, service in PODSIM_PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return [service], path[len(prefix):] or "/"
    if path.startswith("/v2.1"):
        return ["compute"], path
    if path.startswith("/v2.0"):
        return ["network"], path
    if path.startswith("/v2/") or path == "/v2":
        return ["image"], path
    if path.startswith("/v3"):
        return ["identity", "block-storage"], path
    return [], path


def _microversion(service, rec):
    h = rec["headers"]
    name = MV_SERVICE.get(service)
    if not name:
        return None
    for value in (h.get("openstack-api-version"),):
        if value:
            parts = value.split()
            if len(parts) == 2 and parts[0].lower() == name:
                return parts[1]
    if service == "compute" and h.get("x-openstack-nova-api-version"):
        return h["x-openstack-nova-api-version"]
    return DEFAULT_MV[service]


def _branches(doc, schema, mv, action):
    """The alternatives of a response schema that fit the microversion and the action."""
    alts = schema.get("oneOf") if isinstance(schema, dict) else None
    if not alts or not all("$ref" in a for a in alts):
        return [schema]
    comps = doc.get("components", {}).get("schemas", {})
    out = []
    for alt in alts:
        name = alt["$ref"].rsplit("/", 1)[-1]
        x = comps.get(name, {}).get("x-openstack") or {}
        if action and x.get("action-name") and x["action-name"] != action:
            continue
        if mv is not None:
            v = _version_tuple(mv)
            lo = _version_tuple(x.get("min-ver", "0.0"))
            hi = _version_tuple(x.get("max-ver", "999.999"))
            if v and lo and hi and not (lo <= v <= hi):
                continue
        out.append(alt)
    if action and not out:
        # No schema for this action: nothing is promised.
        return []
    return out or [schema]


def _json_path(parts):
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _leaves(error):
    """(field path, message) for the innermost cause of a validation error."""
    if error.validator in ("oneOf", "anyOf") and error.context:
        by_branch = {}
        for e in error.context:
            by_branch.setdefault(e.schema_path[0] if e.schema_path else 0, []).append(e)
        # The branch that came closest: fewest errors, then the deepest.
        best = min(by_branch.values(), key=lambda es: (len(es), -max(len(e.absolute_path) for e in es)))
        out = []
        for e in best:
            out.extend(_leaves(e))
        return out
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        schema = error.schema
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extras = [k for k in error.instance if k not in props and not any(re.search(p, k) for p in patterns)]
        return [(_json_path(path + [k]), "not in the spec (additionalProperties: false)") for k in extras]
    if error.validator == "required":
        m = re.match(r"'(.+)' is a required property", error.message)
        if m:
            return [(_json_path(path + [m.group(1)]), "required, missing")]
    msg = error.message
    if len(msg) > 200:
        msg = msg[:200] + "..."
    return [(_json_path(path), msg)]


def _field_matches(pattern, field):
    """`**`: anything; `[*]`: any index; `*`: one key."""
    rx = re.escape(pattern)
    rx = rx.replace(r"\*\*", "\x00").replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[]+")
    rx = "^" + rx.replace("\x00", ".*") + "$"
    return re.match(rx, field) is not None


class Checker:
    def __init__(self, specs, allowed):
        self.specs = specs
        self.allowed = allowed
        self.unmatched = set()
        self.checked = 0
        self.allowed_hits = set()

    def _allowed(self, service, op, field, message):
        for entry in self.allowed:
            if entry["service"] != service:
                continue
            if entry["operation"] not in ("*", op):
                continue
            if not _field_matches(entry["field"], field):
                continue
            if entry.get("message") and entry["message"] not in message:
                continue
            self.allowed_hits.add((service, op, entry["field"]))
            return True
        return False

    def check(self, rec):
        """Mismatches of one answer: a list of strings (empty when it conforms)."""
        parsed = urllib.parse.urlsplit(rec["url"])
        candidates, path = classify(parsed.path)
        if not candidates:
            return []
        try:
            body = json.loads(rec["body"]) if rec["body"] else None
        except ValueError:
            return [f"{rec['method']} {rec['url']} -> {rec['status']}: the JSON answer does not parse"]
        if body is None:
            return []
        for service in candidates:
            template, item = self.specs.match(service, path)
            if template is None and service == "block-storage":
                # /v3/{project_id}/volumes: the specs leave the project out.
                segs = path.split("/")
                if len(segs) > 3:
                    template, item = self.specs.match(service, "/".join(segs[:2] + segs[3:]))
            if template is not None:
                break
        else:
            self.unmatched.add((candidates[0], rec["method"], parsed.path))
            return []
        op = item.get(rec["method"].lower())
        if not isinstance(op, dict):
            self.unmatched.add((service, rec["method"], template))
            return []
        resp = op.get("responses", {}).get(str(rec["status"]))
        schema = (((resp or {}).get("content") or {}).get("application/json") or {}).get("schema")
        if schema is None:
            return []
        doc = self.specs.doc(service)
        mv = _microversion(service, rec)
        action = None
        if template.endswith("/action") and rec.get("request_body"):
            try:
                action = next(iter(json.loads(rec["request_body"])), None)
            except (ValueError, TypeError):
                action = None
        branches = _branches(doc, schema, mv, action)
        if not branches:
            return []
        opid = op.get("operationId", f"{rec['method']} {template}")
        self.checked += 1
        best = None
        for i, branch in enumerate(branches):
            key = (service, template, rec["method"], str(rec["status"]), mv, action, i)
            v = self.specs.validator(service, key, branch)
            leaves = []
            for e in v.iter_errors(body):
                leaves.extend(_leaves(e))
            leaves = [(f, m) for f, m in leaves if not self._allowed(service, opid, f, m)]
            if not leaves:
                return []
            if best is None or len(leaves) < len(best):
                best = leaves
        where = f"{rec['method']} {parsed.path} -> {rec['status']} ({service} {opid}, {template}"
        where += f", microversion {mv})" if mv else ")"
        return [f"{where}: {field}: {msg}" for field, msg in sorted(set(best))]


_checker = None


def checker():
    global _checker
    if _checker is None:
        from openapi_allowlist import ALLOWED

        _checker = Checker(Specs(), ALLOWED)
    return _checker


def mismatches(records):
    """Mismatches of the answers from our origins, one line each, deduplicated."""
    with _lock:
        origins = set(_origins)
    out = []
    for rec in records:
        if urllib.parse.urlsplit(rec["url"]).netloc not in origins:
            continue
        for line in checker().check(rec):
            if line not in out:
                out.append(line)
    return out

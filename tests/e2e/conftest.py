"""Fixtures for the end-to-end tests of the `tricircle` binary.

Environment (all optional):
  TRICIRCLE_BIN                 the binary (default: <repo>/target/debug/tricircle). If it was
                                set explicitly and is missing, tests fail; if the default is
                                missing, they skip (unless TRICIRCLE_E2E_REQUIRE_BIN=1).
  TRICIRCLE_TEST_KEYSTONE_*     a running real Keystone (tests/e2e/keystone.sh up DIR writes
                                DIR/env). If unset, a Keystone is started for the session with
                                tests/e2e/keystone.sh, unless TRICIRCLE_E2E_START_KEYSTONE=0.
  TRICIRCLE_REQUIRE_KEYSTONE=1  no Keystone is a failure, not a skip.
  TRICIRCLE_TEST_POSTGRES_URL   a PostgreSQL (scripts/lib/postgres.sh start DIR): the admin-API
                                tests then run against it too, each module on a fresh database.
  TRICIRCLE_REQUIRE_POSTGRES=1  no PostgreSQL is a failure, not a skip.

Every process is started with subprocess.Popen on free 127.0.0.1 ports and stopped by its pid
(SIGTERM, then SIGKILL to its own process group) when its fixture ends.
"""

import contextlib
import glob
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import openapi_check
import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
REQUEST_ID_RE = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HTTP_TIMEOUT = 15

# OpenAPI conformance (openapi_check.py): every JSON answer this process and the `openstack`
# CLIs it runs receive is recorded; after each test, the answers from Tricircle and podsim are
# validated against the specs of the openstack_types crate.
openapi_check.LOG_PATH = Path(tempfile.gettempdir()) / f"tricircle-e2e-openapi-{os.getpid()}.jsonl"
openapi_check.install_requests_hook()


@pytest.fixture(autouse=True)
def openapi_conformance():
    yield
    bad = openapi_check.mismatches(openapi_check.take_records())
    if bad:
        pytest.fail(
            f"{len(bad)} answer(s) do not conform to the OpenAPI specs of openstack_types "
            "(a wrong spec goes into tests/e2e/openapi_allowlist.py with a reason):\n  " + "\n  ".join(bad),
            pytrace=False,
        )


def pytest_sessionfinish(session, exitstatus):
    with contextlib.suppress(OSError):
        openapi_check.LOG_PATH.unlink()
    c = openapi_check._checker
    if c is not None:
        print(f"\nOpenAPI: {c.checked} answer(s) validated against openstack_types' specs")
        if c.unmatched:
            print("OpenAPI: answers on paths no spec has (not checked): "
                  + ", ".join(f"{svc} {m} {p}" for svc, m, p in sorted(c.unmatched)[:20]))


# Processes started by fixtures that are still running, for log tails on failures.
_RUNNING = []
# Every Popen the suite started; whatever is still alive at the end is stopped (a safety net
# for fixtures that could not tear down).
_PROCS = []


def popen(*args, **kw):
    proc = subprocess.Popen(*args, **kw)
    _PROCS.append(proc)
    return proc


def pytest_unconfigure(config):
    for proc in _PROCS:
        if proc.poll() is None:
            stop_process(proc, timeout=5)


def env_flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(message, require_var):
    if env_flag(require_var):
        pytest.fail(f"{message} (and {require_var}=1)", pytrace=False)
    pytest.skip(message)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count, avoid=()):
    """A base port such that base..base+count-1 are all free on 127.0.0.1."""
    for _ in range(200):
        base = free_port()
        if base + count >= 65535:
            continue
        block = range(base, base + count)
        if any(p in avoid for p in block):
            continue
        if all(port_is_free(p) for p in block):
            return base
    raise RuntimeError(f"no block of {count} free ports found")


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()[-20000:]
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def pid_alive(pid):
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Stop a Popen we started: `sig` to its pid, then SIGKILL to its own process group."""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    # start_new_session=True made proc.pid the leader of a group of its own.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    return proc.returncode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _RUNNING:
        for name, log in _RUNNING:
            rep.sections.append((f"{name} log (tail of {log})", tail(log)))


# --------------------------------------------------------------------------- the binary


@pytest.fixture(scope="session")
def tricircle_bin():
    explicit = os.environ.get("TRICIRCLE_BIN")
    path = Path(explicit) if explicit else REPO_ROOT / "target" / "debug" / "tricircle"
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    if not (path.is_file() and os.access(path, os.X_OK)):
        msg = f"tricircle binary not found at {path} (cargo build -p tricircle, or set TRICIRCLE_BIN)"
        if explicit or env_flag("TRICIRCLE_E2E_REQUIRE_BIN"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return path


# --------------------------------------------------------------------------- Keystone


@dataclass
class Creds:
    user: str
    password: str
    project: str


@dataclass
class Keystone:
    url: str  # .../v3
    admin: Creds
    service: Creds
    demo: Creds

    def auth(self, creds):
        """Password auth, project scoped. Returns (token, token body)."""
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": creds.user, "domain": {"name": "Default"}, "password": creds.password}
                    },
                },
                "scope": {"project": {"name": creds.project, "domain": {"name": "Default"}}},
            }
        }
        r = requests.post(f"{self.url}/auth/tokens", json=body, timeout=HTTP_TIMEOUT)
        assert r.status_code == 201, f"Keystone auth as {creds.user}: {r.status_code} {r.text[:300]}"
        return r.headers["X-Subject-Token"], r.json()["token"]

    def token(self, creds):
        return self.auth(creds)[0]

    def revoke(self, token, admin_token):
        r = requests.delete(
            f"{self.url}/auth/tokens",
            headers={"X-Auth-Token": admin_token, "X-Subject-Token": token},
            timeout=HTTP_TIMEOUT,
        )
        assert r.status_code == 204, f"Keystone revoke: {r.status_code} {r.text[:300]}"

    def validate(self, token, admin_token):
        r = requests.get(
            f"{self.url}/auth/tokens",
            headers={"X-Auth-Token": admin_token, "X-Subject-Token": token},
            timeout=HTTP_TIMEOUT,
        )
        return r.status_code


def _keystone_from_env(env):
    def creds(kind):
        p = f"TRICIRCLE_TEST_KEYSTONE_{kind}_"
        return Creds(env[p + "USER"], env[p + "PASSWORD"], env[p + "PROJECT"])

    return Keystone(env["TRICIRCLE_TEST_KEYSTONE_URL"].rstrip("/"), creds("ADMIN"), creds("SERVICE"), creds("DEMO"))


def _parse_exports(text):
    env = {}
    for line in text.splitlines():
        m = re.match(r"^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if m:
            value = shlex.split(m.group(2))
            env[m.group(1)] = value[0] if value else ""
    return env


@pytest.fixture(scope="session")
def keystone():
    """The real Keystone: from TRICIRCLE_TEST_KEYSTONE_*, else started here for the session."""
    if os.environ.get("TRICIRCLE_TEST_KEYSTONE_URL"):
        yield _keystone_from_env(os.environ)
        return
    if os.environ.get("TRICIRCLE_E2E_START_KEYSTONE", "1") == "0":
        skip_or_fail("no Keystone: TRICIRCLE_TEST_KEYSTONE_URL is unset", "TRICIRCLE_REQUIRE_KEYSTONE")
    # Start one with tests/e2e/keystone.sh, using the venv we run in.
    state = tempfile.mkdtemp(prefix="tricircle-e2e-keystone.")
    env = dict(os.environ, TRICIRCLE_E2E_VENV=os.environ.get("TRICIRCLE_E2E_VENV", sys.prefix))
    script = E2E_DIR / "keystone.sh"
    r = subprocess.run(
        ["bash", str(script), "up", state],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
    )
    if r.returncode != 0:
        subprocess.run(["bash", str(script), "down", state], env=env, timeout=60)
        skip_or_fail(f"could not start Keystone: {r.stderr[-2000:]}", "TRICIRCLE_REQUIRE_KEYSTONE")
    try:
        yield _keystone_from_env(_parse_exports(r.stdout))
    finally:
        subprocess.run(["bash", str(script), "down", state], env=env, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def admin_token(keystone):
    return keystone.token(keystone.admin)


@pytest.fixture(scope="session")
def demo_token(keystone):
    return keystone.token(keystone.demo)


# --------------------------------------------------------------------------- databases


def _psql():
    found = shutil.which("psql")
    if found:
        return found
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    return cands[-1] if cands else None


class Databases:
    """Hands out fresh database URLs: a sqlite file, or a new PostgreSQL database."""

    def __init__(self, tmp_root):
        self.tmp_root = Path(tmp_root)
        self._pg_created = []

    def sqlite(self):
        path = self.tmp_root / f"tricircle-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}"  # absolute path: sqlite:////tmp/...

    def postgresql(self):
        base = os.environ.get("TRICIRCLE_TEST_POSTGRES_URL")
        if not base:
            skip_or_fail("no PostgreSQL: TRICIRCLE_TEST_POSTGRES_URL is unset", "TRICIRCLE_REQUIRE_POSTGRES")
        psql = _psql()
        if not psql:
            skip_or_fail("no psql client to create a fresh database", "TRICIRCLE_REQUIRE_POSTGRES")
        name = f"tricircle_e2e_{uuid.uuid4().hex[:10]}"
        r = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", base, "-c", f"CREATE DATABASE {name}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, f"CREATE DATABASE {name}: {r.stderr}"
        self._pg_created.append((psql, base, name))
        return urllib.parse.urlsplit(base)._replace(path="/" + name).geturl()

    def get(self, backend):
        return self.sqlite() if backend == "sqlite" else self.postgresql()

    def cleanup(self):
        for psql, base, name in self._pg_created:
            subprocess.run(
                [psql, "-X", "-q", base, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                capture_output=True,
                timeout=60,
            )
        self._pg_created.clear()


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    dbs.cleanup()


# --------------------------------------------------------------------------- tricircle serve


def write_config(path, *, port, db_url, auth_strategy="keystone", keystone=None, token_cache_time=2, auto_migrate=True,
                 compute_port=0, volume_port=0, network_port=0):
    lines = [
        "[DEFAULT]",
        "bind_host = 127.0.0.1",
        f"admin_port = {port}",
        f"compute_port = {compute_port}",
        f"volume_port = {volume_port}",
        f"network_port = {network_port}",
        f"auth_strategy = {auth_strategy}",
        "",
        "[database]",
        f"connection = {db_url}",
        f"auto_migrate = {'true' if auto_migrate else 'false'}",
        "",
    ]
    if keystone is not None:
        lines += [
            "[keystone_authtoken]",
            f"www_authenticate_uri = {keystone.url}",
            f"auth_url = {keystone.url}",
            f"username = {keystone.service.user}",
            f"password = {keystone.service.password}",
            f"project_name = {keystone.service.project}",
            "user_domain_name = Default",
            "project_domain_name = Default",
            f"token_cache_time = {token_cache_time}",
            "",
        ]
    lines += ["[client]", "endpoint_interface = public", ""]
    Path(path).write_text("\n".join(lines))


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    config: Path
    log: Path
    url: str = field(init=False)

    def __post_init__(self):
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def api(self):
        return self.url + "/v1.0"


def start_serve(
    tricircle_bin,
    workdir,
    *,
    db_url,
    auth_strategy="keystone",
    keystone=None,
    token_cache_time=2,
    auto_migrate=True,
    ready_timeout=60,
    compute_port=0,
    volume_port=0,
    network_port=0,
):
    """`tricircle --config FILE serve` on a free port; returns a Server once /healthcheck is 200."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    last_err = None
    for _attempt in range(3):
        port = free_port()
        config = workdir / f"tricircle-{port}.conf"
        write_config(
            config,
            port=port,
            db_url=db_url,
            auth_strategy=auth_strategy,
            keystone=keystone,
            token_cache_time=token_cache_time,
            auto_migrate=auto_migrate,
            compute_port=compute_port,
            volume_port=volume_port,
            network_port=network_port,
        )
        log = workdir / f"serve-{port}.log"
        with open(log, "wb") as logf:
            proc = popen(
                [str(tricircle_bin), "--config", str(config), "serve"],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
                env=dict(os.environ, RUST_BACKTRACE="1"),
            )
        server = Server(proc, port, config, log)
        for p in (port, compute_port, volume_port, network_port):
            if p:
                openapi_check.check_origin(f"127.0.0.1:{p}")
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                r = requests.get(server.url + "/healthcheck", timeout=2)
                if r.status_code == 200:
                    _RUNNING.append((f"tricircle serve :{port}", log))
                    return server
            except requests.RequestException:
                pass
            time.sleep(0.1)
        rc = proc.poll()
        stop_process(proc)
        what = f"exited with {rc}" if rc is not None else f"did not answer /healthcheck in {ready_timeout} s"
        last_err = f"`tricircle --config {config} serve` {what}\n--- {log} ---\n{tail(log)}"
        if "in use" not in tail(log).lower():
            break
    pytest.fail(last_err, pytrace=False)


def stop_serve(server):
    with contextlib.suppress(ValueError):
        _RUNNING.remove((f"tricircle serve :{server.port}", server.log))
    return stop_process(server.proc)


@pytest.fixture
def serve(tricircle_bin, tmp_path):
    """Factory: serve(db_url=..., auth_strategy=..., keystone=...) -> Server; all stopped at teardown."""
    started = []

    def _start(**kw):
        s = start_serve(tricircle_bin, tmp_path / f"serve{len(started)}", **kw)
        started.append(s)
        return s

    yield _start
    for s in started:
        stop_serve(s)

"""`tricircle demo`: simulated identity + pods + admin API, driven by the REAL openstack CLI."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import _RUNNING, _parse_exports, free_port, free_port_block, popen, stop_process, tail
from helpers import assert_error, call, describe, json_body

pytestmark = pytest.mark.demo

READY_LINE = "Tricircle demo is ready"
READY_TIMEOUT = 90
REQUIRED_EXPORTS = [
    "OS_AUTH_URL",
    "OS_USERNAME",
    "OS_PASSWORD",
    "OS_PROJECT_NAME",
    "OS_USER_DOMAIN_NAME",
    "OS_PROJECT_DOMAIN_NAME",
    "OS_IDENTITY_API_VERSION",
    "OS_REGION_NAME",
    "TRICIRCLE_ADMIN_URL",
]


@dataclass
class Demo:
    proc: subprocess.Popen
    log: Path
    identity_port: int
    admin_port: int
    pod_base_port: int
    lines: list = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    env: dict = field(default_factory=dict)

    def output(self):
        return "\n".join(self.lines)


def _pump(demo):
    """Read the demo's merged stdout/stderr line by line into demo.lines and its log file."""
    with open(demo.log, "w") as logf:
        for raw in demo.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            demo.lines.append(line)
            logf.write(line + "\n")
            logf.flush()
            if READY_LINE in line:
                demo.ready.set()


def start_demo(tricircle_bin, workdir):
    workdir = Path(workdir)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    identity_port = free_port()
    admin_port = free_port()
    while admin_port == identity_port:
        admin_port = free_port()
    pod_base_port = free_port_block(10, avoid={identity_port, admin_port})
    cmd = [
        str(tricircle_bin),
        "demo",
        "--identity-port",
        str(identity_port),
        "--admin-port",
        str(admin_port),
        "--compute-port",
        "0",
        "--volume-port",
        "0",
        "--network-port",
        "0",
        "--pod-base-port",
        str(pod_base_port),
        "--data-dir",
        str(data_dir),
    ]
    proc = popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
        env=dict(os.environ, RUST_BACKTRACE="1"),
    )
    demo = Demo(proc, workdir / "demo.log", identity_port, admin_port, pod_base_port)
    threading.Thread(target=_pump, args=(demo,), daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline and not demo.ready.is_set():
        if proc.poll() is not None:
            time.sleep(0.2)  # let the pump drain
            break
        demo.ready.wait(0.2)
    if not demo.ready.is_set():
        rc = proc.poll()
        stop_process(proc)
        pytest.fail(
            f"`{' '.join(cmd)}` "
            + (f"exited with {rc} before printing" if rc is not None else f"did not print in {READY_TIMEOUT} s")
            + f" {READY_LINE!r}; output:\n{demo.output()[-4000:]}",
            pytrace=False,
        )
    demo.env = _parse_exports(demo.output())
    _RUNNING.append(("tricircle demo", demo.log))
    return demo


def stop_demo(demo, sig=signal.SIGTERM, timeout=10):
    rc = stop_process(demo.proc, sig=sig, timeout=timeout)
    if ("tricircle demo", demo.log) in _RUNNING:
        _RUNNING.remove(("tricircle demo", demo.log))
    return rc


@pytest.fixture(scope="module")
def demo(tricircle_bin, tmp_path_factory):
    d = start_demo(tricircle_bin, tmp_path_factory.mktemp("demo"))
    yield d
    stop_demo(d)


def openstack_exe():
    exe = Path(sys.executable).parent / "openstack"
    if exe.exists():
        return str(exe)
    import shutil

    found = shutil.which("openstack")
    if not found:
        pytest.fail("the openstack CLI is not installed (run with the e2e venv's python)", pytrace=False)
    return found


def openstack(demo, *args, timeout=120):
    """Run the real openstack CLI with exactly the environment the demo printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(demo.env)
    r = subprocess.run(
        [openstack_exe(), *args], env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert r.returncode == 0, (
        f"openstack {' '.join(args)} -> rc {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr[-3000:]}\n"
        f"demo output tail:\n{demo.output()[-2000:]}"
    )
    return r.stdout


def test_demo_prints_openrc(demo):
    missing = [k for k in REQUIRED_EXPORTS if not demo.env.get(k)]
    assert not missing, f"missing exports {missing}; output:\n{demo.output()[-3000:]}"
    assert demo.env["OS_AUTH_URL"].startswith(f"http://127.0.0.1:{demo.identity_port}"), demo.env
    assert demo.env["TRICIRCLE_ADMIN_URL"].startswith(f"http://127.0.0.1:{demo.admin_port}"), demo.env
    assert demo.env["OS_IDENTITY_API_VERSION"] == "3", demo.env


def test_openstack_token_issue(demo):
    token = json.loads(openstack(demo, "token", "issue", "-f", "json"))
    for key in ("id", "expires", "project_id", "user_id"):
        assert token.get(key), f"token issue output lacks {key}: {token}"


def test_openstack_endpoint_list_has_pods(demo):
    out = openstack(demo, "endpoint", "list", "-f", "value", "-c", "Region", "-c", "Service Type")
    regions = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"Pod1", "Pod2"} <= regions, out


def test_openstack_region_list(demo):
    out = openstack(demo, "region", "list", "-f", "value", "-c", "Region")
    regions = {line.strip() for line in out.splitlines() if line.strip()}
    assert {"Pod1", "Pod2"} <= regions, out


def test_admin_api_lists_three_pods_with_cli_token(demo):
    token = openstack(demo, "token", "issue", "-f", "value", "-c", "id").strip()
    assert token and "\n" not in token
    r = call("GET", demo.env["TRICIRCLE_ADMIN_URL"].rstrip("/") + "/pods", token)
    assert r.status_code == 200, describe(r)
    pods = json_body(r)["pods"]
    by_name = {p["pod_name"]: p for p in pods}
    assert len(pods) == 3 and set(by_name) == {"RegionOne", "Pod1", "Pod2"}, pods
    assert not by_name["RegionOne"].get("az_name"), pods
    assert by_name["Pod1"]["az_name"] == "az1", pods
    assert by_name["Pod2"]["az_name"] == "az2", pods


def test_admin_api_without_token_is_401(demo):
    r = call("GET", demo.env["TRICIRCLE_ADMIN_URL"].rstrip("/") + "/pods")
    assert_error(r, 401)
    assert r.headers.get("WWW-Authenticate", "").startswith("Keystone uri="), describe(r)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_exits_cleanly_on_signal(tricircle_bin, tmp_path, sig):
    d = start_demo(tricircle_bin, tmp_path)
    try:
        os.kill(d.proc.pid, sig)
        try:
            rc = d.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"tricircle demo still running 10 s after {sig.name}; output:\n{tail(d.log)}")
        assert rc == 0, f"tricircle demo exited {rc} after {sig.name}; output:\n{tail(d.log)}"
    finally:
        stop_demo(d)

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

import openapi_check
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


def _distinct_free_ports(n):
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def start_demo(tricircle_bin, workdir, config=None, extra_args=()):
    """`tricircle [--config CONFIG] demo` on free ports, its logs in its data dir (the default)."""
    workdir = Path(workdir)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    identity_port, admin_port, compute_port, volume_port, network_port = _distinct_free_ports(5)
    pod_base_port = free_port_block(
        10, avoid={identity_port, admin_port, compute_port, volume_port, network_port}
    )
    for p in (identity_port, admin_port, compute_port, volume_port, network_port, pod_base_port, pod_base_port + 1):
        openapi_check.check_origin(f"127.0.0.1:{p}")
    cmd = [str(tricircle_bin)]
    if config is not None:
        cmd += ["--config", str(config)]
    cmd += [
        "demo",
        "--identity-port",
        str(identity_port),
        "--admin-port",
        str(admin_port),
        "--compute-port",
        str(compute_port),
        "--volume-port",
        str(volume_port),
        "--network-port",
        str(network_port),
        "--pod-base-port",
        str(pod_base_port),
        "--data-dir",
        str(data_dir),
        *extra_args,
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
    # Its logs go to a file in the data dir; shown with the output on failures.
    _RUNNING.append(("tricircle demo log", data_dir / "tricircle-demo.log"))
    return demo


def stop_demo(demo, sig=signal.SIGTERM, timeout=10):
    rc = stop_process(demo.proc, sig=sig, timeout=timeout)
    for entry in list(_RUNNING):
        if entry in (("tricircle demo", demo.log), ("tricircle demo log", demo.log.parent / "data" / "tricircle-demo.log")):
            _RUNNING.remove(entry)
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


def openstack(demo, *args, timeout=120, region=None):
    """Run the real openstack CLI with exactly the environment the demo printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(demo.env)
    if region:
        env["OS_REGION_NAME"] = region
    env.update(openapi_check.subprocess_env())
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


def test_demo_logs_go_to_a_file(demo):
    """The terminal the exports are copied from shows no request logs; the file named there has them."""
    out = demo.output()
    assert "Logs (a line per request): " in out, out[-3000:]
    assert not [line for line in out.splitlines() if " INFO " in line or " WARN " in line], out[-3000:]
    log = demo.log.parent / "data" / "tricircle-demo.log"
    assert str(log) in out, out[-3000:]
    token = openstack(demo, "token", "issue", "-f", "value", "-c", "id").strip()
    r = call("GET", demo.env["TRICIRCLE_ADMIN_URL"].rstrip("/") + "/pods", token)
    assert r.status_code == 200, describe(r)
    rid = r.headers.get("X-Openstack-Request-Id") or r.headers.get("X-Request-Id")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or rid not in log.read_text()):
        time.sleep(0.2)
    assert log.exists() and rid in log.read_text(), f"request {rid} not in {log}:\n{tail(log)}"


SEED_NETWORK_CONFIG = """\
[DEFAULT]
debug = false

[network]
tenant_network_types = vlan
network_vlan_ranges = bridge:2001:2002,extern:3001:3001,physnet9:100:100
"""


def test_demo_honours_config_network_settings(tricircle_bin, tmp_path):
    """--config F applies F's [network] to the demo's gateway: tenant networks are VLANs on
    the ranges F gives, and the seed's provider network on `extern` is created as written."""
    conf = tmp_path / "demo.conf"
    conf.write_text(SEED_NETWORK_CONFIG)
    d = start_demo(tricircle_bin, tmp_path / "run", config=conf)
    try:
        out = d.output()
        assert f"# Configuration: {conf}" in out, out[-3000:]
        # The seed's walkthrough: a VLAN provider network on physnet extern.
        ext = json.loads(openstack(
            d, "network", "create", "--provider-network-type", "vlan", "--provider-physical-network", "extern",
            "--external", "ext-net", "-f", "json",
        ))
        assert ext["provider:network_type"] == "vlan", ext
        assert ext["provider:physical_network"] == "extern", ext
        assert ext["provider:segmentation_id"] == 3001, ext  # F's range for extern: 3001 only
        bridge = json.loads(openstack(
            d, "network", "create", "--provider-network-type", "vlan", "--provider-physical-network", "bridge",
            "--provider-segment", "2002", "net-bridge", "-f", "json",
        ))
        assert bridge["provider:segmentation_id"] == 2002, bridge
        # F says tenant networks are VLANs: a plain network gets one from F's ranges.
        plain = json.loads(openstack(d, "network", "create", "net1", "-f", "json"))
        assert plain["provider:network_type"] == "vlan", plain
        assert (plain["provider:physical_network"], plain["provider:segmentation_id"]) in {
            ("bridge", 2001), ("bridge", 2002), ("physnet9", 100)}, plain
        # A physical network F does not name is refused, as Neutron refuses it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(d.env)
        r = subprocess.run(
            [openstack_exe(), "network", "create", "--provider-network-type", "vlan",
             "--provider-physical-network", "nowhere", "net-x"],
            env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        )
        assert r.returncode != 0 and "nowhere" in r.stderr, (r.stdout, r.stderr)
        # The extern network reaches a pod as written: a subnet and a port on it in az2's pod.
        openstack(d, "subnet", "create", "--network", "ext-net", "--subnet-range", "163.3.124.0/24",
                  "--no-dhcp", "ext-subnet")
        vm = json.loads(openstack(
            d, "server", "create", "--flavor", _tiny_flavor(d), "--image", "cirros-0.6.2-x86_64-disk",
            "--network", "ext-net", "--availability-zone", "az2", "--wait", "vm-ext", "-f", "json", timeout=240,
        ))
        assert vm["status"] == "ACTIVE", vm
        copies = [n for n in json.loads(openstack(d, "network", "list", "-f", "json", region="Pod2"))
                  if n["Name"].startswith(ext["id"])]
        assert len(copies) == 1, copies
        pod_net = json.loads(openstack(d, "network", "show", copies[0]["ID"], "-f", "json", region="Pod2"))
        assert pod_net["provider:network_type"] == "vlan", pod_net
        assert pod_net["provider:physical_network"] == "extern", pod_net
        assert pod_net["provider:segmentation_id"] == 3001, pod_net
    finally:
        stop_demo(d)


def _tiny_flavor(d):
    name = "m1.tiny"
    openstack(d, "flavor", "create", "--vcpus", "1", "--ram", "512", "--disk", "1", name)
    return name


@pytest.mark.parametrize("content", [None, "[DEFAULT\nbroken", "[network]\nnetwork_vlan_ranges = extern:5000:6000\n",
                                     "[network]\nno_such_option = 1\n"],
                         ids=["missing", "not-ini", "bad-value", "unknown-option"])
def test_demo_refuses_a_bad_config(tricircle_bin, tmp_path, content):
    """A --config file that is missing, unreadable or invalid stops the demo at once, non-zero,
    saying which file and what is wrong; nothing starts listening."""
    conf = tmp_path / "demo.conf"
    if content is not None:
        conf.write_text(content)
    identity_port = free_port()
    r = subprocess.run(
        [str(tricircle_bin), "--config", str(conf), "demo", "--identity-port", str(identity_port),
         "--admin-port", "0", "--compute-port", "0", "--volume-port", "0", "--network-port", "0",
         "--pod-base-port", "0"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "error" in r.stderr and (str(conf) in r.stderr or "network" in r.stderr), r.stderr
    assert "Tricircle demo is ready" not in r.stdout, r.stdout
    assert "export OS_" not in r.stdout, r.stdout

#!/usr/bin/env python3
"""Overload benchmark of the Tricircle gateway (driven by bench/overload.sh).

Starts `tricircle podsim` (a Keystone and two pods) and, for every run, a
fresh `tricircle serve` in its own process, so that the gateway's memory and
file descriptors are measured alone. Seeds servers in both pods, then for
each concurrency level loads the gateway with wrk: most connections on the
cross-pod list `GET /v2.1/servers/detail`, the rest on a routed
`GET /v2.1/servers/{id}`, all with a valid token, for a fixed time. Samples
the gateway's VmRSS / VmHWM / open fds from /proc before, during and after
the load; counts answers by status, partial lists (200 with
X-Tricircle-Skipped-Pods) and socket errors; writes the figures into
bench/REPORT.md between the overload markers (or prints them with --smoke).

Standard library only. Every process it starts is stopped by its pid.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
WRK_SCRIPT = os.path.join(BENCH, "wrk", "count.lua")
BEGIN = "<!-- overload:begin (written by bench/overload.sh; edits here are lost) -->"
END = "<!-- overload:end -->"
# File descriptors for wrk, the gateway and podsim: 5000 client connections
# on each side of loopback, plus the gateway's own connections to pods.
NOFILE = 65536


def log(msg):
    print(f"[overload {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class HarnessError(Exception):
    """The harness itself could not do its work (not a slow result)."""


# ------------------------------------------------------------------ processes


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            want = hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


class Proc:
    """A child process with its output in files; stopped by its pid."""

    running = []

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.out_path = os.path.join(workdir, f"{name}.out")
        self.err_path = os.path.join(workdir, f"{name}.log")
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=self.err,
            env=env,
            preexec_fn=raise_nofile,
        )
        self.pid = self.popen.pid
        Proc.running.append(self)

    def wait_for_line(self, path, pattern, timeout):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise HarnessError(
                    f"{self.name} exited with {self.popen.returncode} before it was ready; "
                    f"its log:\n{tail(self.err_path)}"
                )
            with open(path, "r", errors="replace") as f:
                for line in f:
                    m = rx.search(line)
                    if m:
                        return line, m
            time.sleep(0.1)
        raise HarnessError(f"{self.name} not ready after {timeout} s; its log:\n{tail(self.err_path)}")

    def stop(self, grace=15):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                log(f"{self.name} (pid {self.pid}) ignored SIGTERM for {grace} s: SIGKILL")
                self.popen.kill()
                self.popen.wait()
        self.out.close()
        self.err.close()
        if self in Proc.running:
            Proc.running.remove(self)

    @classmethod
    def stop_all(cls):
        for p in list(reversed(cls.running)):
            p.stop(grace=5)


def tail(path, n=30):
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# ------------------------------------------------------------------ HTTP


def http(method, url, token=None, body=None, headers=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, dict(e.headers), parsed


def must(what, status, body, ok=(200, 201, 202, 204)):
    if status not in ok:
        raise HarnessError(f"{what}: HTTP {status}: {body}")
    return body


# ------------------------------------------------------------------ /proc


def proc_status(pid):
    """VmRSS, VmHWM (kB) and threads of a process, and its open fds."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
                elif key == "Threads":
                    out[key] = int(value)
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return None
    return out


def cpu_seconds(pid):
    """User + system CPU time a process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields 14 and 15 of stat(5); the split above starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_with_cpu(p, timeout):
    """Waits for a child; returns its exit status and the CPU seconds it used."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return p.returncode, usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            p.kill()
            raise HarnessError(f"wrk did not end within {timeout} s")
        time.sleep(0.05)


def fd_kinds(pid):
    """Open fds of a process by kind: sockets, the database's files, others."""
    kinds = {"socket": 0, "database": 0, "other": 0}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return kinds
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:"):
            kinds["socket"] += 1
        elif "tricircle.db" in target:
            kinds["database"] += 1
        else:
            kinds["other"] += 1
    return kinds


class Sampler(threading.Thread):
    """Samples a process every `interval` seconds until stopped."""

    def __init__(self, pid, interval):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples = []  # (monotonic time, status dict)
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            s = proc_status(self.pid)
            if s:
                self.samples.append((time.monotonic(), s))
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.join()

    def between(self, t0, t1):
        return [s for t, s in self.samples if t0 <= t <= t1]


# ------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="tricircle-overload.")
        self.password = secrets.token_hex(12)
        self.env = dict(os.environ)
        self.env["TRICIRCLE_DEMO_PASSWORD"] = self.password
        self.env.pop("TRICIRCLE_CONFIG", None)
        self.podsim = None
        self.run_index = 0

    # -------------------------------------------------------------- set-up
    def start_podsim(self):
        env = dict(self.env, RUST_LOG="warn")
        self.podsim = Proc(
            "podsim",
            [self.args.bin, "podsim", "--identity-port", "0", "--pod-base-port", "0",
             "--pods", "Pod1,Pod2"],
            self.work,
            env,
        )
        self.podsim.wait_for_line(self.podsim.out_path, r"podsim is ready", 60)
        with open(self.podsim.out_path) as f:
            m = re.search(r"OS_AUTH_URL=(\S+)", f.read())
        if not m:
            raise HarnessError("podsim did not print OS_AUTH_URL")
        self.auth_url = m.group(1)
        log(f"podsim pid {self.podsim.pid}, identity {self.auth_url}")

    def token(self):
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": self.password}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
        status, headers, doc = http("POST", f"{self.auth_url}/auth/tokens", body=body)
        must("admin token", status, doc)
        token = {k.lower(): v for k, v in headers.items()}["x-subject-token"]
        return token, doc["token"]

    def write_config(self):
        path = os.path.join(self.work, "tricircle.conf")
        db = os.path.join(self.work, "tricircle.db")
        extra = ""
        for item in self.args.set or []:
            section, _, rest = item.partition(".")
            extra += f"[{section}]\n{rest}\n"
        with open(path, "w") as f:
            f.write(
                "[DEFAULT]\nauth_strategy = keystone\nlog_format = json\nbind_host = 127.0.0.1\n"
                "admin_port = 0\ncompute_port = 0\nvolume_port = 0\nnetwork_port = 0\n"
                f"[database]\nconnection = sqlite://{db}\nauto_migrate = true\n"
                f"[keystone_authtoken]\nauth_url = {self.auth_url}\nusername = admin\n"
                f"password = {self.password}\nproject_name = admin\n"
                "user_domain_name = Default\nproject_domain_name = Default\n"
                "[jobs]\nworkers = 1\n"
                "[quota]\ninstances = 100000\ncores = 100000\nram = 100000000\n" + extra
            )
        self.config = path

    def start_gateway(self):
        self.run_index += 1
        env = dict(self.env, RUST_LOG=f"{self.args.gateway_log},tricircle::serve=info")
        gw = Proc(f"gateway-{self.run_index}", [self.args.bin, "--config", self.config, "serve"],
                  self.work, env)
        line, _ = gw.wait_for_line(gw.err_path, r"tricircle is serving", 60)
        fields = json.loads(line)["fields"]
        gw.admin = f"http://{fields['admin']}/v1.0"
        gw.compute = f"http://{fields['compute']}/v2.1"
        return gw

    def seed(self, gw):
        token, doc = self.token()
        status, _, body = http("GET", f"{gw.admin}/pods", token)
        have = {p["pod_name"] for p in must("list pods", status, body)["pods"]}
        for pod in ({"pod_name": "RegionOne"},
                    {"pod_name": "Pod1", "az_name": "az1", "pod_az_name": "az1"},
                    {"pod_name": "Pod2", "az_name": "az2", "pod_az_name": "az2"}):
            if pod["pod_name"] not in have:
                status, _, body = http("POST", f"{gw.admin}/pods", token, {"pod": pod})
                must(f"create pod {pod['pod_name']}", status, body)
        status, _, body = http("POST", f"{gw.compute}/flavors", token, {"flavor": {
            "id": "bench", "name": "bench", "vcpus": 1, "ram": 64, "disk": 1}})
        must("create flavor", status, body, ok=(200, 409))
        def endpoint(service_type, region):
            return next(
                e["url"] for s in doc["catalog"] if s["type"] == service_type
                for e in s["endpoints"] if e["region"] == region and e["interface"] == "public")

        # The pods' own quotas (10 instances in Nova's defaults) must not
        # stop the seed.
        project = doc["project"]["id"]
        for pod in ("Pod1", "Pod2"):
            status, _, body = http(
                "PUT", f"{endpoint('compute', pod)}/os-quota-sets/{project}", token,
                {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
            must(f"quota in {pod}", status, body)
        image_url = endpoint("image", "Pod1")
        status, _, body = http("GET", f"{image_url}/v2/images", token)
        image = must("list images", status, body)["images"][0]["id"]
        ids = []
        for az in ("az1", "az2"):
            for i in range(self.args.servers):
                status, _, body = http(
                    "POST", f"{gw.compute}/servers", token,
                    {"server": {"name": f"bench-{az}-{i}", "flavorRef": "bench", "imageRef": image,
                                "networks": "none", "availability_zone": az}},
                    headers={"OpenStack-API-Version": "compute 2.37"})
                ids.append(must(f"boot in {az}", status, body)["server"]["id"])
        status, _, body = http("GET", f"{gw.compute}/servers/detail", token)
        got = len(must("list servers", status, body)["servers"])
        if got != len(ids):
            raise HarnessError(f"seeded {len(ids)} servers but the list shows {got}")
        self.server_id = ids[0]
        log(f"seeded {len(ids)} servers in Pod1 and Pod2")

    # -------------------------------------------------------------- one run
    def wrk(self, url, connections, token, name):
        threads = max(1, min(self.args.wrk_threads, connections))
        argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{self.args.duration}s",
                "--timeout", f"{self.args.client_timeout}s", "-s", WRK_SCRIPT, url]
        out = open(os.path.join(self.work, f"wrk-{self.run_index}-{name}.out"), "w+")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=dict(self.env, TOKEN=token), preexec_fn=raise_nofile)
        return argv, p, out

    def one_run(self, level, rep):
        a = self.args
        gw = self.start_gateway()
        jobs = []
        try:
            token, _ = self.token()
            # Warm up: the token cache, the pod catalog, pooled connections.
            for _ in range(10):
                status, _, body = http("GET", f"{gw.compute}/servers/detail", token)
                must("warm-up list", status, body)
                status, _, body = http("GET", f"{gw.compute}/servers/{self.server_id}", token)
                must("warm-up show", status, body)
            time.sleep(a.settle)
            idle = proc_status(gw.pid)
            idle_fds = fd_kinds(gw.pid)
            sampler = Sampler(gw.pid, a.sample_interval)
            sampler.start()
            show_conns = int(level * a.show_share)
            list_conns = level - show_conns
            cpu0 = (cpu_seconds(gw.pid), cpu_seconds(self.podsim.pid))
            t_load = time.monotonic()
            jobs.append(("list", *self.wrk(f"{gw.compute}/servers/detail", list_conns, token,
                                           "list")))
            if show_conns > 0:
                jobs.append(("show", *self.wrk(f"{gw.compute}/servers/{self.server_id}",
                                               show_conns, token, "show")))
            results = {}
            wrk_cpu = 0.0
            for name, argv, p, out in jobs:
                rc, used = wait_with_cpu(p, a.duration + a.client_timeout + 60)
                wrk_cpu += used
                out.seek(0)
                text = out.read()
                out.close()
                m = re.search(r"^WRK_RESULT (.*)$", text, re.M)
                if rc != 0 or not m:
                    raise HarnessError(f"wrk ({' '.join(argv)}) exited {rc}:\n{text[-2000:]}")
                r = json.loads(m.group(1))
                r["connections"] = list_conns if name == "list" else show_conns
                r["command"] = " ".join(argv)
                results[name] = r
            t_end = time.monotonic()
            cpu = {
                "gateway": cpu_seconds(gw.pid) - cpu0[0],
                "podsim": cpu_seconds(self.podsim.pid) - cpu0[1],
                "wrk": wrk_cpu,
                "wall": t_end - t_load,
            }
            after = {}
            for secs in a.after:
                time.sleep(max(0.0, t_end + secs - time.monotonic()))
                after[secs] = proc_status(gw.pid)
                if after[secs]:
                    after[secs]["fd_kinds"] = fd_kinds(gw.pid)
            sampler.stop()
            during = sampler.between(t_load, t_end)
            if not during or idle is None or any(v is None for v in after.values()):
                raise HarnessError("no /proc samples of the gateway")
        finally:
            for _, _, p, _ in jobs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            gw.stop()
        skipped = count_log(gw.err_path, "pod skipped in list")
        busy = count_log(gw.err_path, "too many requests in flight")
        return {
            "level": level, "rep": rep, "duration": a.duration,
            "idle": dict(idle, fd_kinds=idle_fds),
            "peak_rss_kb": max(max(s["VmRSS"] for s in during), after[a.after[-1]]["VmHWM"]),
            "peak_fds": max(s["fds"] for s in during),
            "peak_threads": max(s["Threads"] for s in during),
            "after": {str(k): v for k, v in after.items()},
            "requests": results,
            "cpu": cpu,
            "log": {"skipped_pod_warnings": skipped, "pod_busy_warnings": busy},
        }

    def run(self):
        self.start_podsim()
        self.write_config()
        gw = self.start_gateway()
        try:
            self.seed(gw)
        finally:
            gw.stop()
        runs = []
        for level in self.args.levels:
            for rep in range(1, self.args.repeat + 1):
                log(f"{level} connections, run {rep}/{self.args.repeat}: {self.args.duration} s of load")
                r = self.one_run(level, rep)
                runs.append(r)
                log(summary_line(r))
        return runs


def count_log(path, needle):
    n = 0
    with open(path, "r", errors="replace") as f:
        for line in f:
            if needle in line:
                n += 1
    return n


# ------------------------------------------------------------------ figures


def mb(kb):
    return kb / 1024.0


def total(r, key):
    return sum(q[key] for q in r["requests"].values())


def errors(r):
    return sum(sum(q["errors"][k] for k in ("connect", "read", "write", "timeout"))
               for q in r["requests"].values())


def summary_line(r):
    return (f"requests {total(r, 'requests')}, 200 {total(r, 'ok')}, 503 {total(r, 'unavailable')}, "
            f"other {total(r, 'other_status')}, socket errors {errors(r)}, "
            f"partial lists {r['requests']['list']['partial']}; "
            f"RSS idle {mb(r['idle']['VmRSS']):.1f} MB, peak {mb(r['peak_rss_kb']):.1f} MB, "
            + ", ".join(f"+{k} s {mb(v['VmRSS']):.1f} MB" for k, v in r["after"].items())
            + f"; fds idle {r['idle']['fds']}, peak {r['peak_fds']}, "
            + ", ".join(f"+{k} s {v['fds']} ({v['fd_kinds']['socket']} sockets)"
                        for k, v in r["after"].items()))


def goals(runs, args):
    last = str(args.after[-1])
    verdicts = []

    def check(name, rule, bad):
        verdicts.append((name, rule, "met" if not bad else "NOT met: " + "; ".join(bad)))

    check("memory bounded under load",
          f"peak RSS < {args.peak_limit_mb} MB at every level",
          [f"{r['level']} conns run {r['rep']}: {mb(r['peak_rss_kb']):.0f} MB"
           for r in runs if mb(r["peak_rss_kb"]) >= args.peak_limit_mb])
    check("memory given back",
          f"RSS {last} s after the load <= idle RSS + {args.given_back_mb} MB",
          [f"{r['level']} conns run {r['rep']}: {mb(r['after'][last]['VmRSS']):.0f} MB "
           f"vs idle {mb(r['idle']['VmRSS']):.0f} MB"
           for r in runs if mb(r["after"][last]["VmRSS"] - r["idle"]["VmRSS"]) > args.given_back_mb])
    def sockets(s):
        return s["fd_kinds"]["socket"]

    check("no fd leak",
          f"open sockets {last} s after the load <= idle sockets + {args.fd_slack}, and no other "
          "fds but the database pool's files (the pool keeps up to `[database] max_pool_size` "
          "connections open once they were needed)",
          [f"{r['level']} conns run {r['rep']}: {r['after'][last]['fd_kinds']} vs idle "
           f"{r['idle']['fd_kinds']}"
           for r in runs
           if sockets(r["after"][last]) > sockets(r["idle"]) + args.fd_slack
           or r["after"][last]["fd_kinds"]["other"] > r["idle"]["fd_kinds"]["other"] + args.fd_slack])
    check("no partial list from overload",
          "0 lists answered 200 with X-Tricircle-Skipped-Pods (the pods are healthy: "
          "a pod left out can only be our own overload)",
          [f"{r['level']} conns run {r['rep']}: {r['requests']['list']['partial']}"
           for r in runs if r["requests"]["list"]["partial"]])
    check("only fast 503s besides 200",
          "0 socket errors and 0 statuses other than 200/503 (issue 13's goal)",
          [f"{r['level']} conns run {r['rep']}: {errors(r)} socket errors, "
           f"{total(r, 'other_status')} other statuses"
           for r in runs if errors(r) or total(r, "other_status")])
    return verdicts


def machine(describe):
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    wrk_version = cmd(["sh", "-c", "wrk -v 2>&1 | head -1"])
    return [
        ("cores", f"{os.cpu_count()} ({cpu})"),
        ("memory", mem),
        ("kernel", platform.release()),
        ("rustc", cmd(["rustc", "--version"])),
        ("load generator", wrk_version),
        ("gateway binary", describe),
    ]


def fd_cell(s):
    k = s["fd_kinds"]
    return f"{s['fds']} ({k['socket']} sockets, {k['database']} db)"


def render(runs, args, started, finished):
    lines = [BEGIN, "", f"Run of `{args.command}` from {started} to {finished} (UTC).", ""]
    lines += ["| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine(args.bin_desc or args.bin) if v]
    lines += [
        "",
        "Each run: a fresh `tricircle serve` (SQLite, defaults but `[jobs] workers = 1` and quotas "
        "large enough for the seed"
        + (f", {', '.join('`' + s + '`' for s in args.set)}" if args.set else "")
        + f"; log level {args.gateway_log}) over one `tricircle podsim` process (Keystone + Pod1 + Pod2) "
        f"holding {2 * args.servers} servers ({args.servers} per pod). {args.duration} s of load by two "
        f"wrk processes at once: {100 - round(args.show_share * 100)} % of the connections on "
        f"`GET /v2.1/servers/detail` (a cross-pod list), {round(args.show_share * 100)} % on a routed "
        f"`GET /v2.1/servers/{{id}}`; wrk `--timeout {args.client_timeout}s`, {args.wrk_threads} threads "
        "each. RSS and fds are the gateway's alone (from /proc/PID/status and /proc/PID/fd): idle = "
        f"after a warm-up and {args.settle} s of rest, peak = the highest VmRSS sampled every "
        f"{args.sample_interval} s during the load (VmHWM), then {' and '.join(str(s) for s in args.after)} s "
        "after the load stopped. Latencies are over all answers, 200 and 503 alike (wrk does not "
        "tell them apart); the log level keeps the per-request access log out of the measure.",
        "",
        "#### Requests",
        "",
        "| conns | run | kind | its conns | requests | req/s | 200 | 200/s | partial 200 | 503 | other | "
        "socket errors (conn/read/write/timeout) | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for kind, q in r["requests"].items():
            e = q["errors"]
            lat = q["latency_us"]
            lines.append(
                f"| {r['level']} | {r['rep']} | {kind} | {q['connections']} | {q['requests']} | "
                f"{q['requests'] / (q['duration_us'] / 1e6):.0f} | {q['ok']} | "
                f"{q['ok'] / (q['duration_us'] / 1e6):.0f} | {q['partial']} | "
                f"{q['unavailable']} | {q['other_status']} | "
                f"{e['connect']}/{e['read']}/{e['write']}/{e['timeout']} | "
                f"{lat['p50'] / 1000:.1f} | {lat['p99'] / 1000:.1f} | {lat['max'] / 1000:.0f} |")
    after_cols = " | ".join(f"RSS +{s} s MB" for s in args.after)
    fd_cols = " | ".join(f"fds +{s} s" for s in args.after)
    lines += [
        "",
        "#### The gateway process",
        "",
        f"| conns | run | RSS idle MB | RSS peak MB | {after_cols} | fds idle | fds peak | {fd_cols} | "
        "threads peak | CPU s during the load: gateway / podsim / wrk (wall s) | "
        "'pod skipped' log lines |",
        "|---|---|---|---|" + "---|" * len(args.after) + "---|---|" + "---|" * len(args.after)
        + "---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['level']} | {r['rep']} | {mb(r['idle']['VmRSS']):.1f} | {mb(r['peak_rss_kb']):.1f} | "
            + " | ".join(f"{mb(r['after'][str(s)]['VmRSS']):.1f}" for s in args.after)
            + f" | {fd_cell(r['idle'])} | {r['peak_fds']} | "
            + " | ".join(fd_cell(r["after"][str(s)]) for s in args.after)
            + f" | {r['peak_threads']} | {r['cpu']['gateway']:.1f} / {r['cpu']['podsim']:.1f} / "
            f"{r['cpu']['wrk']:.1f} ({r['cpu']['wall']:.0f}) | {r['log']['skipped_pod_warnings']} |")
    lines += ["", "#### Goals", "", "| goal | rule | verdict |", "|---|---|---|"]
    lines += [f"| {n} | {rule} | {v} |" for n, rule, v in goals(runs, args)]
    lines += ["", "wrk commands (one run):", "", "```"]
    for q in runs[-1]["requests"].values():
        lines.append("TOKEN=<admin token> " + q["command"])
    lines += ["```", "", END]
    return "\n".join(lines)


def write_report(path, section):
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail_ = rest.split(END, 1)
        text = head + section + tail_
    else:
        text = (text.rstrip() + "\n\n" if text else "# Benchmarks\n\n## Overload\n\n") + section + "\n"
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------ main


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", required=True, help="the tricircle binary")
    p.add_argument("--bin-desc", help="what the binary is (for the report)")
    p.add_argument("--smoke", action="store_true",
                   help="a few seconds at low concurrency; checks the harness, writes no report")
    p.add_argument("--levels", default="500,2000,5000", help="concurrent connections, comma-separated")
    p.add_argument("--repeat", type=int, default=2, help="runs per level")
    p.add_argument("--duration", type=int, default=30, help="seconds of load per run")
    p.add_argument("--after", default="10,30", help="seconds after the load to sample, comma-separated")
    p.add_argument("--settle", type=float, default=2.0, help="seconds of rest before the idle sample")
    p.add_argument("--sample-interval", type=float, default=0.25)
    p.add_argument("--servers", type=int, default=25, help="servers seeded per pod")
    p.add_argument("--show-share", type=float, default=0.2,
                   help="share of the connections on the routed GET (the rest list)")
    p.add_argument("--client-timeout", type=int, default=30, help="wrk --timeout, seconds")
    p.add_argument("--wrk-threads", type=int, default=2)
    p.add_argument("--gateway-log", default="warn", help="the gateway's log level (RUST_LOG)")
    p.add_argument("--set", action="append",
                   help="a gateway option as section.option=value (repeatable), e.g. "
                        "DEFAULT.max_inflight_requests=512")
    p.add_argument("--peak-limit-mb", type=float, default=300.0)
    p.add_argument("--given-back-mb", type=float, default=32.0)
    p.add_argument("--fd-slack", type=int, default=8)
    p.add_argument("--report", default=os.path.join(BENCH, "REPORT.md"))
    p.add_argument("--json", help="also write the raw figures here")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    p.add_argument("--command", default="bench/overload.sh", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.smoke:
        a.levels, a.repeat, a.duration, a.after, a.servers = "20", 1, 3, "2", 2
        a.settle, a.client_timeout = 0.5, 10
    a.levels = [int(x) for x in a.levels.split(",")]
    a.after = [int(x) for x in a.after.split(",")]
    if a.set:
        for s in a.set:
            if not re.fullmatch(r"[A-Za-z_]+\.[a-z_]+=\S+", s):
                p.error(f"--set {s}: expected section.option=value")
        a.set = [s.replace("=", " = ", 1) for s in a.set]
    return a


def main(argv):
    args = parse_args(argv)
    if not shutil.which("wrk"):
        raise HarnessError("wrk is not installed (apt-get install wrk)")
    raise_nofile()
    bench = Bench(args)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    try:
        runs = bench.run()
    finally:
        Proc.stop_all()
        if args.keep:
            log(f"work directory kept: {bench.work}")
        else:
            shutil.rmtree(bench.work, ignore_errors=True)
    finished = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)
    if args.smoke:
        # The harness works: it loaded the gateway, read its answers and
        # sampled the process. How fast is not judged here.
        for r in runs:
            statuses = {int(k) for q in r["requests"].values() for k in q["by_status"]}
            if total(r, "requests") == 0 or not statuses <= {200, 503}:
                raise HarnessError(f"smoke: unexpected answers: {r['requests']}")
            if total(r, "ok") == 0:
                raise HarnessError("smoke: no request answered 200")
        print(render(runs, args, started, finished))
        log("smoke OK")
        return 0
    write_report(args.report, render(runs, args, started, finished))
    log(f"figures written to {args.report}")
    for n, _, v in goals(runs, args):
        log(f"goal '{n}': {v}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        print(f"overload: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("overload: interrupted", file=sys.stderr)
        sys.exit(130)

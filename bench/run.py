#!/usr/bin/env python3
"""Side-by-side benchmark runner: the Node.js Socket.IO 4 peer vs our Flask-SocketIO server.

Usage:
    .venv/bin/python bench/run.py SCENARIO [--servers node,python] [options]
    .venv/bin/python bench/run.py all [--servers node,python]

SCENARIO is one of fanout, latency, capacity, joinstorm, games (`all` runs these five) or acked
(see bench/README.md).

For each server, one at a time: start it on a free 127.0.0.1 port in its own process group,
wait until it answers, run bench/loadgen.js against it while sampling the server's RSS and
CPU with psutil, then stop it. Prints a table with the python/node ratio of every figure and
appends the whole result as one JSON line to bench/results/<scenario>-<timestamp>.json.
Everything is bounded: every child has a hard timeout and is killed at the end, even on error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
LOADGEN = BENCH / "loadgen.js"
NODE_SERVER = BENCH / "peers" / "node_server.js"
SCENARIOS = ("fanout", "latency", "capacity", "joinstorm", "games")  # what `all` runs
EXTRA_SCENARIOS = ("acked",)
NODE = shutil.which("node") or "/usr/bin/node"
NPM = shutil.which("npm") or "/usr/bin/npm"

# Options passed through to loadgen.js when given (run.py flag -> loadgen flag).
PASSTHROUGH = {
    "fanout": ("clients", "senders", "messages", "ack"),
    "latency": ("clients", "rate", "duration", "ack"),
    "capacity": ("batch", "seed"),
    "joinstorm": ("clients", "batch"),
    "games": ("players", "best_of", "duration"),
    "acked": ("clients", "duration"),
    "soak": (),  # bench/soak.py passes its own options
}

# Figures shown in the table: (key in the per-server result, label, lower_is_better)
FIGURES = {
    "fanout": [
        ("deliveries_per_s", "deliveries/s (median of repeats)", False),
        ("deliveries_per_server_cpu_s", "deliveries per server CPU s", False),
        ("duration_s", "first send -> last delivery, s", True),
        ("lost", "messages lost (sum over repeats)", True),
        ("server_cpu_s", "server CPU s (median run)", True),
        ("server_rss_peak_mb", "server RSS peak, MB", True),
        ("loadgen_cpu_s", "loadgen CPU s (client side)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
    "latency": [
        ("p50_ms", "latency p50, ms", True),
        ("p90_ms", "latency p90, ms", True),
        ("p99_ms", "latency p99, ms", True),
        ("max_ms", "latency max, ms", True),
        ("lost", "deliveries lost", True),
        ("server_cpu_s", "server CPU s", True),
        ("server_rss_peak_mb", "server RSS peak, MB", True),
        ("loadgen_cpu_s", "loadgen CPU s (client side)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
    "capacity": [
        ("connected", "clients connected", False),
        ("failed", "clients failed", True),
        ("ramp_s", "ramp time, s", True),
        ("rss_before_mb", "server RSS before clients, MB", True),
        ("rss_held_mb", "server RSS holding clients, MB", True),
        ("bytes_per_client", "server RSS per client, bytes", True),
        ("disconnected_during_hold", "dropped while held", True),
        ("server_cpu_s", "server CPU s (ramp+hold)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
    "joinstorm": [
        ("connect_all_s", "all connected, s", True),
        ("entered_all_s", "all 'has entered' seen, s", True),
        ("clients_per_s", "joins/s (entered seen / time)", False),
        ("joins_per_server_cpu_s", "joins per server CPU s", False),
        ("failed", "clients failed", True),
        ("server_cpu_s", "server CPU s", True),
        ("server_rss_peak_mb", "server RSS peak, MB", True),
        ("loadgen_cpu_s", "loadgen CPU s (client side)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
    "games": [
        ("matches_per_s", "matches completed/s", False),
        ("matches_per_server_cpu_s", "matches per server CPU s", False),
        ("rounds_per_s", "rounds/s", False),
        ("match_p50_ms", "match duration p50, ms", True),
        ("match_p99_ms", "match duration p99, ms", True),
        ("error_count", "refused acks", True),
        ("server_cpu_s", "server CPU s", True),
        ("server_rss_peak_mb", "server RSS peak, MB", True),
        ("loadgen_cpu_s", "loadgen CPU s (client side)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
    "acked": [
        ("acked_per_s", "acked messages/s", False),
        ("acked_per_server_cpu_s", "acked messages per server CPU s", False),
        ("ack_p50_ms", "ack latency p50, ms", True),
        ("ack_p99_ms", "ack latency p99, ms", True),
        ("deliveries_per_s", "deliveries/s (to the other senders)", False),
        ("lost", "acked deliveries lost", True),
        ("error_count", "refused or timed-out acks", True),
        ("server_cpu_s", "server CPU s", True),
        ("server_rss_peak_mb", "server RSS peak, MB", True),
        ("loadgen_cpu_s", "loadgen CPU s (client side)", True),
        ("other_cpu_pct", "other processes' CPU, % of a core", True),
    ],
}

DEFAULT_REPEAT = {"fanout": 3}

# Environment for our Python server. The brief's four, plus settings that are policy, not speed:
# the per-address cap (all load comes from 127.0.0.1), the unnamed-idle kick (capacity clients
# never name themselves), per-connection INFO logging (the Node peer logs nothing) and a fixed
# secret key. Override or add with --python-env KEY=VALUE.
PYTHON_ENV = {
    "HOST": "127.0.0.1",
    "RATE_LIMIT": "0",
    "DATABASE_URL": "memory://",
    "MAX_CONNECTIONS_PER_IP": "0",
    "UNNAMED_IDLE_SECONDS": "3600",
    "LOG_LEVEL": "WARNING",
    "SECRET_KEY": "bench-not-secret",
    "PYTHONUNBUFFERED": "1",
}


def log(msg: str) -> None:
    print(f"[run] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes


def spawn(cmd, *, env=None, cwd=None, cpu=None, stdout=None, stderr=None) -> subprocess.Popen:
    """Start a child in its own process group (so its whole tree can be killed)."""
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    return subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        text=True,
    )


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


LIVE: list[subprocess.Popen] = []


def stop(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """Stop a child we started and everything in its process group."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # Whatever is left in the group (e.g. a server's children) gets SIGKILL.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)
    if proc in LIVE:
        LIVE.remove(proc)


def stop_all() -> None:
    for p in list(LIVE):
        stop(p, grace=2.0)


def _on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(proc: subprocess.Popen) -> list[psutil.Process]:
    try:
        p = psutil.Process(proc.pid)
        return [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_bytes(proc: subprocess.Popen) -> int:
    total = 0
    for p in tree(proc):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def cpu_seconds(proc: subprocess.Popen) -> float:
    total = 0.0
    for p in tree(proc):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


class Sampler:
    """Samples a server's RSS every `interval` seconds in a thread."""

    def __init__(self, proc: subprocess.Popen, interval: float = 0.1):
        self.proc, self.interval = proc, interval
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.proc))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss_bytes(self.proc))


# ---------------------------------------------------------------- servers


def server_command(name: str, args) -> tuple[list[str], dict]:
    env = dict(os.environ)
    env["HOST"] = "127.0.0.1"
    if name == "node":
        return [NODE, *shlex.split(args.node_flags), str(NODE_SERVER)], env
    env.update(PYTHON_ENV)
    for item in args.python_env:
        key, sep, val = item.partition("=")
        if not sep:
            raise SystemExit(f"--python-env wants KEY=VALUE, not {item!r}")
        env[key] = val
    return shlex.split(args.python_cmd), env


def python_available(args) -> bool:
    cmd = shlex.split(args.python_cmd)
    if not cmd:
        return False
    exe_ok = (ROOT / cmd[0]).exists() or shutil.which(cmd[0]) is not None
    scripts = [c for c in cmd[1:] if c.endswith(".py")]
    return exe_ok and all((ROOT / c).exists() for c in scripts)


def wait_ready(proc: subprocess.Popen, port: int, timeout: float) -> None:
    """Ready when an engine.io handshake (polling) is answered, or at least HTTP answers."""
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} during startup")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as e:  # answered, though not with a handshake
            last = e
            if e.code < 500:
                return
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise RuntimeError(f"server not ready on port {port} after {timeout}s ({last})")


class Server:
    def __init__(self, name: str, args, logpath: Path):
        self.name, self.args = name, args
        self.port = free_port()
        cmd, env = server_command(name, args)
        env["PORT"] = str(self.port)
        self.logpath = logpath
        self._log = open(self.logpath, "w")  # noqa: SIM115 - closed in stop()
        log(f"starting {name}: {' '.join(cmd)} (PORT={self.port})")
        cpu = 0 if args.pin else None
        self.proc = spawn(
            cmd, env=env, cwd=ROOT, cpu=cpu, stdout=self._log, stderr=subprocess.STDOUT
        )
        LIVE.append(self.proc)
        try:
            wait_ready(self.proc, self.port, args.start_timeout)
        except Exception:
            self.stop()
            raise
        time.sleep(args.settle)
        self.url = f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        stop(self.proc)
        self._log.close()


# ---------------------------------------------------------------- loadgen


def loadgen_cmd(scenario: str, url: str, args, extra: dict | None = None) -> list[str]:
    cmd = [NODE, *shlex.split(args.node_flags), str(LOADGEN), scenario, "--url", url]
    for key in PASSTHROUGH[scenario]:
        val = getattr(args, key, None)
        if val is not None:
            cmd += [f"--{key.replace('_', '-')}", str(val)]
    for key, val in (extra or {}).items():
        cmd += [f"--{key}", str(val)]
    return cmd


def parse_result(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    return {"error": "loadgen printed no JSON result"}


class Loadgen:
    """One loadgen.js process; its stdout and stderr are read by threads."""

    def __init__(self, scenario: str, url: str, args, extra: dict, on_line=None):
        cmd = loadgen_cmd(scenario, url, args, extra)
        self.on_line = on_line  # called with every stderr line (soak.py reads its TICK lines)
        log(" ".join(cmd[1:]))
        self.verbose = args.verbose
        self.proc = spawn(
            cmd,
            cwd=BENCH,
            cpu=1 if args.pin else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        LIVE.append(self.proc)
        self.out: list[str] = []
        self.err: list[str] = []
        self.ready: dict | None = None
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_out(self):
        for line in self.proc.stdout:
            self.out.append(line)

    def _read_err(self):
        for line in self.proc.stderr:
            self.err = [*self.err[-20:], line]
            if line.startswith("READY "):
                with contextlib.suppress(json.JSONDecodeError):
                    self.ready = json.loads(line[6:])
            if self.on_line is not None:
                self.on_line(line)
            if self.verbose:
                sys.stderr.write(line)

    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM) -> None:
        if self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def finish(self, timeout: float) -> dict:
        """Wait up to `timeout` s for the process to end (then kill it); return its result."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"loadgen still running after {timeout:.0f}s; killing it")
        stop(self.proc, grace=1)
        for t in self._threads:
            t.join(2)
        res = parse_result("".join(self.out))
        if "error" in res or self.proc.returncode != 0:
            res.setdefault("loadgen_exit", self.proc.returncode)
            res.setdefault("stderr_tail", "".join(self.err[-8:])[-2000:])
        return res


def run_loadgen(scenario: str, server: Server, args, timeout: float, extra=None) -> dict:
    gen = Loadgen(scenario, server.url, args, {"timeout": int(timeout), **(extra or {})})
    try:
        return gen.finish(timeout + 15)
    finally:
        stop(gen.proc, grace=1)


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores, all processes)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def add_background(res: dict, busy0: float, wall0: float, ours: float) -> None:
    """Record how much CPU other processes on the machine took during the run: the figures
    are only comparable between runs with little of it (2 cores are shared by everything)."""
    wall = time.monotonic() - wall0
    other = max(0.0, machine_busy_s() - busy0 - ours)
    res["wall_s"] = round(wall, 2)
    res["other_cpu_pct"] = round(100 * other / wall, 1) if wall > 0 else None


def wait_quiet(args) -> float | None:
    """Wait (bounded by --quiet-wait) until other processes use less than --quiet-below % of a
    core, so that a run does not start in the middle of someone else's burst. Returns the last
    background load seen, in % of a core. After one wait in vain, later runs wait at most 2 s
    (a machine that is busy for good should not double the run time)."""
    limit = 2.0 if _quiet_state["gave_up"] else args.quiet_wait
    deadline = time.monotonic() + limit
    while True:
        b0 = machine_busy_s()
        time.sleep(1.0)
        load = 100 * (machine_busy_s() - b0)
        if load < args.quiet_below:
            _quiet_state["gave_up"] = False
            return round(load, 1)
        if time.monotonic() >= deadline:
            _quiet_state["gave_up"] = True
            log(f"machine busy ({load:.0f}% of a core used by others); running anyway")
            return round(load, 1)


_quiet_state = {"gave_up": False}


PER_CPU = {  # figure -> per-server-CPU-second figure (less sensitive to a busy machine)
    "fanout": ("deliveries", "deliveries_per_server_cpu_s"),
    "joinstorm": ("entered_seen", "joins_per_server_cpu_s"),
    "games": ("matches_completed", "matches_per_server_cpu_s"),
    "acked": ("acked_in_window", "acked_per_server_cpu_s"),
}


def measure_run(scenario: str, server: Server, args, timeout: float, extra=None) -> dict:
    rss0 = rss_bytes(server.proc)
    cpu0 = cpu_seconds(server.proc)
    busy0, wall0 = machine_busy_s(), time.monotonic()
    with Sampler(server.proc) as s:
        res = run_loadgen(scenario, server, args, timeout, extra)
    server_cpu = cpu_seconds(server.proc) - cpu0
    add_background(res, busy0, wall0, server_cpu + (res.get("loadgen_cpu_s") or 0))
    res["server_cpu_s"] = round(server_cpu, 3)
    res["server_rss_start_mb"] = round(rss0 / 2**20, 1)
    res["server_rss_peak_mb"] = round(s.peak / 2**20, 1)
    res["server_alive"] = server.alive()
    if scenario in PER_CPU and server_cpu > 0:
        count_key, key = PER_CPU[scenario]
        if isinstance(res.get(count_key), (int, float)):
            res[key] = round(res[count_key] / server_cpu, 1)
    return res


def combine(scenario: str, runs: list[dict]) -> dict:
    """Median of every numeric figure over repeats; counts of loss are summed."""
    if len(runs) == 1:
        return dict(runs[0])
    out = dict(runs[-1])
    for key in runs[0]:
        vals = [r.get(key) for r in runs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = (
                sum(vals) if key in ("lost", "duplicates") else round(statistics.median(vals), 3)
            )
    out["repeats"] = [
        {k: r.get(k) for k in [f[0] for f in FIGURES[scenario]] + ["server_log"] if k in r}
        for r in runs
    ]
    return out


def loadgen_timeout(scenario: str, args) -> float:
    if args.timeout:
        return args.timeout
    if scenario in ("latency", "games", "acked"):
        return (args.duration or 10) + 45
    return {"fanout": 60, "joinstorm": 100, "capacity": 100}[scenario]


def run_once(scenario: str, server: Server, args) -> dict:
    if scenario == "capacity":
        return run_capacity(server, args)
    return measure_run(scenario, server, args, loadgen_timeout(scenario, args))


def run_capacity(server: Server, args) -> dict:
    total = args.clients or 10000
    procs = max(1, args.procs)
    ramp_limit = loadgen_timeout("capacity", args)  # bound on the ramp
    shares = [total // procs + (1 if i < total % procs else 0) for i in range(procs)]
    rss_before = rss_bytes(server.proc)
    cpu0 = cpu_seconds(server.proc)
    gens: list[Loadgen] = []
    busy0, t_start = machine_busy_s(), time.monotonic()
    with Sampler(server.proc, interval=0.25) as sampler:
        try:
            for i, n in enumerate(shares):
                extra = {"clients": n, "hold": ramp_limit + 60, "timeout": ramp_limit + 90}
                gens.append(Loadgen("capacity", server.url, args, {**extra, "tag": f"c{i}"}))
            while time.monotonic() - t_start < ramp_limit:
                if all(g.ready for g in gens) or any(not g.running() and not g.ready for g in gens):
                    break
                time.sleep(0.2)
            ramp_wall = time.monotonic() - t_start
            all_ready = all(g.ready for g in gens)
            if all_ready:
                log(
                    f"all {total} clients attempted in {ramp_wall:.1f}s; "
                    f"holding {args.hold}s before reading RSS"
                )
            else:
                log(f"capacity ramp did not finish in {ramp_limit}s; measuring as is")
            samples = []
            end = time.monotonic() + args.hold
            while time.monotonic() < end:
                time.sleep(0.5)
                samples.append(rss_bytes(server.proc))
            samples.append(rss_bytes(server.proc))
            rss_held = statistics.median(samples[-5:])
            cpu_s = cpu_seconds(server.proc) - cpu0
            alive = server.alive()
        finally:
            for g in gens:
                g.signal(signal.SIGTERM)
            finals = [g.finish(20) for g in gens]
    readies = [g.ready or {} for g in gens]
    connected = sum(r.get("connected", 0) for r in readies)
    failed = sum(r.get("failed", n) for r, n in zip(readies, shares, strict=True))
    errors: dict[str, int] = {}
    for r in readies:
        for k, v in (r.get("connect_errors") or {}).items():
            errors[k] = errors.get(k, 0) + v
    res = {
        "scenario": "capacity",
        "clients": total,
        "loadgen_procs": procs,
        "connected": connected,
        "failed": failed,
        "connect_errors": errors,
        "ramp_s": round(max(r.get("ramp_s") or ramp_wall for r in readies), 3),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_held_mb": round(rss_held / 2**20, 1),
        "bytes_per_client": round((rss_held - rss_before) / connected) if connected else None,
        "server_rss_peak_mb": round(sampler.peak / 2**20, 1),
        "server_cpu_s": round(cpu_s, 3),
        "disconnected_during_hold": sum(f.get("disconnected_during_hold", 0) for f in finals),
        "still_connected_at_end": sum(f.get("still_connected", 0) for f in finals),
        "loadgen_rss_mb": [r.get("loadgen_rss_mb") for r in readies],
        "complete": all_ready and failed == 0,
        "server_alive": alive,
    }
    add_background(res, busy0, t_start, cpu_s + sum((f.get("loadgen_cpu_s") or 0) for f in finals))
    if not all_ready or failed:
        res["loadgen_stderr_tail"] = ["".join(g.err[-8:])[-1500:] for g in gens]
    return res


# ---------------------------------------------------------------- reporting


def fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def grid(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A plain text table: `columns` are (key, heading); the first column is left-aligned."""
    cells = [[heading for _, heading in columns]]
    cells += [[fmt(r.get(key)) for key, _ in columns] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    pad = [str.ljust] + [str.rjust] * (len(columns) - 1)
    lines = ["  ".join(p(c, w) for p, c, w in zip(pad, row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def ratios(scenario: str, by_server: dict) -> dict:
    out = {}
    node, py = by_server.get("node") or {}, by_server.get("python") or {}
    for key, _label, _lower in FIGURES[scenario]:
        if key == "other_cpu_pct":
            continue
        a, b = node.get(key), py.get(key)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a:
            out[key] = round(b / a, 3)
    return out


def table(scenario: str, by_server: dict, rat: dict) -> str:
    names = list(by_server)
    both = {"node", "python"} <= set(names)
    rows = [["figure", *names, *(["python/node"] if both else [])]]
    for key, label, lower in FIGURES[scenario]:
        r = rat.get(key)
        hint = " (lower is better)" if lower else " (higher is better)"
        cells = [fmt((by_server[n] or {}).get(key)) for n in names]
        if both:
            cells.append("-" if r is None else f"{r:.2f}x{hint}")
        rows.append([label, *cells])
    notes = []
    for n in names:
        res = by_server[n] or {}
        if "error" in res:
            notes.append(f"ERROR ({n}): {str(res['error'])[:300]}")
        if res.get("timed_out") or res.get("complete") is False:
            notes.append(f"NOTE ({n}): incomplete run (hard timeout, lost deliveries or failures)")
        if res.get("server_alive") is False:
            notes.append(f"NOTE ({n}): the server died during the run; see {res.get('server_log')}")
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    lines = [f"== {scenario} =="]
    for j, r in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)
            ).rstrip()
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines + notes)


def prepare_benchmark() -> None:
    """What every benchmark command does first: file limit, clean-up on signals, Node packages,
    the results folders."""
    raise_nofile()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    ensure_node_modules()
    (RESULTS / "logs").mkdir(parents=True, exist_ok=True)


def ensure_node_modules() -> None:
    needed = [BENCH / "node_modules" / "socket.io", BENCH / "node_modules" / "socket.io-client"]
    if all(p.exists() for p in needed):
        return
    log("bench/node_modules missing: running npm ci")
    subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True, timeout=600)


def run_scenario(scenario: str, args, servers: list[str]) -> dict:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    logdir = RESULTS / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    by_server: dict[str, dict] = {}
    t0 = time.monotonic()
    repeat = args.repeat or DEFAULT_REPEAT.get(scenario, 1)
    for name in servers:
        runs: list[dict] = []
        # A fresh server for every run: what one run's clients leave behind (their "has left"
        # broadcasts, delayed by our server's resume grace) must not land in the next run.
        for i in range(repeat):
            srv = None
            res: dict = {}
            tag = f"{scenario}-{stamp}-{name}" + (f"-r{i + 1}" if repeat > 1 else "")
            try:
                quiet = wait_quiet(args)
                srv = Server(name, args, logdir / f"{tag}.log")
                res = run_once(scenario, srv, args)
                res["background_before_pct"] = quiet
            except Exception as e:  # report and carry on with the next server
                log(f"{name}: {scenario} failed: {e}")
                res = {"error": str(e)}
            finally:
                if srv is not None:
                    srv.stop()
                    res["server_log"] = str(srv.logpath.relative_to(ROOT))
            runs.append(res)
            time.sleep(0.5)
            if "error" in res or res.get("timed_out") or res.get("server_alive") is False:
                break  # don't spend more time on a server that is already failing
        by_server[name] = combine(scenario, runs)
        if scenario == "games":
            by_server[name]["error_count"] = sum((by_server[name].get("errors") or {}).values())
    rat = ratios(scenario, by_server)
    record = {
        "scenario": scenario,
        "timestamp": dt.datetime.now().isoformat(timespec="seconds"),
        "elapsed_s": round(time.monotonic() - t0, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "node": subprocess.run(
                [NODE, "--version"], capture_output=True, text=True
            ).stdout.strip(),
            "pinned": bool(args.pin),
        },
        "options": {k: v for k, v in vars(args).items() if v is not None and k != "scenario"},
        "servers": by_server,
        "ratio_python_over_node": rat,
    }
    out = RESULTS / f"{scenario}-{stamp}.json"
    for path in {out, *([Path(args.out)] if getattr(args, "out", None) else [])}:
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
    print(table(scenario, by_server, rat), flush=True)
    print(f"(result appended to {out.relative_to(ROOT)}; {record['elapsed_s']}s)\n", flush=True)
    return record


def build_parser() -> argparse.ArgumentParser:
    """run.py's options; history_bench.py and soak.py reuse them for the servers and loadgen."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("scenario", choices=[*SCENARIOS, *EXTRA_SCENARIOS, "all"])
    ap.add_argument(
        "--servers", default="node,python", help="comma list of node,python (default both)"
    )
    ap.add_argument(
        "--python-cmd",
        default=".venv/bin/python app.py",
        help="command starting our server, run from the repo root with PORT/HOST/RATE_LIMIT=0/DATABASE_URL=memory://",
    )
    ap.add_argument(
        "--python-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra/overriding environment for our server (repeatable)",
    )
    ap.add_argument(
        "--node-flags", default="", help="extra flags for node (both the peer and the loadgen)"
    )
    ap.add_argument(
        "--clients",
        type=int,
        help="clients (fanout/latency 200, capacity 10000, joinstorm 1000, acked 50)",
    )
    ap.add_argument("--senders", type=int, help="fanout: senders (10)")
    ap.add_argument("--messages", type=int, help="fanout: messages per sender (100)")
    ap.add_argument("--rate", type=float, help="latency: messages offered per second (50)")
    ap.add_argument("--duration", type=float, help="latency/games/acked: seconds (10)")
    ap.add_argument(
        "--ack", type=int, choices=(0, 1), help="fanout/latency: ask for an ack on each message (0)"
    )
    ap.add_argument("--players", type=int, help="games: players (100)")
    ap.add_argument("--best-of", dest="best_of", type=int, help="games: best of (3)")
    ap.add_argument(
        "--batch",
        type=int,
        help="capacity: connects per ramp step (200); joinstorm: 0 = all at once",
    )
    ap.add_argument(
        "--procs", type=int, default=1, help="capacity: loadgen processes sharing the clients (1)"
    )
    ap.add_argument(
        "--seed",
        type=int,
        help="capacity: 1 = clients as the seed's page makes them (long-polling, then the "
        "upgrade to WebSocket), 0 = WebSocket only (0)",
    )
    ap.add_argument(
        "--hold",
        type=float,
        default=5.0,
        help="capacity: seconds to hold all clients before RSS (5)",
    )
    ap.add_argument(
        "--repeat", type=int, help="runs per server, median reported (fanout 3, others 1)"
    )
    ap.add_argument(
        "--timeout", type=float, help="hard limit per loadgen run, s (scenario default)"
    )
    ap.add_argument(
        "--start-timeout", type=float, default=30.0, help="server startup limit, s (30)"
    )
    ap.add_argument("--settle", type=float, default=1.0, help="idle seconds after server start (1)")
    ap.add_argument(
        "--quiet-wait",
        type=float,
        default=15.0,
        help="before each run, wait up to this many s for the machine to be quiet (15)",
    )
    ap.add_argument(
        "--quiet-below",
        type=float,
        default=25.0,
        help="'quiet' means other processes use less than this %% of one core (25)",
    )
    ap.add_argument(
        "--pin", action="store_true", help="pin the server to CPU 0 and the loadgen to CPU 1"
    )
    ap.add_argument("-v", "--verbose", action="store_true", help="echo loadgen progress")
    ap.add_argument("--out", help="also append the JSON records to this file (bench/report.py)")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)

    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad = set(servers) - {"node", "python"}
    if bad:
        ap.error(f"unknown server(s): {', '.join(sorted(bad))}")
    if "python" in servers and not python_available(args):
        log(f"python server not available ({args.python_cmd!r} from {ROOT}); skipping it")
        servers.remove("python")
    if not servers:
        ap.error("no server to benchmark")

    prepare_benchmark()
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    records = []
    try:
        for sc in scenarios:
            records.append(run_scenario(sc, args, servers))
    finally:
        stop_all()
    failed = [
        r["scenario"] for r in records if any("error" in (v or {}) for v in r["servers"].values())
    ]
    if failed:
        log(f"scenarios with errors: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

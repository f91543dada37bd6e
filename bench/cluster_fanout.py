"""Fan-out across 1, 2 and 4 nodes: one chat spread over several server processes on Redis.

    .venv/bin/python bench/cluster_fanout.py                # 1 (no Redis), 1, 2, 4 nodes
    .venv/bin/python bench/cluster_fanout.py --nodes 2,4 --clients 400 --repeat 3
    .venv/bin/python bench/cluster_fanout.py --scenario games --nodes 1,2   # games instead

`--scenario games` runs `bench/loadgen.js games` (100 players, best of 3, 10 s) instead: players
on different nodes are matched through Redis, and each game holds only its own lock. The time
operations waited for a game's lock and for the lobby lock (pairing), per operation, comes from
each node's /metrics (`rpschat_lock_wait_seconds`).

For each node count: start the nodes (`python app.py`, REDIS_URL with a fresh REDIS_PREFIX,
DATABASE_URL=memory:// unless --database-url), nginx in front of them, and run
`bench/loadgen.js fanout` (see bench/README.md) against nginx: every client is connected and
named, then S senders send M messages each and every client must receive every other sender's
messages. nginx balances round robin here, not with the deployment's ip_hash: the loadgen's
clients are WebSocket-only (one request each, so they need no stickiness), and ip_hash would put
every client of 127.0.0.1 on one node. The baseline row `1*` is one node without Redis, as
bench/run.py runs it (but behind nginx too).

Measured per run: deliveries/s, first send -> last delivery, lost deliveries, CPU seconds of the
nodes (all together), of nginx and of Redis (its INFO; the whole Redis server), the most clients
each node held, and the machine's other CPU use. Results go to stdout as a table and, as one JSON
line, to bench/results/cluster-fanout-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deploy.cluster import HOST, Nginx, Node, _answers, _wait_until  # noqa: E402

LOADGEN = ROOT / "bench" / "loadgen.js"
RESULTS = ROOT / "bench" / "results"


def node_env(args, redis_on: bool, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST", "REDIS_URL")}
    env.update(
        SECRET_KEY="bench",
        DATABASE_URL=args.database_url,
        RATE_LIMIT="0",
        MAX_CONNECTIONS_PER_IP="0",
        UNNAMED_IDLE_SECONDS="3600",
        LOG_LEVEL="WARNING",
        TRUST_PROXY="true",
    )
    if redis_on:
        env.update(REDIS_URL=args.redis_url, REDIS_PREFIX=prefix)
    return env


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def process_tree(pid: int) -> list[int]:
    try:
        return [pid] + [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def redis_cpu(client: redis.Redis | None) -> float:
    if client is None:
        return 0.0
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return times.user + times.system + getattr(times, "nice", 0.0)


class ClientCounter:
    """The most established connections each node held, sampled while the loadgen runs."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.peak = [0] * len(nodes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for i, node in enumerate(self.nodes):
                try:
                    conns = psutil.Process(node.process.pid).net_connections(kind="tcp")
                except psutil.Error:
                    continue
                count = sum(
                    1 for c in conns if c.status == "ESTABLISHED" and c.laddr.port == node.port
                )
                self.peak[i] = max(self.peak[i], count)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def lock_waits(nodes: list[Node]) -> dict[str, tuple[float, float]]:
    """(seconds waited, operations) per kind of game lock, summed over the nodes' /metrics."""
    totals: dict[str, list[float]] = {}
    for node in nodes:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            for suffix, index in (("_sum", 0), ("_count", 1)):
                head = f'rpschat_lock_wait_seconds{suffix}{{lock="'
                if line.startswith(head):
                    kind = line[len(head) :].split('"', 1)[0]
                    totals.setdefault(kind, [0.0, 0.0])[index] += float(line.rsplit(" ", 1)[1])
    return {kind: (waited, ops) for kind, (waited, ops) in totals.items()}


def wait_per_op_ms(before: dict, after: dict, kind: str) -> float | None:
    waited = after.get(kind, (0.0, 0.0))[0] - before.get(kind, (0.0, 0.0))[0]
    ops = after.get(kind, (0.0, 0.0))[1] - before.get(kind, (0.0, 0.0))[1]
    return round(1000 * waited / ops, 3) if ops else None


# The loadgen's line as its measured phase starts (every client connected and named): the CPU
# counted from here is what the deliveries or the matches cost, not the connections and names.
PHASE_STARTS = ("] sending ", "] playing ")


def run_loadgen(url: str, args, at_phase=lambda: None) -> dict:
    command = ["node", str(LOADGEN), args.scenario, "--url", url]
    if args.scenario == "games":
        command += ["--players", str(args.players), "--best-of", "3"]
        command += ["--duration", str(args.duration), "--timeout", str(args.timeout)]
    else:
        command += ["--clients", str(args.clients), "--senders", str(args.senders)]
        command += ["--messages", str(args.messages), "--timeout", str(args.timeout)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT / "bench",
    )
    errors: list[str] = []

    def read_errors() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            errors.append(line)
            if any(mark in line for mark in PHASE_STARTS):
                at_phase()

    reader = threading.Thread(target=read_errors, daemon=True)
    reader.start()
    killer = threading.Timer(args.timeout + 30, proc.kill)  # stderr is the reader's alone
    killer.start()
    try:
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        proc.wait()
    finally:
        killer.cancel()
    reader.join(timeout=5)
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": f"loadgen exited {proc.returncode}: {''.join(errors)[-800:]}"}


class ProfiledNode(Node):
    """A node run under cProfile (`--profile DIR`, bench/profiled_app.py): `dump` writes its
    profile (SIGUSR1), before it stops."""

    def __init__(self, env: dict[str, str], log_dir: Path, out: Path):
        super().__init__(env, log_dir)
        self.out = out

    def start(self, timeout: float = 30.0) -> Node:
        command = [sys.executable, str(ROOT / "bench" / "profiled_app.py"), str(self.out)]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 (the child's)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://{HOST}:{self.port}"
        _wait_until(lambda: _answers(url + "/readyz"), timeout, "node", self.process)
        return self

    def dump(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 20
            while not self.out.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)  # written whole


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    if not path.exists():
        print(f"(no profile at {path})")
        return
    print(f"---- {path.name}: top {top} functions by own time")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


def one_run(count: int, redis_on: bool, args) -> dict:
    prefix = f"rpschat-bench-{secrets.token_hex(4)}"
    run_dir = Path(tempfile.mkdtemp(prefix="rpschat-fanout-"))
    env = node_env(args, redis_on, prefix)
    profiles = []
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        tag = f"{args.scenario}-{count}{'-redis' if redis_on else ''}"
        profiles = [Path(args.profile) / f"{tag}-node{i}.prof" for i in range(count)]
        nodes: list[Node] = [ProfiledNode(env, run_dir, out) for out in profiles]
    else:
        nodes = [Node(env, run_dir) for _ in range(count)]
    nginx = None
    client = redis.Redis.from_url(args.redis_url) if redis_on else None
    try:
        for node in nodes:
            node.start()
        nginx = Nginx([n.port for n in nodes], run_dir, sticky=False).start()
        time.sleep(1.0)  # let startup work settle
        node_pids = [p for n in nodes for p in process_tree(n.process.pid)]
        nginx_pids = process_tree(nginx.process.pid)
        before = (cpu_seconds(node_pids), cpu_seconds(nginx_pids), redis_cpu(client))
        waits_before = lock_waits(nodes)
        busy0, wall0 = machine_busy_seconds(), time.monotonic()
        phase: list[tuple[float, float]] = []  # (nodes CPU s, Redis CPU s) as the phase starts

        def at_phase() -> None:
            phase.append((cpu_seconds(node_pids), redis_cpu(client)))

        with ClientCounter(nodes) as counter:
            result = run_loadgen(nginx.url, args, at_phase)
        after = (cpu_seconds(node_pids), cpu_seconds(nginx_pids), redis_cpu(client))
        if phase:
            result["nodes_cpu_phase_s"] = round(after[0] - phase[0][0], 3)
            result["redis_cpu_phase_s"] = round(after[2] - phase[0][1], 3)
        busy, wall = machine_busy_seconds() - busy0, time.monotonic() - wall0
        waits = lock_waits(nodes)
        ours = sum(a - b for a, b in zip(after, before, strict=True))
        ours += result.get("loadgen_cpu_s") or 0
        result.update(
            nodes=count,
            redis=redis_on,
            nodes_cpu_s=round(after[0] - before[0], 2),
            nginx_cpu_s=round(after[1] - before[1], 2),
            redis_cpu_s=round(after[2] - before[2], 2),
            clients_per_node=counter.peak,
            game_lock_wait_ms=wait_per_op_ms(waits_before, waits, "game"),
            lobby_lock_wait_ms=wait_per_op_ms(waits_before, waits, "lobby"),
            other_cpu_pct=round(100 * max(0.0, busy - ours) / wall, 1),
            logs=str(run_dir),
        )
        return result
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            if isinstance(node, ProfiledNode):
                node.dump()
            node.stop()
        for path in profiles:
            print_profile(path)
        if client is not None:
            doomed = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if doomed:
                client.delete(*doomed)


def median_run(runs: list[dict]) -> dict:
    key = "matches_per_s" if any("matches_per_s" in r for r in runs) else "deliveries_per_s"
    ok = [r for r in runs if key in r] or runs
    ok.sort(key=lambda r: r.get(key) or 0)
    chosen = dict(ok[len(ok) // 2])
    chosen["lost"] = sum(r.get("lost", 0) or 0 for r in runs)
    chosen["runs"] = len(runs)
    return chosen


COLUMNS = [
    ("nodes", "nodes"),
    ("deliveries_per_s", "deliveries/s"),
    ("duration_s", "send->last, s"),
    ("lost", "lost"),
    ("nodes_cpu_s", "nodes CPU s"),
    ("nodes_cpu_phase_s", "nodes CPU s sending"),
    ("nginx_cpu_s", "nginx CPU s"),
    ("redis_cpu_s", "Redis CPU s"),
    ("loadgen_cpu_s", "loadgen CPU s"),
    ("clients_per_node", "clients per node"),
    ("other_cpu_pct", "other CPU %"),
]


GAME_COLUMNS = [
    ("nodes", "nodes"),
    ("matches_per_s", "matches/s"),
    ("match_p50_ms", "match p50, ms"),
    ("match_p99_ms", "match p99, ms"),
    ("error_count", "refused acks"),
    ("game_lock_wait_ms", "game lock wait, ms/op"),
    ("lobby_lock_wait_ms", "lobby lock wait, ms/op"),
    ("nodes_cpu_s", "nodes CPU s"),
    ("nodes_cpu_phase_s", "nodes CPU s playing"),
    ("nginx_cpu_s", "nginx CPU s"),
    ("redis_cpu_s", "Redis CPU s"),
    ("loadgen_cpu_s", "loadgen CPU s"),
    ("clients_per_node", "clients per node"),
    ("other_cpu_pct", "other CPU %"),
]


def ratios(rows: list[dict], scenario: str) -> list[dict]:
    """Each row against the one node without Redis (issue 24's targets), from the CPU the
    nodes (and Redis) spent in the measured phase: deliveries, or playing."""
    base = next((r for r in rows if not r["redis"]), None)
    if base is None:
        return []
    out = []
    for row in rows:
        if row is base:
            continue
        entry: dict = {"nodes": row["nodes"]}
        if scenario == "games":
            per_cpu = {
                id(r): (r.get("matches_completed") or 0) / r["nodes_cpu_phase_s"]
                for r in (row, base)
                if r.get("nodes_cpu_phase_s")
            }
            if len(per_cpu) == 2:
                entry["matches_per_cpu_s"] = round(per_cpu[id(row)] / per_cpu[id(base)], 2)
            if row.get("match_p99_ms") and base.get("match_p99_ms"):
                entry["match_p99"] = round(row["match_p99_ms"] / base["match_p99_ms"], 2)
            if row.get("matches_per_s") and base.get("matches_per_s"):
                entry["matches_per_s"] = round(row["matches_per_s"] / base["matches_per_s"], 2)
            total = {
                id(r): (r["nodes_cpu_phase_s"] + r.get("redis_cpu_phase_s", 0))
                / r["matches_completed"]
                for r in (row, base)
                if r.get("nodes_cpu_phase_s") and r.get("matches_completed")
            }
            if len(total) == 2:
                entry["cpu_s_per_match_with_redis"] = round(total[id(row)] / total[id(base)], 2)
        else:
            per = {
                id(r): r["nodes_cpu_phase_s"] / r["deliveries"]
                for r in (row, base)
                if r.get("nodes_cpu_phase_s") and r.get("deliveries")
            }
            if len(per) == 2:
                entry["cpu_per_delivery"] = round(per[id(row)] / per[id(base)], 2)
            if row.get("deliveries_per_s") and base.get("deliveries_per_s"):
                entry["deliveries_per_s"] = round(
                    row["deliveries_per_s"] / base["deliveries_per_s"], 2
                )
        out.append(entry)
    return out


TARGETS = {
    "cpu_per_delivery": "<= 1.5 (1 node)",
    "matches_per_cpu_s": ">= 0.7 (1 node)",
    "match_p99": "<= 1.5 (1 node)",
    "cpu_s_per_match_with_redis": "<= 1.3 (2 nodes, on 2 cores)",
}


def print_ratios(entries: list[dict]) -> None:
    if not entries:
        return
    print("ratios against 1* (one process without Redis; CPU of the measured phase):")
    for entry in entries:
        parts = [f"{k} {v}x (target {TARGETS[k]})" if k in TARGETS else f"{k} {v}x"
                 for k, v in entry.items() if k != "nodes"]  # fmt: skip
        print(f"  {entry['nodes']} node(s) on Redis: " + ", ".join(parts))


def print_table(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> None:
    cells = [[title for _, title in columns]]
    for row in rows:
        label = f"{row['nodes']}{'' if row['redis'] else '*'}"
        values = [label] + [str(row.get(key, "")) for key, _ in columns[1:]]
        cells.append(values)
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)))
    print("* one node without Redis (no message queue)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=("fanout", "games"), default="fanout")
    parser.add_argument("--nodes", default="1,2,4", help="node counts, comma-separated")
    parser.add_argument("--no-baseline", action="store_true", help="skip 1 node without Redis")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--players", type=int, default=100, help="games: players")
    parser.add_argument("--duration", type=int, default=10, help="games: seconds")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=int, default=100, help="seconds per loadgen run")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--database-url", default="memory://")
    parser.add_argument("--out", help="also append the JSON record to this file (bench/report.py)")
    parser.add_argument("--profile", help="run the nodes under cProfile, profiles in this dir")
    args = parser.parse_args()
    if not (ROOT / "bench" / "node_modules" / "socket.io-client").exists():
        sys.exit("bench/node_modules is missing: run `cd bench && npm ci` first")
    plan = [] if args.no_baseline else [(1, False)]
    plan += [(int(n), True) for n in args.nodes.split(",")]
    rows = []
    for count, redis_on in plan:
        runs = []
        for attempt in range(args.repeat):
            print(f"... {count} node(s){'' if redis_on else ' without Redis'}, run {attempt + 1}")
            runs.append(one_run(count, redis_on, args))
        rows.append(median_run(runs) | {"all_runs": runs})
    print_table(rows, GAME_COLUMNS if args.scenario == "games" else COLUMNS)
    compared = ratios(rows, args.scenario)
    print_ratios(compared)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: figures indicative")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"cluster-{args.scenario}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    record = {
        "kind": f"cluster-{args.scenario}",
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
        "options": vars(args),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "rows": rows,
        "ratios": compared,
    }
    path.write_text(json.dumps(record) + "\n")
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(record) + "\n")
    print(f"saved {path}")


if __name__ == "__main__":
    main()

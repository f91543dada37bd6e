#!/usr/bin/env python3
"""The performance report: runs every benchmark, draws the plots, rewrites docs/performance.md.

Usage:
    .venv/bin/python bench/report.py [--quick] [--soak-minutes N] [--reuse PART,...]
    .venv/bin/python bench/report.py --quick --only games --page /tmp/performance.md

Parts, run one after the other (each prints its own tables as it goes):
    scenarios  run.py all: fanout, latency, capacity, joinstorm, games, Node and ours
    games      run.py games with SQLite (results persisted), both servers; and
               cluster_fanout.py --scenario games: 1 and 2 nodes on Redis behind nginx
    sweep      run.py latency at 25/50/100/200/400 msg/s, both servers  -> docs/latency.png
    history    history_bench.py: acked + fanout on memory://, SQLite, PostgreSQL
    soak       soak.py for --soak-minutes (10)                          -> docs/soak.png
Then docs/performance.md is rewritten from bench/performance.md.in with the figures.

The full report takes about 25 minutes on the 2-core machine (the soak is 10 of them); --quick
takes about 8 (one fanout run, shorter runs, three sweep points, a 2-minute soak; the games part
about 1.5 of them).
`--reuse soak` (or any parts, comma-separated; `--reuse all` renders only) takes that part's
figures from its newest saved run in bench/results/ instead of running it again; `--only games`
runs only the parts named and takes the others from their newest saved runs. `--page` writes the
page (and its plots) elsewhere than docs/, for a trial run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shlex
import sqlite3
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import databases
import history_bench
import psutil
import run
import soak

PARTS = ("scenarios", "games", "sweep", "history", "soak", "longsoak")
DOCS = run.ROOT / "docs"
TEMPLATE = run.BENCH / "performance.md.in"
PAGE = DOCS / "performance.md"
PY = sys.executable
SWEEP_RATES = {"full": (25, 50, 100, 200, 400), "quick": (25, 100, 400)}
SCENARIO_ORDER = (
    "fanout",
    "latency",
    "capacity",
    "joinstorm",
    "games",
    "games_sqlite",
    "games_floor",
    "acked",
)
# The games part's run on SQLite, stored under its own name beside the scenarios' records.
SQLITE_GAMES = "games_sqlite"
# The Node peer's game as plain Flask-SocketIO handlers on our stack: what the stack costs alone.
FLOOR_GAMES = "games_floor"
FLOOR_PEER = "bench/peers/flask_minimal.py"
CLUSTER = "cluster-games"
CLUSTER_CHAT = "cluster-fanout"  # chat on one node with and without Redis (issue 24)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="shorter runs, 2-minute soak (~8 min)")
    ap.add_argument("--soak-minutes", type=float, help="soak length (10; --quick 2)")
    ap.add_argument(
        "--long-soak-minutes",
        type=float,
        default=0.0,
        help="also run a longer soak (e.g. 25: finished games are kept 10 minutes, so RSS can "
        "only level off after that); 0 = none (default)",
    )
    ap.add_argument("--history-rounds", type=int, help="history_bench.py --rounds (2; quick 1)")
    ap.add_argument("--reuse", default="", help="parts taken from their newest saved run")
    ap.add_argument(
        "--only", default="", help="run only these parts; the others from their newest saved run"
    )
    ap.add_argument("--page", type=Path, default=PAGE, help=f"where to write the page ({PAGE})")
    args = ap.parse_args(argv)
    reuse = {p.strip() for p in args.reuse.split(",") if p.strip()}
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if only - set(PARTS):
        ap.error(f"--only takes {', '.join(PARTS)}")
    args.only = only
    if only:
        reuse |= set(PARTS) - only
    args.reuse = set(PARTS) if "all" in reuse else reuse
    if args.reuse - set(PARTS):
        ap.error(f"--reuse takes {', '.join(PARTS)} or all")
    if args.soak_minutes is None:
        args.soak_minutes = 2.0 if args.quick else 10.0
    return args


# ---------------------------------------------------------------- running the parts


def part_commands(part: str, args, out: Path) -> list[list[str]]:
    quick = args.quick
    bench = lambda name: str(run.BENCH / name)  # noqa: E731
    if part == "scenarios":
        # run.py all, one scenario at a time: the latency target's p99 swings from run to run,
        # so it gets the median of 3 (fanout has 3 by default); acked is added for Node too.
        extra = {"latency": ["--repeat", "3"]}
        if quick:
            extra = {"fanout": ["--repeat", "1"], "latency": ["--duration", "5"]}
            extra["games"] = ["--duration", "5"]
        return [
            [PY, bench("run.py"), sc, "--out", str(out), *extra.get(sc, [])]
            for sc in (*run.SCENARIOS, "acked")
        ]
    if part == "games":
        # games with results persisted: a fresh SQLite file (as history_bench.py does the chat)
        db = Path(tempfile.mkdtemp(prefix="rpschat-report-games-")) / "bench.db"
        sqlite = [PY, bench("run.py"), "games", "--out", str(out)]
        sqlite += ["--python-env", f"DATABASE_URL=sqlite:///{db}"]
        # the floor: the Node peer's game as Flask-SocketIO handlers, with our speed-ups
        floor = [PY, bench("run.py"), "games", "--out", str(out)]
        floor += [
            "--python-cmd",
            f".venv/bin/python {FLOOR_PEER}",
            "--python-env",
            "PEER_STACK=ours",
        ]
        # with the row without Redis: the ratios of issue 24's targets are against it
        cluster = [PY, bench("cluster_fanout.py"), "--scenario", "games", "--nodes", "1,2"]
        cluster += ["--out", str(out)]
        chat = [PY, bench("cluster_fanout.py"), "--scenario", "fanout", "--nodes", "1"]
        chat += ["--out", str(out)]
        if quick:
            sqlite += ["--duration", "5"]
            floor += ["--duration", "5"]
            cluster += ["--repeat", "1", "--duration", "5", "--timeout", "30"]
            chat += ["--repeat", "1", "--timeout", "30"]
        else:
            sqlite += ["--repeat", "3"]
            floor += ["--repeat", "3"]
            cluster += ["--repeat", "3", "--timeout", "40"]
            chat += ["--repeat", "3", "--timeout", "40"]
        return [sqlite, floor, cluster, chat]
    if part == "sweep":
        rates = SWEEP_RATES["quick" if quick else "full"]
        dur = sweep_duration(args)
        return [
            [PY, bench("run.py"), "latency", "--rate", str(r), "--duration", str(dur)]
            + ["--out", str(out)]
            for r in rates
        ]
    if part == "history":
        rounds = args.history_rounds or (1 if quick else 2)
        extra = ["--rounds", str(rounds)] + (["--duration", "5"] if quick else [])
        return [[PY, bench("history_bench.py"), "--out", str(out), *extra]]
    if part in ("soak", "longsoak"):
        minutes = str(args.soak_minutes if part == "soak" else args.long_soak_minutes)
        return [[PY, bench("soak.py"), "--minutes", minutes, "--out", str(out), "--plot", ""]]
    raise ValueError(part)


def sweep_duration(args) -> int:
    return 5 if args.quick else 6


def part_timeout(part: str, args) -> float:
    """Bounds for a whole part (every command in it also bounds itself)."""
    if part in ("soak", "longsoak"):
        return (args.soak_minutes if part == "soak" else args.long_soak_minutes) * 60 + 420
    return {"scenarios": 1200, "games": 900, "sweep": 900, "history": 900}[part]


def code_state() -> dict:
    """The commit under test, and our server's files that differ from it (others edit them
    while benchmarks run: the figures belong to what was on disk)."""
    git = lambda *a: command_output(["git", "-C", str(run.ROOT), *a])  # noqa: E731
    dirty = git("status", "--porcelain", "--", "app.py", "rpschat").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": [d[3:] for d in dirty]}


def meta_path(out: Path) -> Path:
    return out.with_name(out.name.replace(".jsonl", ".meta.json"))


def run_part(part: str, args, stamp: str) -> Path:
    out = run.RESULTS / f"report-{part}-{stamp}.jsonl"
    before = code_state()
    deadline = time.monotonic() + part_timeout(part, args)
    for cmd in part_commands(part, args, out):
        print(f"\n$ {shlex.join(cmd)}", flush=True)
        left = deadline - time.monotonic()
        if left <= 0:
            print(f"(report: {part} out of time; skipping the rest)", flush=True)
            break
        try:
            rc = subprocess.run(cmd, cwd=run.ROOT, timeout=left).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"  # subprocess.run killed it; its own children stop with its group
        if rc:
            print(f"(report: exit status {rc} from {cmd[1]}; its figures are reported as is)")
    after = code_state()
    meta = {**before, "changed_during_run": before != after}
    meta_path(out).write_text(json.dumps(meta))
    return out


def newest(part: str) -> Path | None:
    """The newest saved result of a part: report.py's own, or a standalone run's (for the soaks,
    only one with the default workload: the diagnostic runs with other options don't count)."""
    patterns = [f"report-{part}-*.jsonl"]
    patterns += {"soak": ["soak-*.json"], "longsoak": ["soak-*.json"]}.get(part, [])
    patterns += {"history": ["history-*.json"]}.get(part, [])
    files = sorted(
        {f for p in patterns for f in run.RESULTS.glob(p)},
        # history_bench.py and soak.py write report.py's file and their own at the same moment
        key=lambda f: (int(f.stat().st_mtime), f.name.startswith("report-")),
        reverse=True,
    )
    return next((f for f in files if accepts(part, load(f))), None)


SOAK_WORKLOAD = {"server": "python", "chatters": 250, "players": 50, "rate": 20.0}


def accepts(part: str, records: list[dict]) -> bool:
    if not records:
        return False
    if part not in ("soak", "longsoak"):
        return True
    opts = records[-1].get("options", {})
    if any(opts.get(k) != v for k, v in SOAK_WORKLOAD.items()):
        return False
    return (opts.get("minutes", 0) > 10) == (part == "longsoak")


def load(path: Path | None) -> list[dict]:
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------- machine


def command_output(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return out.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def postgres_version() -> str:
    if databases.pg_unavailable():
        return "not available"
    import psycopg

    with psycopg.connect(databases.PG_ADMIN_URL, connect_timeout=5) as conn:
        return "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0]


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def node_package_version(name: str) -> str:
    path = run.BENCH / "node_modules" / name / "package.json"
    return json.loads(path.read_text()).get("version", "?") if path.exists() else "?"


def machine() -> list[tuple[str, str]]:
    mem = psutil.virtual_memory().total / 2**30
    py_pkgs = ", ".join(
        f"{p} {package_version(p)}"
        for p in ("Flask-SocketIO", "python-socketio", "python-engineio", "eventlet")
    )
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU model", cpu_model()),
        ("memory", f"{mem:.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", f"{platform.python_version()} ({py_pkgs})"),
        (
            "Node.js",
            f"{command_output([run.NODE, '--version'])} (socket.io "
            f"{node_package_version('socket.io')}, socket.io-client "
            f"{node_package_version('socket.io-client')})",
        ),
        ("SQLite", sqlite3.sqlite_version),
        ("PostgreSQL", postgres_version()),
        ("load average at the start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
    ]


# ---------------------------------------------------------------- markdown


def md_table(header: list[str], rows: list[list], align: str | None = None) -> str:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = [header, sep] + [[run.fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def scenario_tables(records: dict[str, dict]) -> str:
    out = []
    for name in SCENARIO_ORDER:
        rec = records.get(name)
        if not rec:
            out.append(f"### {name}\n\nnot run.")
            continue
        servers = rec["servers"]
        names = [n for n in ("node", "python") if n in servers]
        rows = []
        for key, label, lower in run.FIGURES[rec["scenario"]]:
            r = rec["ratio_python_over_node"].get(key)
            hint = "lower is better" if lower else "higher is better"
            ratio = "-" if r is None else f"{r:.2f}x ({hint})"
            rows.append([label, *[servers[n].get(key) for n in names], ratio])
        errors = [
            f"\n**{n}: {servers[n]['error']}**"
            for n in names
            if isinstance(servers[n].get("error"), str)
        ]
        opts = rec.get("options", {})
        shown = {k: opts[k] for k in ("repeat", "rate", "duration", "clients") if k in opts}
        if name == SQLITE_GAMES:
            shown["python_env"] = "DATABASE_URL=sqlite:///<temp dir>/bench.db"
        if name == FLOOR_GAMES:
            shown["python_cmd"] = f"{FLOOR_PEER} (PEER_STACK=ours)"
        detail = f" (options: {json.dumps(shown)})" if shown else ""
        out.append(
            f"### {name}\n\nRun at {rec['timestamp']}{detail}.\n\n"
            + md_table(["figure", *names, "python/node"], rows)
            + "".join(errors)
        )
    return "\n\n".join(out)


def ratio_of(rec: dict | None, key: str) -> float | None:
    return (rec or {}).get("ratio_python_over_node", {}).get(key)


def fig(rec: dict | None, server: str, key: str):
    return ((rec or {}).get("servers", {}).get(server) or {}).get(key)


def mark(ok: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "-"}[ok]


def cost_mark(*costs: float) -> str:
    """Storage cost against the 10 % limit, by two measures that may disagree on a busy machine."""
    ok = [c < history_bench.COST_LIMIT_PCT for c in costs]
    return "yes" if all(ok) else "**no**" if not any(ok) else "mixed: one of the two"


# (label, scenario, figure, limit as text, bound): the bound is on the python/node ratio,
# ("min" | "max", x), or "zero" for a figure of ours that must be 0, or None (reported only).
TARGET_ROWS = [
    (
        "fan-out deliveries/s",
        "fanout",
        "deliveries_per_s",
        ">= 0.5x Node, nothing lost",
        ("min", 0.5),
    ),
    (
        "fan-out deliveries per server CPU s",
        "fanout",
        "deliveries_per_server_cpu_s",
        "(steadier)",
        None,
    ),
    (
        "p99 latency at 50 msg/s into 200 clients, ms",
        "latency",
        "p99_ms",
        "<= 3x Node, nothing lost",
        ("max", 3),
    ),
    ("deliveries lost at 50 msg/s", "latency", "lost", "0", "zero"),
    (
        "10,000 WebSocket clients: RSS per client, bytes",
        "capacity",
        "bytes_per_client",
        "<= 1.5x Node, all connected",
        ("max", 1.5),
    ),
    ("join storm (1,000 clients): joins/s", "joinstorm", "clients_per_s", "reported", None),
    ("join storm: joins per server CPU s", "joinstorm", "joins_per_server_cpu_s", "reported", None),
    ("games: matches completed/s", "games", "matches_per_s", "reported", None),
    (
        "games: matches per server CPU s",
        "games",
        "matches_per_server_cpu_s",
        ">= 1.0x Node",
        ("min", 1.0),
    ),
    ("games: match duration p99, ms", "games", "match_p99_ms", "<= 1.5x Node", ("max", 1.5)),
    ("games: server RSS peak, MB", "games", "server_rss_peak_mb", "<= 1.5x Node", ("max", 1.5)),
    (
        "games, floor (the Node peer's game as Flask-SocketIO handlers): matches per server CPU s",
        FLOOR_GAMES,
        "matches_per_server_cpu_s",
        "reported",
        None,
    ),
    (
        "games, floor: match duration p99, ms",
        FLOOR_GAMES,
        "match_p99_ms",
        "reported",
        None,
    ),
    (
        "games on SQLite (results persisted): matches per server CPU s",
        SQLITE_GAMES,
        "matches_per_server_cpu_s",
        ">= 0.7x Node",
        ("min", 0.7),
    ),
]


def target_met(rec: dict | None, key: str, bound) -> bool | None:
    """Within the bound, with nothing lost, no client failed and no error on our side."""
    py = ((rec or {}).get("servers") or {}).get("python") or {}
    if bound is None or not py:
        return None
    if bound == "zero":
        return py.get(key) == 0
    r = ratio_of(rec, key)
    if r is None:
        return None
    kind, x = bound
    clean = not py.get("lost") and not py.get("failed") and "error" not in py
    return (r >= x if kind == "min" else r <= x) and clean


def floor_row(records: dict) -> list:
    """Our server's games per CPU second over the floor's: what our code adds to the stack."""
    label = "games: our server's matches per server CPU s over the floor's (memory://)"
    ours = fig(records.get("games"), "python", "matches_per_server_cpu_s")
    floor = fig(records.get(FLOOR_GAMES), "python", "matches_per_server_cpu_s")
    if not isinstance(ours, (int, float)) or not isinstance(floor, (int, float)) or not floor:
        return [label, "not run", "reported", "-"]
    return [label, f"{run.fmt(ours)} / {run.fmt(floor)}: {ours / floor:.2f}x", "reported", "-"]


def cluster_rows(cluster: dict | None) -> dict[int, dict]:
    """The games on Redis by node count (the medians cluster_fanout.py chose)."""
    return {r["nodes"]: r for r in (cluster or {}).get("rows", []) if r.get("redis")}


def cluster_target(cluster: dict | None) -> list:
    label = "games on Redis behind nginx: matches/s, 2 nodes vs 1 (game lock wait per op)"
    by_nodes = cluster_rows(cluster)
    one, two = by_nodes.get(1, {}), by_nodes.get(2, {})
    a, b = one.get("matches_per_s"), two.get("matches_per_s")
    if a is None or b is None:
        return [label, "not run", "2 nodes >= 1 node", "-"]
    figure = (
        f"{run.fmt(b)} ({run.fmt(two.get('game_lock_wait_ms'))} ms) vs "
        f"{run.fmt(a)} ({run.fmt(one.get('game_lock_wait_ms'))} ms): {b / a:.2f}x"
    )
    clean = not one.get("lost") and not two.get("lost")
    return [label, figure, "2 nodes >= 1 node", mark(b >= a and clean)]


# issue 24's targets: (label, record ("games" or "chat"), node count, ratio key, limit, bound)
SCALE_OUT_TARGETS = [
    ("games, 1 node on Redis: matches per server CPU s", "games", 1, "matches_per_cpu_s",
     ">= 0.7x one process", ("min", 0.7)),
    ("games, 1 node on Redis: match p99", "games", 1, "match_p99", "<= 1.5x one process",
     ("max", 1.5)),
    ("games, 2 nodes on Redis: CPU s per match (nodes + Redis)", "games", 2,
     "cpu_s_per_match_with_redis", "<= 1.3x one process (2 cores)", ("max", 1.3)),
    ("chat, 1 node on Redis: server CPU per delivery", "chat", 1, "cpu_per_delivery",
     "<= 1.5x one process", ("max", 1.5)),
]  # fmt: skip


def scale_out_rows(cluster: dict | None) -> list[list]:
    """Ratios cluster_fanout.py printed against one process without Redis (its `ratios`)."""
    rows = []
    for label, which, nodes, key, limit, (kind, bound) in SCALE_OUT_TARGETS:
        record = (cluster or {}).get("chat") if which == "chat" else cluster
        found = [r for r in (record or {}).get("ratios", []) if r.get("nodes") == nodes]
        value = found[0].get(key) if found else None
        if value is None:
            rows.append([label, "not run", limit, "-"])
            continue
        ok = value >= bound if kind == "min" else value <= bound
        rows.append([label, f"{value:.2f}x", limit, mark(ok)])
    return rows


def cluster_section(cluster: dict | None) -> str:
    if not cluster:
        return "not run."
    opts = cluster.get("options", {})
    rows = [
        [
            r["nodes"] if r.get("redis") else f"{r['nodes']} (no Redis)",
            *[r.get(key) for key in CLUSTER_COLUMNS[1:]],
            r.get("runs"),
        ]
        for r in cluster.get("rows", [])
    ]
    headers = [CLUSTER_HEADINGS[k] for k in CLUSTER_COLUMNS] + ["runs"]
    command = (
        f"bench/cluster_fanout.py --scenario games --nodes {opts.get('nodes')} "
        f"--repeat {opts.get('repeat')} --duration {opts.get('duration')} "
        f"--timeout {opts.get('timeout')}"
    )
    ratios = [
        f"- {what}, {r['nodes']} node(s) on Redis against one process without it: "
        + ", ".join(f"{k} {v}x" for k, v in r.items() if k != "nodes")
        for what, record in (("games", cluster), ("chat", cluster.get("chat") or {}))
        for r in record.get("ratios", [])
    ]
    return "\n".join(
        [
            f"Run at {cluster.get('timestamp', '?')}: `{command}` ({opts.get('players')} players,"
            " best of 3; medians by matches/s). Lock waits per operation, from the nodes'"
            " `/metrics` (`rpschat_lock_wait_seconds`). The row `1 (no Redis)` is one process;"
            " ratios use the CPU of the measured phase (playing, or sending), load average"
            f" {cluster.get('load_average', '?')}.",
            "",
            md_table(headers, rows),
            "",
            *ratios,
        ]
    )


CLUSTER_COLUMNS = [
    "nodes",
    "matches_per_s",
    "match_p50_ms",
    "match_p99_ms",
    "game_lock_wait_ms",
    "lobby_lock_wait_ms",
    "nodes_cpu_s",
    "redis_cpu_s",
    "other_cpu_pct",
]
CLUSTER_HEADINGS = {
    "nodes": "nodes",
    "matches_per_s": "matches/s",
    "match_p50_ms": "match p50, ms",
    "match_p99_ms": "match p99, ms",
    "game_lock_wait_ms": "game lock wait, ms/op",
    "lobby_lock_wait_ms": "lobby lock wait, ms/op",
    "nodes_cpu_s": "nodes CPU s",
    "redis_cpu_s": "Redis CPU s",
    "other_cpu_pct": "others' CPU %",
}


def targets(records: dict, history: dict | None, cluster: dict | None, *soaks: dict | None) -> str:
    rows = []
    for label, scenario, key, limit, bound in TARGET_ROWS:
        rec = records.get(scenario)
        py, node = fig(rec, "python", key), fig(rec, "node", key)
        r = ratio_of(rec, key)
        ratio = "-" if r is None else f"{r:.2f}x"
        rows.append([label, py, node, ratio, limit, mark(target_met(rec, key, bound))])
    table = md_table(["target", "python", "node", "python/node", "limit", "met"], rows, "lrrrll")
    extra = [cluster_target(cluster), *scale_out_rows(cluster), floor_row(records)]
    for r in (history or {}).get("rows", []):
        c1, c2 = r.get("fanout deliveries/s cost %"), r.get("fanout per CPU s cost %")
        if r["storage"] in ("memory", "node (no storage)") or c1 is None:
            continue
        extra.append(
            [
                f"history on {r['storage']}: fan-out cost (deliveries/s; per CPU s)",
                f"{c1} %; {c2} %",
                "< 10 %",
                cost_mark(c1, c2),
            ]
        )
    for kind, reason in (history or {}).get("skipped", {}).items():
        extra.append([f"history on {kind}", f"skipped: {reason}", "< 10 %", "-"])
    for rec in filter(None, soaks):
        t, lv = rec["totals"], rec["levels_off"]
        what = f"soak, {rec['options'].get('minutes', 0):g} min"
        extra.append(
            [
                f"{what}: RSS growth over the second half",
                f"{lv.get('growth_second_half_pct')} %",
                "< 5 % (levels off)",
                mark(lv.get("levels_off")),
            ]
        )
        extra.append(
            [
                f"{what}: errors; messages lost",
                f"{t.get('error_count')}; {t.get('lost')}",
                "0; 0",
                mark(not t.get("error_count") and not t.get("lost") and "error" not in t),
            ]
        )
    table2 = md_table(["target (ours alone)", "figure", "limit", "met"], extra, "lrll")
    return table + "\n\n" + table2


def sweep_section(sweep: list[dict]) -> str:
    rows = []
    for rec in sorted(sweep, key=sweep_rate):
        s = rec["servers"]
        n, p = s.get("node") or {}, s.get("python") or {}
        rows.append(
            [
                f"{sweep_rate(rec):g}",
                n.get("p50_ms"),
                n.get("p99_ms"),
                p.get("p50_ms"),
                p.get("p99_ms"),
                f"{ratio_of(rec, 'p99_ms') or 0:.2f}x",
                f"{run.fmt(n.get('lost'))} / {run.fmt(p.get('lost'))}",
                f"{run.fmt(n.get('loadgen_cpu_s'))} / {run.fmt(p.get('loadgen_cpu_s'))}",
                f"{run.fmt(n.get('other_cpu_pct'))} / {run.fmt(p.get('other_cpu_pct'))}",
            ]
        )
    if not rows:
        return "not run."
    return md_table(
        [
            "msg/s",
            "node p50 ms",
            "node p99 ms",
            "python p50 ms",
            "python p99 ms",
            "p99 python/node",
            "lost node / python",
            "loadgen CPU s node / python",
            "others' CPU % node / python",
        ],
        rows,
    )


def sweep_rate(rec: dict) -> float:
    return float(rec.get("options", {}).get("rate") or 50)


def plot_sweep(sweep: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    recs = sorted(sweep, key=sweep_rate)
    fig_, ax = plt.subplots(figsize=(8, 5))
    for server, color in (("node", "C0"), ("python", "C3")):
        pts = [(sweep_rate(r), r["servers"].get(server) or {}) for r in recs]
        pts = [(x, s) for x, s in pts if s.get("p99_ms") is not None]
        xs = [x for x, _ in pts]
        ax.plot(
            xs,
            [s["p50_ms"] for _, s in pts],
            color=color,
            ls="--",
            marker="o",
            label=f"{server} p50",
        )
        ax.plot(xs, [s["p99_ms"] for _, s in pts], color=color, marker="s", label=f"{server} p99")
        for x, s in pts:
            if s.get("lost"):
                ax.annotate(f"lost {s['lost']}", (x, s["p99_ms"]), fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    soak.plain_log_axis(ax.yaxis)
    ax.set_xticks([sweep_rate(r) for r in recs], [f"{sweep_rate(r):g}" for r in recs])
    ax.xaxis.set_minor_formatter(NullFormatter())  # only the swept rates as labels
    ax.set_xlabel("offered messages/s (200 clients: each delivered to 199)")
    ax.set_ylabel("send-to-delivery latency, ms")
    ax.set_title("latency against offered load, Node Socket.IO 4 peer vs ours")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig_.tight_layout()
    fig_.savefig(path, dpi=100)
    plt.close(fig_)


def history_section(history: dict | None) -> str:
    if not history:
        return "not run."
    cols = history_bench.COLUMNS
    rows = [[r.get(k) for k, _ in cols] for r in history["rows"]]
    text = md_table([h for _, h in cols], rows)
    notes = [f"- {kind}: skipped ({reason})" for kind, reason in history.get("skipped", {}).items()]
    for r in history["rows"]:
        notes += [f"- {r['storage']}: ERROR {e[:200]}" for e in r.get("errors", [])]
    notes += [f"- {line}" for line in history_bench.verdicts(history["rows"])]
    when = f"Run at {history['timestamp']}."
    return "\n".join([when, "", text, "", *notes])


def soak_section(rec: dict | None) -> str:
    if not rec:
        return "not run."
    t, lv = rec["totals"], rec["levels_off"]
    minutes = md_table(
        [h for _, h in soak.COLUMNS], [[r.get(k) for k, _ in soak.COLUMNS] for r in rec["minutes"]]
    )
    totals = md_table(["total", "figure"], [[label, t.get(k)] for k, label in soak.TOTALS], "lr")
    verdict = "levels off" if lv.get("levels_off") else "does **not** level off"
    failed = soak.checks(rec)
    lines = [
        f"Run at {rec['timestamp']}. Memory {verdict}: RSS {lv.get('rss_mid_mb')} MB at "
        f"half-time, {lv.get('rss_end_mb')} MB at the end ({lv.get('growth_second_half_pct')} %, "
        f"limit {lv.get('limit_pct')} %; slope over the second half "
        f"{lv.get('slope_second_half_mb_per_min')} MB/min). Peak RSS {t.get('rss_peak_mb')} MB.",
        "",
        "Per minute (latency per minute over every delivery in it; RSS at the minute's end):",
        "",
        minutes,
        "",
        totals,
    ]
    if failed:
        lines += ["", *[f"- **check failed: {f}**" for f in failed]]
    return "\n".join(lines)


def longsoak_section(rec: dict | None, docs: Path = DOCS) -> str:
    if not rec:
        return ""
    soak.plot(rec, str(docs / "soak-long.png"))
    minutes = run.fmt(rec["options"].get("minutes"))
    return "\n".join(
        [
            f"The same workload for {minutes} minutes (`bench/soak.py --minutes {minutes}`), "
            "past the 10 minutes finished games are kept:",
            "",
            "![longer soak: RSS, latency and CPU over time](soak-long.png)",
            "",
            soak_section(rec),
        ]
    )


def background(all_runs: list[dict]) -> str:
    vals = [v for v in all_runs if isinstance(v, (int, float))]
    if not vals:
        return ""
    return (
        f"During this report it ranged from {min(vals):.0f} % to {max(vals):.0f} % "
        f"(median {sorted(vals)[len(vals) // 2]:.0f} %) over the {len(vals)} measured runs."
    )


def others_cpu(
    records: dict, sweep: list[dict], history: dict | None, cluster: dict | None, *soak_recs
) -> list:
    rows = (cluster or {}).get("rows", [])
    cluster_runs = [r for row in rows for r in row.get("all_runs", [row])]
    vals = [r.get("other_cpu_pct") for r in cluster_runs]
    for rec in [*records.values(), *sweep]:
        for s in rec.get("servers", {}).values():
            vals += [r.get("other_cpu_pct") for r in (s or {}).get("repeats", [s or {}])]
    for by_sc in (history or {}).get("runs", {}).values():
        vals += [r.get("other_cpu_pct") for rs in by_sc.values() for r in rs]
    for rec in soak_recs:
        vals.append((rec or {}).get("totals", {}).get("other_cpu_pct"))
    return vals


def code_note(path: Path | None) -> str:
    meta = meta_path(path) if path and path.suffix == ".jsonl" else None
    if not meta or not meta.exists():
        return "commit not recorded"
    m = json.loads(meta.read_text())
    text = f"commit {m['commit']}"
    if m.get("dirty"):
        text += f" with uncommitted changes to {', '.join(m['dirty'])}"
    if m.get("changed_during_run"):
        text += " (the code changed during the run)"
    return text


def provenance(results: dict, sources: dict[str, Path], paths: dict[str, Path]) -> str:
    ran = [p for p in results if p not in sources and results[p]]
    text = f"Parts run by that command: {', '.join(ran) or 'none'}."
    if sources:
        saved = ", ".join(
            f"{p} (`{path.relative_to(run.ROOT)}`, {results[p][-1].get('timestamp', '?')})"
            for p, path in sources.items()
        )
        text += f" Parts taken from earlier saved runs of the same commands: {saved}."
    codes = {p: code_note(paths.get(p)) for p in results if results[p]}
    if len(set(codes.values())) == 1:
        return text + f" Code under test: {next(iter(codes.values()))}."
    return text + " Code under test: " + "; ".join(f"{p}: {c}" for p, c in codes.items()) + "."


STORAGE_TEXT = {
    "sqlite": "SQLite storage (DATABASE_URL=sqlite:///<temp dir>/bench.db)",
    "memory": "DATABASE_URL=memory://",
    "postgres": "PostgreSQL storage (a throwaway database)",
    "-": "the Node peer",
}


def games_part(records: list[dict]) -> tuple[dict | None, dict | None, dict | None]:
    """The games part's run on SQLite and its run of the floor peer (run.py records) and its
    cluster run, the newest of each."""
    runs = [r for r in records if r.get("scenario") == "games"]
    floor = [r for r in runs if FLOOR_PEER in r.get("options", {}).get("python_cmd", "")]
    sqlite = [r for r in runs if r not in floor]
    cluster = [r for r in records if r.get("kind") == CLUSTER]
    chat = [r for r in records if r.get("kind") == CLUSTER_CHAT]
    newest_cluster = (cluster or [None])[-1]
    if newest_cluster is not None and chat:
        newest_cluster = {**newest_cluster, "chat": chat[-1]}
    return (sqlite or [None])[-1], (floor or [None])[-1], newest_cluster


def render(args, results: dict[str, list[dict]], mode: str, sources: dict, paths) -> None:
    records = {r["scenario"]: r for r in results.get("scenarios", [])}
    sqlite_games, floor_games, cluster = games_part(results.get("games", []))
    if sqlite_games is not None:
        records[SQLITE_GAMES] = sqlite_games
    if floor_games is not None:
        records[FLOOR_GAMES] = floor_games
    sweep = results.get("sweep", [])
    history = (results.get("history") or [None])[-1]
    soak_rec = (results.get("soak") or [None])[-1]
    docs = args.page.parent
    if sweep:
        plot_sweep(sweep, docs / "latency.png")
    if soak_rec:
        soak.plot(soak_rec, str(docs / "soak.png"))
    so = (soak_rec or {}).get("options", {})
    t = (soak_rec or {}).get("totals", {})
    values = {
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "command": "bench/report.py"
        + (" --quick" if args.quick else "")
        + (f" --only {','.join(sorted(args.only))}" if args.only else "")
        + (f" --reuse {','.join(sorted(args.reuse))}" if args.reuse and not args.only else ""),
        "mode": mode,
        "provenance": provenance(results, sources, paths),
        "machine": md_table(["", ""], machine(), "ll"),
        "background": background(
            others_cpu(records, sweep, history, cluster, soak_rec, *results.get("longsoak", []))
        ),
        "targets": targets(
            records, history, cluster, soak_rec, (results.get("longsoak") or [None])[-1]
        ),
        "cluster": cluster_section(cluster),
        "scenarios": scenario_tables(records),
        "sweep_duration": f"{sweep[0]['options'].get('duration'):g}" if sweep else "-",
        "sweep": sweep_section(sweep),
        "history_rounds": str((history or {}).get("options", {}).get("rounds", "-")),
        "history": history_section(history),
        "soak_clients": run.fmt(t.get("clients")),
        "soak_minutes": f"{so.get('minutes', 0):g}",
        "soak_storage": STORAGE_TEXT.get((soak_rec or {}).get("storage"), "-"),
        "soak_chatters": run.fmt(so.get("chatters")),
        "soak_rate": f"{so.get('rate', 0):g}",
        "soak_players": run.fmt(so.get("players")),
        "soak_sample": run.fmt(so.get("sample")),
        "soak_interval": run.fmt(so.get("interval")),
        "soak_limit": run.fmt(so.get("growth_limit")),
        "soak": soak_section(soak_rec),
        "longsoak": longsoak_section((results.get("longsoak") or [None])[-1], docs),
    }
    page = string.Template(TEMPLATE.read_text()).safe_substitute(values)
    args.page.write_text(page)


def main(argv=None) -> int:
    args = parse_args(argv)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    DOCS.mkdir(exist_ok=True)
    t0 = time.monotonic()
    results, sources, paths = {}, {}, {}
    for part in PARTS:
        if part == "longsoak" and not (args.long_soak_minutes or part in args.reuse):
            continue
        if part in args.reuse:
            path = newest(part)
            print(f"(report: {part} from {path.relative_to(run.ROOT) if path else 'nothing'})")
        else:
            path = run_part(part, args, stamp)
        results[part] = load(path)
        paths[part] = path
        if part in args.reuse and path is not None:
            sources[part] = path
    minutes = (time.monotonic() - t0) / 60
    ran = [p for p in results if p not in sources and results[p]]
    kind = "quick run" if args.quick else "full run"
    mode = f"{kind}, {minutes:.0f} minutes" if ran else "rendered from saved runs"
    render(args, results, mode, sources, paths)
    print(f"\n(report: wrote {args.page} and its plots in {minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""N rpschat nodes behind nginx on 127.0.0.1: `make cluster` (NODES=3), and the network tests.

    python deploy/cluster.py --nodes 3 --port 4321

Every node runs `python app.py` on a free port with the caller's environment plus
REDIS_URL (default redis://127.0.0.1:6379/0), TRUST_PROXY=true (nginx sets X-Forwarded-For) and
DATABASE_URL if set (else the server's SQLite file: give PostgreSQL for anything serious).
Each node is started and waited for until its /readyz is 200, then nginx (open-source nginx
cannot probe upstreams: this is where readiness is checked). nginx listens on --port with a
config rendered from deploy/nginx.conf.template into a temporary
directory, which also holds the logs of nginx and of every node. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def nginx_binary() -> str | None:
    for candidate in (os.environ.get("NGINX"), "/usr/sbin/nginx", "nginx"):
        if candidate and (Path(candidate).exists() or _on_path(candidate)):
            return candidate
    return None


def _on_path(name: str) -> bool:
    return any(Path(d, name).exists() for d in os.environ.get("PATH", "").split(os.pathsep))


ROUND_ROBIN = "# round robin: only for WebSocket-only clients (one request each), as in bench/"


def render_nginx_config(
    listen_port: int, upstream_ports: list[int], run_dir: Path, sticky: bool = True
) -> str:
    servers = "\n".join(f"        server {HOST}:{port};" for port in upstream_ports)
    template = TEMPLATE.read_text()
    if not sticky:
        template = template.replace("ip_hash;", ROUND_ROBIN)
    return (
        template.replace("{{run_dir}}", str(run_dir))
        .replace("{{listen}}", f"{HOST}:{listen_port}")
        .replace("{{servers}}", servers)
    )


def _wait_until(ready, timeout: float, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout} s")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def _stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout=10.0) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


class Nginx:
    """nginx on `listen_port` in front of `upstream_ports`, run from `run_dir`."""

    def __init__(
        self,
        upstream_ports: list[int],
        run_dir: Path,
        listen_port: int | None = None,
        sticky: bool = True,
    ):
        self.binary = nginx_binary()
        if self.binary is None:
            raise RuntimeError("nginx is not installed (set NGINX=/path/to/nginx)")
        self.run_dir = Path(run_dir)
        self.listen_port = listen_port or free_port()
        self.url = f"http://{HOST}:{self.listen_port}"
        self.config_path = self.run_dir / "nginx.conf"
        self.config_path.write_text(
            render_nginx_config(self.listen_port, upstream_ports, self.run_dir, sticky)
        )
        self.process: subprocess.Popen | None = None

    def _command(self) -> list[str]:
        error_log = str(self.run_dir / "error.log")
        return [self.binary, "-p", str(self.run_dir), "-c", str(self.config_path), "-e", error_log]

    def check(self) -> str:
        """`nginx -t` on the rendered config; raises with nginx's own words if it is wrong."""
        result = subprocess.run(
            [*self._command(), "-t"], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{result.stderr}")
        return result.stderr

    def start(self, timeout: float = 10.0) -> Nginx:
        self.check()
        self.process = subprocess.Popen(
            [*self._command(), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=open(self.run_dir / "nginx.stderr", "wb"),  # noqa: SIM115 (the child's)
            start_new_session=True,
        )
        # ready through nginx: an upstream node answered /readyz with 200
        _wait_until(lambda: _answers(self.url + "/readyz"), timeout, "nginx", self.process)
        return self

    def stop(self) -> None:
        _stop(self.process, signal.SIGQUIT)  # graceful: lets open requests finish

    def error_log(self) -> str:
        path = self.run_dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


class Node:
    """One `python app.py` process on a free port."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = {**env, "HOST": HOST, "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        self.log_path = Path(log_dir) / f"node-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Node:
        self.process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log_path, "wb"),  # noqa: SIM115 (the child's)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # ready, not just alive: its database, Redis and message queue answer (nginx, which
        # cannot probe upstreams itself, is started only once every node is)
        _wait_until(lambda: _answers(self.url + "/readyz"), timeout, "node", self.process)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop(self.process, sig)


def node_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setdefault("SECRET_KEY", "cluster-" + os.urandom(8).hex())  # the same on every node
    env["TRUST_PROXY"] = "true"
    return env


class Cluster:
    """`nodes` nodes and nginx in front of them; `url` is nginx."""

    def __init__(self, nodes: int, port: int | None = None, env: dict | None = None):
        self.run_dir = Path(tempfile.mkdtemp(prefix="rpschat-cluster-"))
        env = node_environment(env)
        self.nodes = [Node(env, self.run_dir) for _ in range(nodes)]
        self.nginx = Nginx([node.port for node in self.nodes], self.run_dir, port)
        self.url = self.nginx.url

    def start(self) -> Cluster:
        try:
            for node in self.nodes:
                node.start()
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.nginx.stop()
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("NODES", "3")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4321")))
    args = parser.parse_args()
    # PORT/HOST in our environment are nginx's, not the nodes'
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}
    cluster = Cluster(args.nodes, args.port, env)
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda sig, _frame: stopping.append(sig))
    with cluster:
        for node in cluster.nodes:
            print(f"node   {node.url}  (log: {node.log_path})")
        print(f"nginx  {cluster.url}  (config: {cluster.nginx.config_path})")
        print(f"{args.nodes} nodes on {env.get('REDIS_URL', 'redis://127.0.0.1:6379/0')}")
        print("Ctrl-C stops the cluster.", flush=True)
        try:
            while not stopping and all(n.process.poll() is None for n in cluster.nodes):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    print("stopped")


if __name__ == "__main__":
    main()

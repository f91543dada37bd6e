"""Start the real server as a process (`python app.py`, eventlet) and stop it, for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(RuntimeError):
    """The server could not bind the port picked for it."""


class ServerProcess:
    """One server process on 127.0.0.1; `url` once it answers."""

    def __init__(
        self, env: dict | None = None, port: int | None = None, command=None, cwd: Path = ROOT
    ):
        self.cwd = cwd
        # A port picked here can be taken by another process (a test running in parallel) before
        # the server binds it: start() then tries another. A port the caller names is kept.
        self.picked_port = port is None
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "SECRET_KEY": "net-test",
            "DATABASE_URL": "memory://",
            "PYTHONUNBUFFERED": "1",
            # Every test client comes from 127.0.0.1: a module names far more users a minute
            # than one address may (JOIN_RATE); tests of that limit set it themselves.
            "JOIN_RATE": "0",
            **(env or {}),
        }
        self.command = command or [sys.executable, "app.py"]
        self.proc: subprocess.Popen | None = None
        self.log_path = None

    def start(self, timeout: float = 20.0) -> ServerProcess:
        for _ in range(3):
            try:
                return self._start_once(timeout)
            except PortTaken:
                self._log.close()
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.env["PORT"] = str(self.port)
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> ServerProcess:
        log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
        self.log_path = log_dir / f"rpschat-server-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (kept open for the process)
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            shell=isinstance(self.command, str),
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                output = self.output()
                if self.picked_port and "Address already in use" in output:
                    raise PortTaken(output)
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{output}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def log_lines(self) -> list[str]:
        return self.output().splitlines()

    def wait_for_output(self, predicate, timeout: float = 5.0) -> list[str]:
        """Log lines passing `predicate(line)`, once there is at least one."""
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.log_lines() if predicate(line)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=15)

    def stop(self) -> None:
        self.kill(signal.SIGKILL)
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

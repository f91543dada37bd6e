"""Deployed as a Python-only PaaS deploys it: the repository's files without node_modules (what
`git push` sends), a fresh venv from requirements.txt alone, the Procfile's `web:` command. The
page's Socket.IO client is vendored, so the page must connect: no Node.js at deploy time.

The venv is built once per session (pip's cache makes it take seconds, not minutes)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.net.test_procfile import procfile_web_command
from tests.support.clients import ChatClient, unique
from tests.support.server import ROOT, ServerProcess

pytestmark = pytest.mark.net

# What a deploy never has: installed packages, caches, local state.
NOT_DEPLOYED = shutil.ignore_patterns(
    "node_modules", ".venv", ".git", "__pycache__", "*.pyc", "instance", ".*_cache", ".hypothesis"
)


def export_repository(target: Path) -> Path:
    """The tree as `git push` would send it (tracked files, plus new ones not ignored, so that
    uncommitted work is tested too); a plain copy without the ignored parts when git can't say."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        shutil.copytree(ROOT, target, ignore=NOT_DEPLOYED)
        return target
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():  # skips deleted files, the venv link
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.fixture(scope="session")
def deployed(tmp_path_factory) -> tuple[Path, Path]:
    """(the exported tree, a fresh venv with requirements.txt installed)."""
    base = tmp_path_factory.mktemp("python-only-deploy")
    app = export_repository(base / "app")
    venv = base / "venv"
    # The venv gets no pip of its own and no .pyc files: the test runner's pip installs into it
    # (`--python`, pip >= 22.3). What ends up installed is the same; measured here, it took 7 s
    # instead of 24 s (ensurepip and byte-compiling were the rest).
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
        + ["--disable-pip-version-check", "--quiet", "--no-compile", "-r", "requirements.txt"],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return app, venv


@pytest.fixture(scope="module")
def server(deployed):
    app, venv = deployed
    srv = ServerProcess(command=["bash", "-c", procfile_web_command()], cwd=app)
    for name in ("HOST", "VIRTUAL_ENV", "PYTHONPATH", "DATABASE_URL"):  # SQLite by default
        srv.env.pop(name, None)
    srv.env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"  # no node, no .venv
    with srv:
        yield srv


def test_the_export_has_no_node_modules_and_the_venv_only_the_requirements(deployed):
    app, venv = deployed
    assert (app / "Procfile").is_file() and (app / "static" / "vendor").is_dir()
    assert not (app / "node_modules").exists()
    pytest_there = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pytest"], capture_output=True, timeout=60
    )
    assert pytest_there.returncode != 0, "the venv has more than requirements.txt"


def test_the_server_is_ready_with_the_page_check_passing(server):
    response = requests.get(server.url + "/readyz", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["page"] == "ok"
    assert not [line for line in server.log_lines() if " ERROR " in line], server.output()


def test_the_page_and_its_socketio_client_are_served(server, deployed):
    app, _ = deployed
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "/static/js/" in page.text
    client = requests.get(server.url + "/vendor/socket.io.esm.min.js", timeout=5)
    assert client.status_code == 200 and "javascript" in client.headers["Content-Type"]
    vendored = app / "static" / "vendor" / "socket.io-client" / "socket.io.esm.min.js"
    assert client.content == vendored.read_bytes()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_socketio_client_connects_and_chats(server, transport):
    own = {"Origin": server.url}
    ada = ChatClient(server.url, transports=[transport], headers=own)
    bea = ChatClient(server.url, transports=[transport], headers=own)
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        ada.say("deployed with Python alone")
        assert bea.wait_message("deployed with Python alone")["name"] == ada.name
    finally:
        ada.close()
        bea.close()

"""The Procfile's `web:` command, run exactly as a platform runs it: `bash -c` in the app's
directory, with PORT set (and WEB_CONCURRENCY, which Heroku sets too) and no HOST."""

from __future__ import annotations

import os

import pytest
import requests

from tests.support.clients import ChatClient, unique
from tests.support.server import ROOT, ServerProcess

pytestmark = pytest.mark.net


def procfile_web_command() -> str:
    lines = (ROOT / "Procfile").read_text().splitlines()
    web = [line for line in lines if line.startswith("web:")]
    assert len(web) == 1, f"the Procfile needs exactly one web: line, not {web}"
    return web[0].removeprefix("web:").strip()


@pytest.fixture(scope="module")
def server():
    command = procfile_web_command()
    srv = ServerProcess(
        env={"PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"},
        command=["bash", "-c", command],
    )
    for name in ("HOST", "VIRTUAL_ENV", "PYTHONPATH"):
        srv.env.pop(name, None)
    srv.env["WEB_CONCURRENCY"] = "4"  # one process must serve all clients regardless
    with srv:
        yield srv


def test_the_web_command_serves_on_the_port_it_is_given_on_all_interfaces(server):
    serving = server.wait_for_output(lambda line: "Serving on" in line)
    assert serving and serving[0].endswith(f"Serving on http://0.0.0.0:{server.port}"), serving


def test_the_page_is_served_with_its_content_security_policy(server):
    response = requests.get(server.url + "/", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in response.text.lower()
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.strip().split(" ")[0]: part.strip() for part in csp.split(";")}
    assert directives.get("default-src") == "default-src 'self'", csp
    assert directives.get("script-src") == "script-src 'self'", csp  # no inline scripts
    assert directives.get("connect-src") == "connect-src 'self'", csp
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"


def test_the_socketio_client_build_the_page_loads_is_served(server):
    response = requests.get(server.url + "/vendor/socket.io.esm.min.js", timeout=5)
    assert response.status_code == 200
    assert "javascript" in response.headers["Content-Type"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_clients_can_chat(server, transport):
    own = {"Origin": server.url}
    ada = ChatClient(server.url, transports=[transport], headers=own)
    bea = ChatClient(server.url, transports=[transport], headers=own)
    try:
        ada.set_name(unique("Ada"))
        bea.set_name(unique("Bea"))
        ada.wait_message(f"{bea.name} has entered the chat!")
        ack = ada.say("hello through the Procfile")
        got = bea.wait_message("hello through the Procfile")
        assert got == {
            "name": ada.name,
            "txt": "hello through the Procfile",
            **{k: ack[k] for k in ("id", "ts")},
        }
    finally:
        ada.close()
        bea.close()

"""The page and its files, served by the app itself with the security headers."""

import re

import pytest
import requests

from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


@pytest.fixture(scope="module")
def server():
    with ServerProcess() as process:
        yield process


def test_the_page_has_a_strict_policy_and_the_hardening_headers(server):
    response = requests.get(server.url + "/", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["default-src"] == "'self'"
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_is_named_after_the_product(server):
    html = requests.get(server.url + "/", timeout=5).text
    assert re.search(r"<title>rps-chat</title>", html)
    assert re.search(r"<h1>.*rps-chat</h1>", html)
    assert "Cleverti" not in html


def test_the_page_has_no_inline_script_or_style_and_nothing_from_elsewhere(server):
    html = requests.get(server.url + "/", timeout=5).text
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and " style=" not in html and " onclick=" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "a resource from another host"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/vendor/socket.io.esm.min.js", "text/javascript"),
        ("/favicon.ico", "image/svg+xml"),
        ("/static/js/main.js", "text/javascript"),
        ("/static/css/app.css", "text/css"),
    ],
)
def test_files_the_page_needs_are_served_locally(server, path, content_type):
    response = requests.get(server.url + path, timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_only_the_socketio_client_build_is_served_from_vendor(server):
    assert requests.get(server.url + "/vendor/package.json", timeout=5).status_code == 404
    assert requests.get(server.url + "/vendor/../package.json", timeout=5).status_code == 404

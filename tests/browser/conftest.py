"""Browser tests: Playwright drives Debian's Chromium through the real page of a real server."""

import os
import shutil
from urllib.parse import urlparse

import pytest

from tests.conftest import require_service
from tests.support.server import ServerProcess

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session")
def browser():
    found = os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)
    require_service("Chromium", bool(found), f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server():
    env = {"ROUND_SECONDS": "20", "RESUME_GRACE_SECONDS": "5"}
    with ServerProcess(env=env) as process:
        yield process


class PageWatcher:
    """Records what a page asks the network for and what it logs, to check it stays home."""

    def __init__(self, page):
        self.requests = []
        self.console_errors = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "console",
            lambda message: message.type == "error" and self.console_errors.append(message.text),
        )
        page.on("pageerror", lambda error: self.console_errors.append(str(error)))

    def foreign_requests(self):
        return [u for u in self.requests if urlparse(u).hostname not in ("127.0.0.1", "localhost")]


@pytest.fixture
def open_page(browser, server):
    contexts = []

    def open_one(width=1280, height=900):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.watcher = PageWatcher(page)
        page.goto(server.url + "/")
        return page

    yield open_one
    for context in contexts:
        context.close()

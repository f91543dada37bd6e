"""Browser tests: Playwright drives Debian's Chromium through the real page of a real server."""

import json
import os
import shutil
from pathlib import Path
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

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA: what the page promises (issue 23); best practices on top.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


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
    """open_page(width, height, color_scheme=, init_script=, permissions=, context=): a page in
    a new browser context (a person of its own), or in `context` (another tab)."""
    contexts = []

    def open_one(
        width=1280, height=900, *, color_scheme="light", init_script=None, permissions=(),
        context=None,
    ):  # fmt: skip
        if context is None:
            context = browser.new_context(
                viewport={"width": width, "height": height},
                color_scheme=color_scheme,
                permissions=list(permissions),
            )
            contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        page.watcher = PageWatcher(page)
        page.goto(server.url + "/")
        return page

    yield open_one
    for context in contexts:
        context.close()


def axe_violations(page, rules=None):
    """axe-core's WCAG 2.1 A/AA (and best-practice) violations on the page as it is now:
    [(rule id, [target selectors])]. axe-core is the npm package, pinned in package.json."""
    require_service("axe-core", AXE.exists(), f"{AXE} missing: npm ci")
    if not page.evaluate("typeof window.axe === 'object'"):
        # page.evaluate runs through the DevTools protocol: the page's CSP allows no inline
        # script, and axe must not need an exception in it.
        page.evaluate(AXE.read_text() + "\n;undefined")
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    if rules:
        options["rules"] = rules
    result = page.evaluate(
        "async (options) => (await axe.run(document, JSON.parse(options))).violations"
        ".map((v) => [v.id, v.nodes.map((n) => n.target.join(' '))])",
        json.dumps(options),
    )
    return [tuple(v) for v in result]

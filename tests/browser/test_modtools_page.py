"""Moderator tools on the page (issue 25, points 6 and 7), in Chromium: slow mode shown to
everyone and holding a second message back, the open reports as a list resolved from the page,
removing a user's last half hour from every page, an owner's grant; axe-core 0 violations."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.browser.test_chat_page import messages, named, send
from tests.browser.test_names_page import PASSWORD, log_in
from tests.net.test_moderators import flask_cli
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database_url = f"sqlite:///{tmp_path_factory.mktemp('modtools') / 'chat.db'}"
    for args in (("Mod",), ("Olga", "--owner")):  # Olga owns, and does not moderate
        granted = flask_cli(database_url, "grant", *args, "--password-stdin", stdin=PASSWORD)
        assert granted.returncode == 0, granted.stderr
    env = {"DATABASE_URL": database_url, "PASSWORD_HASH_KIB": "64", "JOIN_RATE": "0"}
    with ServerProcess(env=env) as process:
        yield process


def test_moderator_tools(open_page):
    mod = open_page()
    log_in(mod, "Mod")
    expect(mod.locator("body")).to_have_attribute("data-moderator", "true")
    tools = mod.locator("#mod-tools")
    expect(tools).to_be_visible()
    bea = named(open_page(), "Bea")
    cyd = named(open_page(), "Cyd")
    expect(bea.locator("#mod-tools")).to_be_hidden()
    mod.get_by_text("Moderator tools").click()

    # slow mode: everyone is told; Bea's second message is held back
    mod.get_by_label("Slow mode").select_option("30")
    mod.locator("#slow-form").get_by_role("button", name="Set").click()
    expect(bea.locator("#slow-mode-note")).to_have_text("Slow mode: one message every 30 s.")
    send(bea, "first under slow mode")
    expect(messages(bea).filter(has_text="first under slow mode").locator("time")).to_have_count(1)
    send(bea, "second too soon")
    expect(messages(bea).filter(has_text="second too soon")).to_contain_text("Slow mode")
    mod.get_by_label("Slow mode").select_option("0")
    mod.locator("#slow-form").get_by_role("button", name="Set").click()
    expect(bea.locator("#slow-mode-note")).to_be_hidden()

    # a report (no reason given) lands in the moderator's list, resolved from there
    send(cyd, "buy cheap stuff")
    line = messages(bea).filter(has_text="buy cheap stuff")
    line.get_by_role("button", name="Actions for the message from Cyd").click()
    bea.get_by_role("menuitem", name="Report this message…").click()
    bea.get_by_role("dialog").get_by_role("button", name="Report").click()
    reports = mod.locator("#reports-list li")
    expect(reports).to_have_count(1)
    expect(reports.first).to_contain_text("Cyd: buy cheap stuff")
    expect(reports.first).to_contain_text("Reported by Bea")
    assert axe_violations(mod) == []
    reports.first.get_by_role("button", name="Resolve").click()
    expect(reports.first).to_have_text("No open reports.")

    # Cyd's last half hour goes from every page
    mod.get_by_label("Remove the last 30 minutes of").fill("Cyd")
    mod.locator("#purge-form").get_by_role("button", name="Remove").click()
    expect(messages(mod).filter(has_text="Removed 1 messages of Cyd.")).to_have_count(1)
    for page in (mod, bea, cyd):  # (the moderator's report line says it too: not a message)
        expect(page.locator("#messages li[data-id]", has_text="buy cheap stuff")).to_have_count(0)

    # an owner grants Bea's claimed account moderator rights: her page shows the tools
    bea.get_by_role("button", name="Claim this name").click()
    bea.get_by_label("New password").fill(PASSWORD)
    bea.get_by_role("button", name="Claim name").click()
    expect(messages(bea).filter(has_text="You claimed")).to_have_count(1)
    olga = open_page()
    log_in(olga, "Olga")
    expect(mod.locator("#grant-form")).to_be_hidden()  # a moderator, not an owner
    olga.get_by_text("Moderator tools").click()
    expect(olga.locator("#slow-form")).to_be_hidden()  # an owner who does not moderate
    olga.get_by_label("Owners: moderator rights for").fill("Bea")
    olga.locator("#grant-form").get_by_role("button", name="Grant").click()
    expect(bea.locator("body")).to_have_attribute("data-moderator", "true")
    expect(bea.locator("#mod-tools")).to_be_visible()
    for page in (mod, bea, cyd):
        assert page.watcher.console_errors == []

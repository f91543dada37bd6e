"""Claimed names and moderation in Chromium: claim, log in from a second browser, a refused
look-alike, a moderator deleting a message and muting a user (issue 15)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import messages, named, send
from tests.net.test_moderators import flask_cli
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database_url = f"sqlite:///{tmp_path_factory.mktemp('names') / 'chat.db'}"
    for name in ("Mod", "Mod2"):  # moderators are accounts the operator designates
        granted = flask_cli(database_url, "grant", name, "--password-stdin", stdin=PASSWORD)
        assert granted.returncode == 0, granted.stderr
    env = {
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_KIB": "64",
        "JOIN_RATE": "0",  # every page comes from 127.0.0.1
        "RESUME_GRACE_SECONDS": "5",
    }
    with ServerProcess(env=env) as process:
        yield process


def claim(page):
    page.get_by_role("button", name="Claim this name").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_role("button", name="Claim name").click()
    expect(messages(page).filter(has_text="You claimed")).to_have_count(1)


def log_in(page, name, password=PASSWORD):
    """A fresh page (another browser: its own context) logs in to a claimed name."""
    expect(page.locator("body")).to_have_attribute("data-username", re.compile(r"^User-\d+$"))
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Claimed name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).last.click()
    expect(page.locator("body")).to_have_attribute("data-username", name)


def errors(page):
    return page.locator("#errors")


def test_claim_then_log_in_from_a_second_browser_keeps_the_first(open_page):
    ada = named(open_page(), "Ada")
    claim(ada)
    phone = open_page()  # a new browser context: nothing shared with the first
    log_in(phone, "Ada")
    send(phone, "from my phone")
    expect(messages(ada).filter(has_text="from my phone")).to_have_count(1)
    expect(ada.locator("#connection-status")).to_have_text("Connected")
    for page in (ada, phone):
        expect(page.locator("#online-list li[data-name='Ada']")).to_have_count(1)
    stranger = open_page()
    expect(stranger.locator("body")).to_have_attribute("data-username", re.compile(r"^User-"))
    stranger.get_by_label("Your name").fill("Ada")
    stranger.get_by_role("button", name="Change name").click()
    expect(errors(stranger)).to_contain_text("The name 'Ada' is claimed: log in with its password.")


def test_a_look_alike_name_is_refused(open_page):
    named(open_page(), "Eve")
    mallory = open_page()
    expect(mallory.locator("body")).to_have_attribute("data-username", re.compile(r"^User-"))
    mallory.get_by_label("Your name").fill("Еve")  # Cyrillic Е
    mallory.get_by_role("button", name="Change name").click()
    expect(errors(mallory)).to_contain_text("'Еve' looks too much like the name 'Eve'")
    expect(mallory.locator("body")).to_have_attribute("data-username", re.compile(r"^User-"))


def moderator(open_page, name):
    page = open_page()
    log_in(page, name)
    expect(page.locator("body")).to_have_attribute("data-moderator", "true")
    return page


def test_a_moderator_deletes_a_message_from_every_page(open_page):
    mod = moderator(open_page, "Mod")
    bea = named(open_page(), "Bea")
    cyd = named(open_page(), "Cyd")
    send(bea, "buy my spam")
    line = messages(mod).filter(has_text="buy my spam")
    expect(line).to_have_count(1)
    expect(messages(cyd).filter(has_text="buy my spam")).to_have_count(1)
    line.get_by_role("button", name="Actions for the message from Bea").click()
    mod.get_by_role("menuitem", name="Delete this message").click()
    for page in (mod, bea, cyd):
        expect(messages(page).filter(has_text="buy my spam")).to_have_count(0)
    assert cyd.watcher.console_errors == []


def test_a_moderator_mutes_a_user(open_page):
    mod = moderator(open_page, "Mod2")
    dan = named(open_page(), "Dan")
    expect(mod.locator("#online-list li[data-name='Dan']")).to_have_count(1)
    mod.get_by_role("button", name="Actions for Dan").click()
    mod.get_by_role("menuitem", name="Mute Dan for 10 minutes").click()
    expect(messages(dan).filter(has_text="Dan was muted by a moderator")).to_have_count(1)
    send(dan, "can anyone hear me")
    failed = messages(dan).filter(has_text="can anyone hear me")
    expect(failed.locator(".msg-state")).to_contain_text("not sent: You are muted until")
    expect(messages(mod).filter(has_text="can anyone hear me")).to_have_count(0)
    # a mute holds the muted user's address for its guests too, and every page here comes
    # from 127.0.0.1: lift it, or the next tests' guests could not take a name
    mod.get_by_role("button", name="Actions for Dan").click()
    mod.get_by_role("menuitem", name="Unmute Dan").click()
    # the moderator is told once the server lifted it (Dan sending earlier would race it)
    expect(messages(mod).filter(has_text="Dan is no longer muted.")).to_have_count(1)
    send(dan, "heard again")
    expect(messages(mod).filter(has_text="heard again")).to_have_count(1)


def test_a_user_menu_stays_open_while_others_join_and_leave(open_page):
    """The online list is redrawn at every presence update: an open menu moves with it (it
    once closed under the pointer, whenever anyone else came or went)."""
    hal = named(open_page(), "Hal")
    named(open_page(), "Ivy")
    expect(hal.locator("#online-list li[data-name='Ivy']")).to_have_count(1)
    hal.get_by_role("button", name="Actions for Ivy").click()
    ignore = hal.get_by_role("menuitem", name="Ignore Ivy")
    expect(ignore).to_be_focused()
    jay = named(open_page(), "Jay")  # a join redraws Hal's list...
    expect(hal.locator("#online-list li[data-name='Jay']")).to_have_count(1)
    jay.close()  # ...and so does a leave
    expect(hal.locator("#online-list li[data-name='Jay']")).to_have_count(0, timeout=15_000)
    expect(ignore).to_be_focused()
    expect(hal.get_by_role("button", name="Actions for Ivy")).to_have_attribute(
        "aria-expanded", "true"
    )
    ignore.click()
    expect(messages(hal).filter(has_text="You are ignoring Ivy")).to_have_count(1)
    assert hal.watcher.console_errors == []


def test_ignoring_someone_hides_their_lines(open_page):
    fay = named(open_page(), "Fay")
    gus = named(open_page(), "Gus")
    send(gus, "before ignoring")
    expect(messages(fay).filter(has_text="before ignoring")).to_have_count(1)
    expect(fay.locator("#online-list li[data-name='Gus']")).to_have_count(1)
    fay.get_by_role("button", name="Actions for Gus").click()
    fay.get_by_role("menuitem", name="Ignore Gus").click()
    expect(messages(fay).filter(has_text="before ignoring")).to_have_count(0)
    send(gus, "after ignoring")
    expect(messages(gus).filter(has_text="after ignoring").locator("time")).to_have_count(1)
    # stored after Gus's line: its ack reaches Fay after his line would have
    send(fay, "anyone there")
    expect(messages(fay).filter(has_text="anyone there").locator("time")).to_have_count(1)
    expect(messages(fay).filter(has_text="after ignoring")).to_have_count(0)
    assert fay.evaluate("localStorage.getItem('rps.ignored')") == '["gus"]'

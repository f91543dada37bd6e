"""Names made plain (issue 23): log in and claim are separate actions that Enter submits, a
success clears errors, your lines are yours after a log-in, renames are confirmed, a refused
rename leaves your name in the box; moderators confirm kicks and bans, which say whom they hit."""

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
    database_url = f"sqlite:///{tmp_path_factory.mktemp('identity') / 'chat.db'}"
    granted = flask_cli(database_url, "grant", "Mod", "--password-stdin", stdin=PASSWORD)
    assert granted.returncode == 0, granted.stderr  # moderators: accounts the operator names
    env = {
        "DATABASE_URL": database_url,
        "PASSWORD_HASH_KIB": "64",
        "JOIN_RATE": "0",
        "RESUME_GRACE_SECONDS": "5",
    }
    with ServerProcess(env=env) as process:
        yield process


def test_claim_with_enter_clears_the_error_and_shows_a_lock(open_page):
    ada = named(open_page(), "Ada")
    ada.get_by_role("button", name="Claim this name").click()
    password = ada.get_by_label("New password")
    password.fill("short")
    password.press("Enter")  # Enter in the password box did nothing
    expect(ada.locator("#errors")).to_contain_text("8 to 128 characters")
    password.fill(PASSWORD)
    password.press("Enter")
    expect(messages(ada).filter(has_text="You claimed Ada")).to_have_count(1)
    expect(ada.locator("#errors .error")).to_have_count(0)  # the refusal went with the success
    expect(ada.locator("#my-lock")).to_be_visible()
    expect(ada.locator("body")).to_have_attribute("data-claimed", "true")


def test_a_log_in_welcomes_and_shows_your_earlier_lines_as_yours(open_page):
    kit = named(open_page(), "Kit")
    kit.get_by_role("button", name="Claim this name").click()
    kit.get_by_label("New password").fill(PASSWORD)
    kit.get_by_label("New password").press("Enter")
    expect(kit.locator("#my-lock")).to_be_visible()
    send(kit, "written on my laptop")
    phone = open_page()
    expect(phone.locator("body")).to_have_attribute("data-username", re.compile(r"^User-"))
    line = messages(phone).filter(has_text="written on my laptop")
    expect(line.locator(".msg-name")).to_have_text("Kit")
    phone.get_by_role("button", name="Log in").click()
    phone.get_by_label("Claimed name", exact=True).fill("Kit")
    phone.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.get_by_label("Password", exact=True).press("Enter")
    expect(messages(phone).filter(has_text="Welcome back, Kit.")).to_have_count(1)
    expect(line.locator(".msg-name")).to_have_text("Me")
    # no Report menu on your own line (its menu is your own message's: edit, delete)
    expect(
        line.get_by_role("button", name=re.compile("Actions for the message from"))
    ).to_have_count(0)


def test_a_rename_is_confirmed_and_a_refused_one_puts_your_name_back(open_page):
    named(open_page(), "Taken")
    page = named(open_page(), "Roo")
    expect(messages(page).filter(has_text="You are now known as Roo.")).to_have_count(1)
    box = page.get_by_label("Your name")
    box.fill("taken")
    page.get_by_role("button", name="Change name").click()
    expect(page.locator("#errors")).to_contain_text("is taken")
    expect(box).to_have_value("Roo")
    expect(page.locator("#my-name")).to_have_text("Roo")


def test_ban_asks_first_and_says_it_bans_the_address(open_page):
    mod = open_page()
    expect(mod.locator("body")).to_have_attribute("data-username", re.compile(r"^User-"))
    mod.get_by_role("button", name="Log in").click()
    mod.get_by_label("Claimed name", exact=True).fill("Mod")
    mod.get_by_label("Password", exact=True).fill(PASSWORD)
    mod.get_by_label("Password", exact=True).press("Enter")
    expect(mod.locator("body")).to_have_attribute("data-moderator", "true")
    named(open_page(), "Bystander")
    target = named(open_page(), "Target")
    expect(mod.locator("#online-list li[data-name='Target']")).to_have_count(1)

    mod.get_by_role("button", name="Actions for Target").click()
    mod.get_by_role("menuitem", name=re.compile(r"^Ban Target")).click()
    dialog = mod.get_by_role("dialog", name="Ban Target for a day?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("network address")
    expect(dialog).to_contain_text("shut out too")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(target.locator("#connection-status")).to_have_attribute("data-state", "connected")

    mod.get_by_role("button", name="Actions for Target").click()
    mod.get_by_role("menuitem", name=re.compile(r"^Kick Target")).click()
    kick = mod.get_by_role("dialog", name="Kick Target?")
    expect(kick).to_contain_text("Nobody else is affected.")
    kick.get_by_label("Reason, shown to Target and in the log (optional)").fill("spam")
    kick.get_by_role("button", name="Kick Target").click()
    expect(messages(mod).filter(has_text="Target was removed by a moderator.")).to_have_count(1)
    # the person removed is told why (the `kicked` event), not only "disconnected"
    told = messages(target).filter(has_text="removed from the chat by a moderator")
    expect(told).to_have_count(1)
    expect(told).to_contain_text("Reason: “spam”")


def test_logging_in_on_a_second_device_is_not_announced_as_someone_leaving(open_page):
    """Issue 23: the second device's page (a guest until its log-in) announced
    "User-621 has left the chat!"."""
    from tests.browser.test_conversations_page import claim, log_in

    watcher = named(open_page(), "Wanda")
    claim(open_page(), "Otto")
    phone_page = open_page(390, 844)
    expect(phone_page.locator("body")).to_have_attribute("data-username", re.compile("^User-"))
    guest = phone_page.locator("body").get_attribute("data-username")
    expect(watcher.locator(f"#online-list li[data-name='{guest}']")).to_have_count(1)
    log_in(phone_page, "Otto")
    expect(watcher.locator(f"#online-list li[data-name='{guest}']")).to_have_count(0)
    send(phone_page, "from my phone")
    expect(messages(watcher).filter(has_text="from my phone")).to_have_count(1)
    assert messages(watcher).filter(has_text=f"{guest} has left").count() == 0
    assert messages(watcher).filter(has_text="Otto has entered").count() == 0  # online already

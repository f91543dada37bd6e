"""A claimed name's account in Settings (issue 23, the server's issue 21 features): changing the
password or "log out everywhere else" ends the other device's session, which says so; the round
timer against the computer is the player's to set (WCAG 2.2.1)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.browser.test_chat_page import messages, named
from tests.browser.test_conversations_page import PASSWORD, claim, log_in
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    env = {"PASSWORD_HASH_KIB": "64", "JOIN_RATE": "0", "ROUND_SECONDS": "5"}
    with ServerProcess(env=env) as process:
        yield process


def open_settings(page):
    page.get_by_role("button", name="Settings").click()
    return page.get_by_role("dialog", name="Settings")


def test_log_out_everywhere_else_and_a_new_password_end_the_other_session(open_page):
    laptop = claim(open_page(), "Rosa")
    phone = log_in(open_page(390, 844), "Rosa")
    # each device keeps the device token its claim or log-in gave (sent with later log-ins)
    for page in (laptop, phone):
        device = page.evaluate("localStorage.getItem('rps.device.rosa')")
        assert isinstance(device, str) and len(device) > 16
    settings = open_settings(laptop)
    assert axe_violations(laptop) == []  # the account's part of Settings too
    settings.get_by_label("Current password").fill(PASSWORD)
    settings.get_by_role("button", name="Log out everywhere else").click()
    expect(settings.get_by_role("status")).to_have_text(re.compile("other tabs and devices"))
    told = messages(phone).filter(has_text="Connect again to continue as a guest")
    expect(told).to_have_count(1)
    expect(phone.locator("#connection-status")).to_have_attribute("data-state", "disconnected")
    expect(laptop.locator("#connection-status")).to_have_attribute("data-state", "connected")
    # the phone logs in again; a new password logs it out again, and the laptop keeps going
    phone.get_by_role("button", name="Connect").click()
    log_in(phone, "Rosa")
    settings.get_by_label("Current password").fill(PASSWORD)
    settings.get_by_label("Different password (8 to 128 characters)").fill("a new password")
    settings.get_by_role("button", name="Change password").click()
    expect(settings.get_by_role("status")).to_have_text(re.compile("Password changed"))
    expect(told).to_have_count(2)
    settings.get_by_role("button", name="Done").click()
    laptop.reload()  # its new token resumes it
    expect(laptop.locator("body")).to_have_attribute("data-username", "Rosa")
    for page in (laptop, phone):
        assert page.watcher.console_errors == []


def test_the_time_per_round_against_the_computer_is_set_in_settings(open_page):
    page = named(open_page(390, 844), "Tim")
    settings = open_settings(page)
    settings.get_by_label("Time per round").select_option("600")
    settings.get_by_role("button", name="Done").click()
    page.get_by_role("button", name="Play").click()  # the phone's bottom bar
    page.get_by_role("button", name="Play the computer", exact=True).click()
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^(10|9) min$"))
    page.wait_for_timeout(6000)  # past the server's 5 s rounds: the round is still on
    expect(page.get_by_role("button", name="Rock", exact=True)).to_be_enabled()
    expect(page.locator("#round-result")).not_to_contain_text("time ran out")

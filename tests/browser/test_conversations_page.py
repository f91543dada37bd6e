"""Messages (issue 23, point 4): every DM conversation with the server's unread counts, online or
not, including DMs that waited past what a log-in sends; an ignored sender is not told so."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import named
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def server():
    # a log-in sends one unread DM: the others stay unread on the server (dm_conversations)
    env = {"PASSWORD_HASH_KIB": "64", "JOIN_RATE": "0", "DM_UNREAD_ON_LOGIN": "1"}
    with ServerProcess(env=env) as process:
        yield process


def claim(page, name):
    named(page, name)
    page.get_by_role("button", name="Claim this name").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("New password").press("Enter")
    expect(page.locator("#my-lock")).to_be_visible()
    return page


def log_in(page, name):
    expect(page.locator("body")).to_have_attribute("data-username", re.compile("^User-"))
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Claimed name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.locator("body")).to_have_attribute("data-username", name)
    return page


def write_to(page, name, *texts):
    page.get_by_role("button", name=re.compile("^Messages")).first.click()
    page.get_by_label(re.compile("^Write to")).fill(name)
    page.get_by_role("button", name="Open", exact=True).click()
    box = page.get_by_label("Direct message", exact=True)
    for text in texts:
        box.fill(text)
        box.press("Enter")
        expect(page.locator("#dm-messages")).to_contain_text(text)


@pytest.mark.parametrize("size", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_dms_waiting_at_log_in_are_listed_with_the_servers_unread_count(open_page, size):
    width, height = size
    owner, sender_name = f"Lia{width}", f"Sam{width}"
    away = claim(open_page(width, height), owner)
    away.get_by_role("button", name="Disconnect").click()
    expect(away.locator("#connection-status")).to_have_attribute("data-state", "disconnected")
    sender = named(open_page(width, height), sender_name)
    write_to(sender, owner, "one", "two", "three")
    sender.get_by_role("button", name="Disconnect").click()  # the sender is offline

    laptop = log_in(open_page(width, height), owner)
    expect(laptop.locator(f"#online-list li[data-name='{sender_name}']")).to_have_count(0)
    said = laptop.locator("#messages li").filter(has_text="unread direct messages")
    expect(said).to_have_text(
        f"You have 3 unread direct messages from {sender_name}: open Messages to read them."
    )
    # one came at the log-in, two wait on the server: all three count
    button = laptop.get_by_role("button", name="Messages, 3 unread")
    expect(button).to_be_visible()
    button.click()
    row = laptop.locator("#conversation-list li").filter(has_text=sender_name)
    expect(row).to_contain_text("three")
    expect(row.locator(".badge")).to_have_text("3 unread")
    laptop.reload()  # the list and its counts come from the server again
    expect(laptop.locator("body")).to_have_attribute("data-username", owner)
    laptop.get_by_role("button", name="Messages, 3 unread").click()
    row = laptop.locator("#conversation-list li").filter(has_text=sender_name)
    row.get_by_role("button").click()
    expect(laptop.locator("#dm-messages .msg-text")).to_have_text(["one", "two", "three"])
    expect(laptop.get_by_role("button", name="Messages", exact=True)).to_be_visible()
    # read here: another device logging in has nothing unread
    phone = log_in(open_page(width, height), owner)
    expect(phone.get_by_role("button", name="Messages", exact=True)).to_be_visible()
    phone.get_by_role("button", name="Messages", exact=True).click()
    row = phone.locator("#conversation-list li").filter(has_text=sender_name)
    expect(row).to_contain_text("three")
    expect(row.locator(".badge")).to_have_count(0)
    for page in (laptop, phone):
        assert page.watcher.console_errors == []


def test_an_ignored_sender_is_not_told_and_its_dms_never_show(open_page):
    bea = named(open_page(), "Bea")
    ada = named(open_page(), "Ada")
    bea.get_by_role("button", name="Actions for Ada").click()
    bea.get_by_role("menuitem", name="Ignore Ada").click()
    write_to(ada, "Bea", "can you see this?")
    expect(ada.locator("#errors")).not_to_contain_text("does not take")
    expect(ada.locator("#errors")).to_be_empty()
    ada.get_by_role("button", name=re.compile("All messages")).click()
    expect(ada.locator("#conversation-list")).to_contain_text("can you see this?")
    expect(bea.get_by_role("button", name="Messages", exact=True)).to_be_visible()
    bea.get_by_role("button", name="Messages", exact=True).click()
    expect(bea.locator("#conversation-list")).not_to_contain_text("Ada")
    assert bea.locator("#messages-badge").is_hidden()


def test_a_second_tab_says_it_is_a_separate_guest_and_how_to_be_the_same_person(open_page):
    """Issue 23: a second tab silently became a new guest."""
    first = claim(open_page(), "Quinn")
    second = open_page(context=first.context)  # another tab of the same browser
    expect(second.locator("body")).to_have_attribute("data-username", re.compile("^User-"))
    said = second.locator("#messages li").filter(has_text="also open in another tab as Quinn")
    expect(said).to_have_count(1)
    expect(said).to_contain_text("log in to Quinn")
    expect(first.locator("#messages li").filter(has_text="another tab")).to_have_count(0)
    second.get_by_role("button", name="Log in").click()
    expect(second.get_by_label("Claimed name", exact=True)).to_have_value("Quinn")
    second.get_by_label("Password", exact=True).fill(PASSWORD)
    second.get_by_label("Password", exact=True).press("Enter")
    expect(second.locator("body")).to_have_attribute("data-username", "Quinn")
    expect(first.locator("#connection-status")).to_have_attribute("data-state", "connected")
    # a reload of a tab is no new tab: nothing said
    second.reload()
    expect(second.locator("body")).to_have_attribute("data-username", "Quinn")
    expect(second.locator("#messages li").filter(has_text="another tab")).to_have_count(0)

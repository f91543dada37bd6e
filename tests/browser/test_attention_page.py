"""Calling the person back (issue 23): a hidden tab gets a count in its title and a desktop
notification (permission granted in the browser context, asked from a click in Settings); what
is on screen calls nothing; a phone shows a challenge without scrolling, with its bottom bar;
a DM that waited for a log-in is listed though its sender is gone; @mentions and completion."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import messages, named, send
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

PASSWORD = "correct horse"

# Observes the real Notification (the context grants the permission) and lets the test hide
# the tab: document.visibilityState and hasFocus() follow window.__hidden.
WATCH = """
window.__notes = [];
const RealNotification = window.Notification;
window.Notification = new Proxy(RealNotification, {
  construct(target, args) { window.__notes.push(args[0]); return Reflect.construct(target, args); },
});
window.__hidden = false;
Object.defineProperty(Document.prototype, 'visibilityState', {
  configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; } });
Object.defineProperty(Document.prototype, 'hidden', {
  configurable: true, get() { return window.__hidden; } });
Document.prototype.hasFocus = function () { return !window.__hidden; };
"""


@pytest.fixture(scope="module")
def server():
    env = {"PASSWORD_HASH_KIB": "64", "JOIN_RATE": "0", "RESUME_GRACE_SECONDS": "3"}
    with ServerProcess(env=env) as process:
        yield process


def set_hidden(page, hidden):
    page.evaluate(
        "(hidden) => { window.__hidden = hidden;"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def notes(page):
    return page.evaluate("window.__notes")


def turn_on_notifications(page):
    page.get_by_role("button", name="Settings").click()
    page.get_by_label("Desktop notifications").check()  # asks for permission: from a click
    expect(page.get_by_label("Desktop notifications")).to_be_checked()
    page.get_by_role("button", name="Done").click()


def test_a_hidden_tab_counts_in_its_title_and_notifies_what_is_on_screen_does_not(open_page):
    ada = named(open_page(init_script=WATCH, permissions=["notifications"]), "Ada")
    bea = named(open_page(), "Bea")
    assert ada.evaluate("Notification.permission") == "granted"
    turn_on_notifications(ada)
    expect(ada).to_have_title("rps-chat")

    # on screen: a mention in the chat Ada sees calls nothing
    send(bea, "hello @Ada")
    line = messages(ada).filter(has_text="hello @Ada")
    expect(line.locator("mark.mention")).to_have_text("@Ada")
    expect(line).to_have_class(re.compile("mentions-me"))
    expect(ada).to_have_title("rps-chat")
    assert notes(ada) == []

    set_hidden(ada, True)
    bea.get_by_role("button", name="Messages with Ada").click()
    bea.get_by_label("Direct message", exact=True).fill("are you there?")
    bea.get_by_label("Direct message", exact=True).press("Enter")
    expect(ada).to_have_title("(1) rps-chat")
    bea.get_by_role("button", name="Challenge Ada").click()
    expect(ada).to_have_title("(2) rps-chat")
    assert notes(ada) == ["Message from Bea", "Bea challenges you"]
    icon = ada.evaluate("document.querySelector('link[rel=icon]').href")
    assert icon.startswith("data:image/svg")  # the favicon's badge

    set_hidden(ada, False)
    ada.get_by_role("button", name=re.compile(r"^Messages, 1 unread")).click()
    ada.get_by_role("button", name=re.compile(r"^Bea")).first.click()
    expect(ada.locator("#dm-messages")).to_contain_text("are you there?")
    expect(ada).to_have_title("(1) rps-chat")  # the challenge still waits for an answer
    # the conversation is open: a DM in it calls nothing
    bea.get_by_label("Direct message", exact=True).fill("ok, later")
    bea.get_by_label("Direct message", exact=True).press("Enter")
    expect(ada.locator("#dm-messages")).to_contain_text("ok, later")
    expect(ada).to_have_title("(1) rps-chat")
    ada.keyboard.press("Escape")  # closes Messages, over the game panel
    expect(ada.locator("#conversations")).to_be_hidden()
    ada.locator("#challenges").get_by_role("button", name="Decline").click()
    expect(ada).to_have_title("rps-chat")
    assert notes(ada) == ["Message from Bea", "Bea challenges you"]


def test_on_a_phone_a_challenge_shows_without_scrolling(open_page):
    phone = named(open_page(390, 844), "Pho")
    desk = named(open_page(), "Desk")
    expect(phone.get_by_role("navigation", name="Views")).to_be_visible()
    expect(phone.locator("#log")).to_be_visible()  # the Chat view
    expect(phone.locator("#game")).to_be_hidden()
    expect(desk.locator("#online-list li[data-name='Pho']")).to_have_count(1)
    desk.get_by_role("button", name="Challenge Pho").click()
    toast = phone.locator(".toast").filter(has_text="Desk challenges you")
    expect(toast).to_be_visible()
    for part in (toast, toast.get_by_role("button", name="Accept")):
        box = part.bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 844, box  # on screen at once
    assert phone.evaluate("scrollY") == 0
    play = phone.get_by_role("button", name=re.compile(r"^Play\W*1 waiting for you$"))
    expect(play).to_be_visible()
    toast.get_by_role("button", name="Accept").click()
    expect(phone.locator("#match")).to_be_visible()
    expect(phone.locator("#match")).to_be_in_viewport()
    expect(phone.get_by_role("button", name=re.compile(r"^Play"))).to_have_attribute(
        "aria-current", "page"
    )
    expect(phone.get_by_role("button", name="Rock", exact=True)).to_be_in_viewport()
    phone.get_by_role("button", name="People").click()
    expect(phone.locator("#online-list")).to_be_in_viewport()


def test_a_dm_waiting_at_log_in_is_listed_though_its_sender_left(open_page, browser):
    kit = named(open_page(), "Kit")
    kit.get_by_role("button", name="Claim this name").click()
    kit.get_by_label("New password").fill(PASSWORD)
    kit.get_by_label("New password").press("Enter")
    expect(kit.locator("#my-lock")).to_be_visible()
    kit.get_by_role("button", name="Disconnect").click()  # Kit is offline
    expect(kit.locator("#connection-status")).to_have_attribute("data-state", "disconnected")
    sender = named(open_page(), "Sender")
    sender.get_by_role("button", name="Messages", exact=True).click()
    sender.get_by_label(re.compile("^Write to")).fill("Kit")
    sender.get_by_role("button", name="Open", exact=True).click()
    sender.get_by_label("Direct message", exact=True).fill("see you tomorrow")
    sender.get_by_label("Direct message", exact=True).press("Enter")
    expect(sender.locator("#dm-messages")).to_contain_text("see you tomorrow")
    sender.get_by_role("button", name="Disconnect").click()  # the sender is gone too

    laptop = open_page()
    expect(laptop.locator("body")).to_have_attribute("data-username", re.compile("^User-"))
    laptop.get_by_role("button", name="Log in").click()
    laptop.get_by_label("Claimed name", exact=True).fill("Kit")
    laptop.get_by_label("Password", exact=True).fill(PASSWORD)
    laptop.get_by_label("Password", exact=True).press("Enter")
    expect(laptop.locator("body")).to_have_attribute("data-username", "Kit")
    expect(laptop.locator("#online-list li[data-name='Sender']")).to_have_count(0)
    messages_button = laptop.get_by_role("button", name="Messages, 1 unread")
    expect(messages_button).to_be_visible()
    messages_button.click()
    row = laptop.locator("#conversation-list li").filter(has_text="Sender")
    expect(row).to_contain_text("see you tomorrow")
    expect(row.locator(".badge")).to_have_text("1 unread")
    row.get_by_role("button").click()
    expect(laptop.locator("#dm-messages .msg-text")).to_have_text(["see you tomorrow"])


def test_the_composer_completes_names_online(open_page):
    ann = named(open_page(), "Annabel")
    named(open_page(), "Anthony")
    named(open_page(), "Zed")
    expect(ann.locator("#online-list li")).to_have_count(3)
    box = ann.get_by_label("Message", exact=True)
    box.press_sequentially("hi @an")
    options = ann.get_by_role("listbox", name="Names online").get_by_role("option")
    expect(options).to_have_text(["@Anthony"])  # not yourself, only who matches
    box.press("Enter")
    expect(box).to_have_value("hi @Anthony ")
    box.press_sequentially("and @z")
    box.press("Tab")
    expect(box).to_have_value("hi @Anthony and @Zed ")
    box.press("Enter")  # no list open: sends
    expect(messages(ann).filter(has_text="hi @Anthony and @Zed").locator("time")).to_have_count(1)

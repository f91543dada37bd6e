"""The chat page in Chromium: two people chat, markup stays text, nothing leaves localhost."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def messages(page):
    return page.locator("#messages li")


def named(page, name):
    """Waits for the page's own first connection, then picks `name` with the name form."""
    expect(messages(page).filter(has_text="You are connected!")).to_have_count(1)
    expect(page.locator("body")).to_have_attribute("data-username", re.compile(r"^User-\d+$"))
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Change name").click()
    expect(page.locator("body")).to_have_attribute("data-username", name)
    return page


def send(page, text, *, press_enter=True):
    box = page.get_by_label("Message", exact=True)
    box.fill(text)
    if press_enter:
        box.press("Enter")
    else:
        page.get_by_role("button", name="Send").click()
    expect(box).to_have_value("")


def test_two_pages_chat_with_each_other(open_page):
    ada = named(open_page(), "Ada")
    bea = named(open_page(), "Bea")
    # Bea entered as User-<n> (as in the seed), then picked her name
    expect(
        messages(ada).filter(has_text=re.compile(r"^User-\d+ is now known as Bea\.$"))
    ).to_have_count(1)

    send(ada, "hello Bea")
    mine = messages(ada).filter(has_text="hello Bea")
    expect(mine.locator(".msg-name")).to_have_text("Me")
    expect(mine.locator("time")).to_have_count(1)  # acked: the pending line got its time
    theirs = messages(bea).filter(has_text="hello Bea")
    expect(theirs.locator(".msg-name")).to_have_text("Ada")

    send(bea, "hi Ada", press_enter=False)  # the Send button
    expect(messages(ada).filter(has_text="hi Ada").locator(".msg-name")).to_have_text("Bea")

    for page in (ada, bea):
        expect(page.locator("#online-count")).to_have_text("2")
        expect(page.locator("#online-list")).to_contain_text("Ada")
        expect(page.locator("#online-list")).to_contain_text("Bea")
        assert page.watcher.foreign_requests() == []
        assert page.watcher.console_errors == []


def test_markup_in_names_and_messages_is_shown_as_text(open_page):
    attacker = named(open_page(), "<b>Mallory</b>")
    victim = named(open_page(), "Victim")
    payloads = [
        '<img src=x onerror="window.__pwned = 1">',
        "<script>window.__pwned = 2</script>",
        '<a href="javascript:window.__pwned=3">click</a>',
    ]
    for payload in payloads:
        send(attacker, payload)
    for payload in payloads:
        line = messages(victim).filter(has_text=payload)
        expect(line.locator(".msg-text")).to_have_text(payload)
        expect(line.locator(".msg-name")).to_have_text("<b>Mallory</b>")
    assert victim.locator("#messages img, #messages script, #messages a, #messages b").count() == 0
    assert victim.evaluate("window.__pwned") is None
    expect(victim.locator("#online-list")).to_contain_text("<b>Mallory</b>")
    assert victim.watcher.console_errors == []


def test_typing_indicator_and_refused_name(open_page):
    ada = named(open_page(), "Ann")
    bea = named(open_page(), "Bob")
    ada.get_by_label("Message", exact=True).press_sequentially("hel")
    expect(bea.locator("#typing")).to_contain_text("Ann")
    bea.get_by_label("Your name").fill("ann")
    bea.get_by_role("button", name="Change name").click()
    expect(bea.locator("#errors")).to_contain_text("The name 'ann' is taken: pick another.")
    expect(bea.locator("body")).to_have_attribute("data-username", "Bob")


def test_disconnect_and_connect_button_show_the_seed_status_lines(open_page):
    page = named(open_page(), "Cyd")
    toggle = page.locator("#connection-toggle")
    toggle.click()
    expect(messages(page).filter(has_text="You disconnected from the server.")).to_have_count(1)
    expect(toggle).to_have_text("Connect")
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "disconnected")
    toggle.click()
    expect(messages(page).filter(has_text="You are connected!")).to_have_count(2)
    expect(page.locator("body")).to_have_attribute("data-username", "Cyd")
    send(page, "back again")
    expect(messages(page).filter(has_text="back again").locator("time")).to_have_count(1)


def test_the_page_is_usable_on_a_380px_phone(open_page):
    phone = named(open_page(width=380, height=740), "Phone")
    other = named(open_page(), "Desk")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 380
    for control in ("Message", "Your name"):
        box = phone.get_by_label(control, exact=True).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 380
    send(phone, "from my phone")
    expect(messages(other).filter(has_text="from my phone")).to_have_count(1)


def test_the_page_sends_a_strict_content_security_policy(open_page, server):
    import requests

    response = requests.get(server.url + "/", timeout=5)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    page = open_page()
    expect(messages(page).filter(has_text="You are connected!")).to_have_count(1)
    assert page.watcher.console_errors == []  # a CSP violation would be logged here

"""Issue 25 on the page, in Chromium: edit with ↑ on an empty composer ("edited" on every page),
reply from the message menu (the quoted line jumps to the message), a reaction bar, delete from
the menu, the search box; axe-core finds no WCAG 2.1 AA violation in what this adds."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.browser.test_chat_page import messages, named, send

pytestmark = pytest.mark.browser


def line(page, text):
    """The message whose own text is `text` (not a reply quoting it)."""
    return messages(page).filter(has=page.locator(".msg-text", has_text=text))


def open_menu(page, text, label):
    line(page, text).get_by_role("button", name=label).click()


def menu_item(page, name):
    return page.get_by_role("menuitem", name=name, exact=True)


def test_edit_reply_react_delete_and_search(open_page):
    ada = named(open_page(), "Ada")
    bea = named(open_page(), "Bea")
    send(ada, "helo everyone")
    expect(line(bea, "helo everyone")).to_have_count(1)
    expect(line(ada, "helo everyone").locator("time")).to_have_count(1)  # acked

    # ↑ on the empty composer edits Ada's last message
    box = ada.get_by_label("Message", exact=True)
    box.press("ArrowUp")
    expect(box).to_have_value("helo everyone")
    expect(ada.locator("#composing")).to_contain_text("Editing your message")
    box.fill("hello everyone")
    box.press("Enter")
    for page in (ada, bea):
        edited = line(page, "hello everyone")
        expect(edited).to_have_count(1)
        expect(edited.locator(".msg-edited")).to_have_text("(edited)")

    # Bea replies from the message's menu: the quote shows, and jumps to the message
    open_menu(bea, "hello everyone", "Actions for the message from Ada")
    menu_item(bea, "Reply").click()
    expect(bea.locator("#composing")).to_contain_text("Replying to Ada: hello everyone")
    send(bea, "hi Ada!")
    reply = line(ada, "hi Ada!")
    expect(reply.locator(".msg-quote")).to_contain_text("Ada: hello everyone")
    reply.locator(".msg-quote").click()
    expect(line(ada, "hello everyone").first).to_be_focused()

    # a reaction, live on both pages; Ada's click on the chip adds hers
    open_menu(bea, "hello everyone", "Actions for the message from Ada")
    menu_item(bea, "React…").click()
    menu_item(bea, "🎉").click()
    chip = line(ada, "hello everyone").locator(".reaction")
    expect(chip).to_have_text("🎉 1")
    expect(chip).to_have_attribute("aria-pressed", "false")
    chip.click()
    expect(line(bea, "hello everyone").locator(".reaction")).to_have_text("🎉 2")
    expect(chip).to_have_attribute("aria-pressed", "true")

    # search: the hit jumps to the message in the log
    ada.get_by_role("searchbox", name="Search messages").fill("HELLO")
    ada.get_by_role("button", name="Search", exact=True).click()
    hits = ada.locator("#search-results .search-hit")
    expect(hits).to_have_count(1)
    expect(hits.first).to_contain_text("hello everyone")
    hits.first.click()
    expect(line(ada, "hello everyone").first).to_be_focused()
    assert axe_violations(ada) == []

    # Ada deletes her message from its menu: gone from both pages; Bea's quote says so
    line(ada, "hello everyone").get_by_role("button", name="Actions for your message").click()
    menu_item(ada, "Delete…").click()
    ada.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    for page in (ada, bea):
        expect(line(page, "hello everyone")).to_have_count(0)
    bea.reload()
    named_again = line(bea, "hi Ada!")
    expect(named_again.locator(".msg-quote")).to_have_text("↪ a deleted message")
    for page in (ada, bea):
        assert page.watcher.console_errors == []


def test_a_dm_edited_reacted_to_and_deleted(open_page):
    dan = named(open_page(), "Dan")
    eve = named(open_page(), "Eve")
    dan.get_by_role("button", name="Messages with Eve").click()
    box = dan.get_by_label("Direct message", exact=True)
    box.fill("lunch at noom?")
    box.press("Enter")
    expect(dan.locator("#dm-messages li")).to_have_count(1)
    eve.get_by_role("button", name="Messages with Dan, 1 unread").click()
    expect(eve.locator("#dm-messages .msg-text")).to_have_text(["lunch at noom?"])
    # ↑ on the empty DM box edits Dan's last DM; Eve sees it
    box.press("ArrowUp")
    expect(box).to_have_value("lunch at noom?")
    box.fill("lunch at noon?")
    box.press("Enter")
    for page in (dan, eve):
        expect(page.locator("#dm-messages .msg-text")).to_have_text(["lunch at noon?"])
        expect(page.locator("#dm-messages .msg-edited")).to_have_text("(edited)")
    # Eve reacts from the DM's menu; Dan sees the chip
    dm_line = eve.locator("#dm-messages li").first
    dm_line.get_by_role("button", name="Actions for the message from Dan").click()
    menu_item(eve, "React…").click()
    menu_item(eve, "👍").click()
    expect(dan.locator("#dm-messages .reaction")).to_have_text("👍 1")
    assert axe_violations(dan) == []
    # Dan deletes it: gone for both
    dan.locator("#dm-messages").get_by_role("button", name="Actions for your message").click()
    menu_item(dan, "Delete…").click()
    dan.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    for page in (dan, eve):
        expect(page.locator("#dm-messages li")).to_have_count(0)
        assert page.watcher.console_errors == []

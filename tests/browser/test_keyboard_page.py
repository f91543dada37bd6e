"""Keyboard and calling back, the parts issue 23 lists under WCAG and attention: the online
list is one Tab stop moved with the arrows; single-key shortcuts can be turned off (2.1.4); a
sound only when asked for; each source and each person can be muted; the favicon shows the
count; history loaded in bulk is not read out, a live line is."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_attention_page import WATCH, set_hidden
from tests.browser.test_chat_page import messages, named, send
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

# Counts the page's beeps (its AudioContext oscillators started) without a sound device.
COUNT_BEEPS = """
window.__beeps = 0;
window.AudioContext = class {
  constructor() { this.currentTime = 0; this.destination = {}; }
  createOscillator() {
    return { frequency: {}, connect: (next) => next, start() { window.__beeps += 1; }, stop() {} };
  }
  createGain() {
    return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} },
             connect: (next) => next };
  }
};
"""


@pytest.fixture(scope="module")
def server():
    env = {"JOIN_RATE": "0", "ROUND_SECONDS": "30", "RESUME_GRACE_SECONDS": "3"}
    with ServerProcess(env=env) as process:
        yield process


def focused(page):
    return page.evaluate("document.activeElement.getAttribute('aria-label')")


def settings(page):
    page.get_by_role("button", name="Settings").click()
    return page.get_by_role("dialog", name="Settings")


def test_the_online_list_is_one_tab_stop_moved_with_the_arrows(open_page):
    ann = named(open_page(), "Ann")
    named(open_page(), "Bo")
    named(open_page(), "Cy")
    people = ann.locator("#online-list")
    expect(people.locator("li")).to_have_count(3)
    expect(people.locator("[tabindex='0']")).to_have_count(1)  # one stop for the list
    ann.get_by_role("button", name="Messages with Bo").focus()
    ann.keyboard.press("ArrowDown")
    assert focused(ann) == "Messages with Cy"
    ann.keyboard.press("ArrowRight")
    assert focused(ann) == "Challenge Cy"
    ann.keyboard.press("ArrowUp")  # the same column, one person up
    assert focused(ann) == "Challenge Bo"
    ann.keyboard.press("End")
    assert focused(ann) == "Challenge Cy"
    ann.keyboard.press("Tab")  # out of the list at once, not through every button
    assert not ann.evaluate(
        "document.querySelector('#online-list').contains(document.activeElement)"
    )
    ann.keyboard.press("Shift+Tab")  # back to where the person was
    assert focused(ann) == "Challenge Cy"
    named(open_page(), "Al")  # a redraw keeps the stop on Cy
    expect(people.locator("li")).to_have_count(4)
    assert focused(ann) == "Challenge Cy"
    expect(people.locator("[tabindex='0']")).to_have_count(1)


def test_single_key_shortcuts_can_be_turned_off(open_page):
    page = named(open_page(), "Dee")
    box = settings(page)
    box.get_by_label(re.compile("Single-key shortcuts")).uncheck()
    box.get_by_role("button", name="Done").click()
    page.get_by_role("button", name="Play the computer", exact=True).click()
    rock = page.get_by_role("button", name="Rock", exact=True)
    expect(rock).to_be_enabled()
    page.locator("body").press("r")
    page.wait_for_timeout(500)
    expect(rock).not_to_have_attribute("aria-pressed", "true")
    assert page.locator("#round-result").text_content() in ("", None)
    box = settings(page)
    box.get_by_label(re.compile("Single-key shortcuts")).check()
    box.get_by_role("button", name="Done").click()
    page.locator("body").press("r")
    expect(page.locator("#round-result")).to_contain_text("Round 1")


def test_sound_only_when_asked_and_each_source_and_person_can_be_muted(open_page):
    eve = named(open_page(init_script=WATCH + COUNT_BEEPS), "Eve")
    fox = named(open_page(), "Fox")
    gil = named(open_page(), "Gil")
    set_hidden(eve, True)  # Eve is in another tab: what comes calls her back
    send(fox, "hello @Eve")  # a mention: a toast, the title's count and the favicon's badge
    toast = eve.locator("#toasts .toast")
    expect(toast).to_have_count(1)
    expect(eve).to_have_title(re.compile(r"^\(1\) "))
    icon = eve.locator("link[rel='icon']")
    expect(icon).to_have_attribute("href", re.compile(r"^data:image/svg\+xml,.*%3E1%3C"))
    assert eve.evaluate("window.__beeps") == 0  # sound is off unless asked for
    toast.get_by_role("button", name="Dismiss").click()
    expect(eve).to_have_title(re.compile(r"^(?!\()"))
    expect(icon).to_have_attribute("href", re.compile(r"favicon\.svg$"))

    set_hidden(eve, False)
    box = settings(eve)
    box.get_by_label("Play a sound").check()
    box.get_by_label("Direct messages").uncheck()  # no DMs call Eve back
    box.get_by_role("button", name="Done").click()
    set_hidden(eve, True)
    gil.get_by_role("button", name="Messages with Eve").click()
    gil.get_by_label("Direct message", exact=True).fill("psst")
    gil.get_by_label("Direct message", exact=True).press("Enter")
    expect(eve.get_by_role("button", name="Messages, 1 unread")).to_be_visible()  # it came
    send(fox, "again @Eve")
    expect(toast).to_have_count(1)  # the mention, not the DM
    expect(toast).to_contain_text("Fox mentioned you")
    assert eve.evaluate("window.__beeps") == 1
    toast.get_by_role("button", name="Dismiss").click()

    set_hidden(eve, False)
    eve.get_by_role("button", name="Actions for Fox").click()  # mute one person
    eve.get_by_role("menuitem", name="Mute notifications from Fox").click()
    set_hidden(eve, True)
    send(fox, "third @Eve")
    send(gil, "and @Eve from Gil")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text("Gil mentioned you")


def test_history_loaded_in_bulk_is_not_read_out_a_live_line_is(open_page):
    hal = named(open_page(), "Hal")
    for n in range(3):
        send(hal, f"earlier line {n}")
    ivy = open_page()  # joins with the history: three lines at once
    expect(ivy.locator("#messages")).to_contain_text("earlier line 2")
    announcer = ivy.locator("#announcer")
    expect(announcer).to_have_attribute("aria-live", "polite")
    assert "earlier line" not in (announcer.text_content() or "")
    expect(ivy.locator("#messages")).not_to_have_attribute(
        "aria-live", re.compile("polite|assertive")
    )
    send(hal, "a live line")
    expect(announcer).to_have_text("Hal: a live line")


def test_a_message_refused_unavailable_is_kept_and_sent_again_after_retry_after(open_page, server):
    """The outbox resends what the server could not store (`unavailable`, `restarting`) after
    `retry_after`, instead of marking it "not sent". The refusal is played by the test on the
    WebSocket: a server whose database fails is not something the page can be shown on cue."""
    refused = []

    def route(ws):
        upstream = ws.connect_to_server()

        def from_page(message):
            match = re.match(r'^42(\d+)\["message",', message) if isinstance(message, str) else None
            if match and "try again" in message and not refused:
                refused.append(message)
                ack = '[{"ok":false,"code":"unavailable","error":"The database failed.",'
                ws.send(f'43{match.group(1)}{ack}"retry_after":0.5}}]')
                return
            upstream.send(message)

        ws.on_message(from_page)
        upstream.on_message(lambda message: ws.send(message))

    page = open_page()
    page.route_web_socket(re.compile(r"/socket\.io/"), route)
    page.reload()  # from now on through the route
    named(page, "Kim")
    watcher = named(open_page(), "Lee")
    send(page, "try again later")
    expect(messages(watcher).filter(has_text="try again later")).to_have_count(1)
    assert len(refused) == 1
    mine = page.locator("#messages li").filter(has_text="try again later")
    expect(mine).to_have_count(1)
    expect(mine).not_to_contain_text("not sent")

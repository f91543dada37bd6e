"""The computer, your games and direct messages, in Chromium through the real page."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import named
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    env = {"ROUND_SECONDS": "20", "RESUME_GRACE_SECONDS": "5"}
    with ServerProcess(env=env) as process:
        yield process


def finish_against_the_computer(page):
    """Throws rock until the game is over."""
    for _ in range(30):
        if page.locator("#game-over").is_visible():
            return
        before = page.locator("#round-result").text_content()
        rock = page.get_by_role("button", name="Rock", exact=True)
        expect(rock).to_be_enabled()
        rock.click()
        expect(page.locator("#round-result")).not_to_have_text(before or "")
    raise AssertionError("the game against the computer did not end")


def test_play_the_computer_then_see_the_game_in_your_games(open_page):
    ada = named(open_page(), "Ada")
    ada.locator("#best-of").select_option("1")
    ada.get_by_role("button", name="Play the computer", exact=True).click()
    expect(ada.locator("#match")).to_be_visible()
    expect(ada.locator("#match-players")).to_have_text("Ada vs Computer")
    finish_against_the_computer(ada)
    expect(ada.locator("#game-over-text")).to_contain_text("Game over")
    # the page checked the last round against the commitment sent before it (issue 26)
    expect(ada.locator("#round-result")).to_contain_text("Computer's move verified.")
    ada.get_by_role("button", name="Your games").click()
    item = ada.locator("#my-games-list li.my-game").first
    expect(item).to_contain_text("against Computer · best of 1")
    expect(item.locator("summary")).to_contain_text("every round verified")
    item.locator("summary").click()
    first_round = item.get_by_role("list", name="Rounds against Computer").locator("li").first
    expect(first_round).to_contain_text("Round 1: you ✊ Rock, Computer")
    expect(first_round).to_contain_text("(verified)")
    ada.get_by_role("button", name="Leaderboard").click()
    expect(ada.locator("#leaderboard tbody")).to_contain_text("No games played yet.")
    assert ada.watcher.console_errors == []


def test_the_computer_is_offered_after_ten_seconds_alone_in_the_queue(open_page):
    cyd = named(open_page(), "Cyd")
    # The page's clock in the test's hands (Playwright's fake timers): ten seconds pass at once,
    # and the offer is checked on both sides of them. Time still flows as usual meanwhile.
    cyd.clock.install()
    cyd.get_by_role("button", name="Find a match").click()
    expect(cyd.locator("#cancel-match")).to_be_visible()
    offer = cyd.get_by_role("button", name="Play the computer instead")
    expect(offer).to_be_hidden()
    cyd.clock.fast_forward(9_000)
    expect(offer).to_be_hidden()
    cyd.clock.fast_forward(1_500)
    expect(offer).to_be_visible()
    offer.click()
    expect(cyd.locator("#match-players")).to_have_text("Cyd vs Computer")
    expect(offer).to_be_hidden()
    # the computer threw when the round started: the throw ends the round at once, and the
    # page says the next one is on (not "waiting for Computer")
    cyd.get_by_role("button", name="Rock", exact=True).click()
    expect(cyd.locator("#game-status")).to_have_text("Round 2: choose your move!")


def test_a_conversation_with_unread_counts_that_survives_a_reload(open_page):
    dan = named(open_page(), "Dan")
    eve = named(open_page(), "Eve")
    dan.get_by_role("button", name="Messages with Eve").click()
    expect(dan.locator("#dm")).to_be_visible()
    box = dan.get_by_label("Direct message", exact=True)
    box.fill("<b>hi</b> Eve")
    box.press("Enter")
    expect(dan.locator("#dm-messages li")).to_have_count(1)
    # Eve's list shows one unread from Dan
    unread = eve.get_by_role("button", name="Messages with Dan, 1 unread")
    expect(unread).to_be_visible()
    unread.click()
    expect(eve.locator("#dm-messages .msg-text")).to_have_text(["<b>hi</b> Eve"])  # text, not HTML
    expect(eve.get_by_role("button", name="Messages with Dan", exact=True)).to_be_visible()
    reply = eve.get_by_label("Direct message", exact=True)
    reply.fill("hello Dan")
    reply.press("Enter")
    expect(dan.locator("#dm-messages .msg-text")).to_have_text(["<b>hi</b> Eve", "hello Dan"])
    eve.reload()
    expect(eve.locator("body")).to_have_attribute("data-username", "Eve")
    eve.get_by_role("button", name=re.compile(r"^Messages with Dan")).click()
    expect(eve.locator("#dm-messages .msg-text")).to_have_text(["<b>hi</b> Eve", "hello Dan"])
    for page in (dan, eve):
        assert page.watcher.console_errors == []

"""Rock-paper-scissors in Chromium: two pages play to the end, forfeit, reconnect (the round
timer: test_round_timer_page.py)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import named
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    # Rounds long enough that no test here races the round timer on a loaded machine (a reload
    # under load took over 4 s)
    env = {"ROUND_SECONDS": "30", "RESUME_GRACE_SECONDS": "8"}
    with ServerProcess(env=env) as process:
        yield process


def matched(first, second, best_of="3"):
    for page in (first, second):
        expect(page.locator("#online-list li.me")).to_have_count(1)
        page.locator("#best-of").select_option(best_of)
        page.get_by_role("button", name="Find a match").click()
    for page in (first, second):
        expect(page.locator("#match")).to_be_visible()
        expect(page.locator("#match-best-of")).to_have_text(best_of)


def throw(page, move):
    page.get_by_role("button", name=move, exact=True).click()


def test_two_pages_play_a_full_best_of_3(open_page):
    ada = named(open_page(), "Ada")
    bea = named(open_page(), "Bea")
    matched(ada, bea)
    expect(ada.locator("#match-players")).to_contain_text("Bea")

    throw(ada, "Rock")
    expect(bea.locator("#opponent-threw")).to_be_visible()
    expect(bea.locator("#round-result")).not_to_contain_text("Rock")  # still secret
    bea.locator("body").press("s")  # keyboard shortcut: Scissors
    expect(ada.locator("#score")).to_have_text(re.compile(r"You 1\s*–\s*0 Bea"))
    expect(bea.locator("#score")).to_have_text(re.compile(r"You 0\s*–\s*1 Ada"))
    expect(bea.locator("#round-result")).to_contain_text("Ada wins the round")

    throw(ada, "Paper")
    throw(bea, "Paper")
    expect(ada.locator("#round-result")).to_contain_text("Draw")

    throw(bea, "Rock")
    throw(ada, "Paper")
    expect(ada.locator("#game-over-text")).to_have_text(re.compile(r"Game over: you won\."))
    expect(bea.locator("#game-over-text")).to_contain_text("Game over: Ada won.")
    expect(ada.locator("#score")).to_have_text(re.compile(r"You 2\s*–\s*0 Bea"))

    ada.get_by_role("button", name="Leaderboard").click()
    # guests' ratings never move: provisional for good, counted and not ranked
    expect(ada.locator("#leaderboard tbody")).to_have_text("No established rating yet.")
    expect(ada.locator("#leaderboard-provisional")).to_have_text(
        '2 players with a provisional rating (shown with "?": fewer games than it takes to be'
        " sure) not ranked."
    )
    for page in (ada, bea):
        assert page.watcher.foreign_requests() == []
        assert page.watcher.console_errors == []


def test_leaving_forfeits(open_page):
    cyd = named(open_page(), "Cyd")
    dan = named(open_page(), "Dan")
    matched(cyd, dan, best_of="3")
    throw(cyd, "Rock")
    throw(dan, "Rock")  # round 1 played (a draw): leaving now forfeits
    expect(cyd.locator("#round-result")).to_contain_text("Round 1")
    cyd.get_by_role("button", name="Leave game").click()
    cyd.get_by_role("dialog", name="Leave this game?").get_by_role(
        "button", name="Leave the game"
    ).click()
    expect(dan.locator("#game-over-text")).to_contain_text("you won — Cyd left the game")
    expect(cyd.locator("#game-over-text")).to_contain_text("Dan won — you left the game")


def test_leaving_right_after_a_rematch_starts_aborts_it(open_page):
    """Issue 23: it gave the opponent "Won 0-0 by forfeit" on the leaderboard."""
    kai = named(open_page(), "Kai")
    lou = named(open_page(), "Lou")
    matched(kai, lou, best_of="1")
    throw(kai, "Paper")
    throw(lou, "Rock")
    expect(kai.locator("#game-over-text")).to_contain_text("you won")
    for page in (kai, lou):
        page.get_by_role("button", name="Rematch").click()
    for page in (kai, lou):
        expect(page.locator("#game-over")).to_be_hidden()
    lou.get_by_role("button", name="Leave game").click()
    dialog = lou.get_by_role("dialog", name="Leave this game?")
    expect(dialog).to_contain_text("counts for nobody")
    dialog.get_by_role("button", name="Leave the game").click()
    for page in (kai, lou):
        expect(page.locator("#game-over-text")).to_contain_text("Game aborted")
    kai.get_by_role("button", name="Your games").click()
    summaries = kai.locator("#my-games-list li.my-game summary")
    expect(summaries).to_have_count(2)
    expect(summaries.first).to_contain_text("Aborted 0–0 against Lou")
    expect(summaries.nth(1)).to_contain_text("Won 1–0 against Lou")


def test_a_reload_mid_game_resumes_and_the_game_finishes(open_page):
    gus = named(open_page(), "Gus")
    hal = named(open_page(), "Hal")
    matched(gus, hal)
    throw(gus, "Rock")
    throw(hal, "Scissors")
    expect(gus.locator("#score")).to_have_text(re.compile(r"You 1\s*–\s*0 Hal"))

    hal.reload()  # the page reconnects with its token and resumes the game
    expect(hal.locator("body")).to_have_attribute("data-username", "Hal")
    expect(hal.locator("#match")).to_be_visible()
    expect(hal.locator("#score")).to_have_text(re.compile(r"You 0\s*–\s*1 Gus"))
    names = [t for t in gus.locator("#messages li.system").all_inner_texts() if "Hal" in t]
    assert not any("left the chat" in t for t in names)

    throw(gus, "Rock")
    throw(hal, "Scissors")
    expect(hal.locator("#game-over-text")).to_contain_text("Game over: Gus won.")
    expect(gus.locator("#game-over-text")).to_have_text(re.compile(r"Game over: you won\."))

"""The game panel is drawn from the game's state (issue 23): no late answer puts an old status
over a running round; focus stays usable when controls come and go; R, P and S work after game
chat; the computer's games have no game chat; "Your games" and "Live games" say what is true."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import named
from tests.browser.test_game_page import matched, throw
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ROUND_ONE = "Round 1: choose your move!"


@pytest.fixture(scope="module")
def server():
    env = {"ROUND_SECONDS": "30", "RESUME_GRACE_SECONDS": "5", "JOIN_RATE": "0"}
    with ServerProcess(env=env) as process:
        yield process


def status(page):
    return page.locator("#game-status")


def active_id(page):
    return page.evaluate("document.activeElement.id || document.activeElement.tagName")


def test_the_player_whose_click_made_the_match_reads_the_round_not_the_search(open_page):
    """The second "Find a match" is answered after match_found and round_started: the old
    page then wrote "Looking for an opponent" over round 1."""
    ada = named(open_page(), "Ada")
    bea = named(open_page(), "Bea")
    matched(ada, bea)
    for page in (ada, bea):
        expect(status(page)).to_have_text(ROUND_ONE)
    throw(ada, "Rock")
    expect(status(ada)).to_have_text("You threw ✊ Rock. Waiting for Bea…")
    expect(status(bea)).to_have_text(ROUND_ONE)


def test_after_a_rematch_the_status_is_the_new_round(open_page):
    cyd = named(open_page(), "Cyd")
    dan = named(open_page(), "Dan")
    matched(cyd, dan, best_of="1")
    throw(cyd, "Rock")
    throw(dan, "Scissors")
    expect(dan.locator("#game-over-text")).to_contain_text("Cyd won")
    cyd.get_by_role("button", name="Rematch").click()
    expect(status(dan)).to_have_text("Cyd wants a rematch!")
    expect(status(cyd)).to_have_text("Rematch requested. Waiting for Dan…")
    dan.get_by_role("button", name="Rematch").click()
    for page in (cyd, dan):
        expect(page.locator("#game-over")).to_be_hidden()
        expect(status(page)).to_have_text(ROUND_ONE)


def finish_against_the_computer(page):
    for _ in range(30):
        if page.locator("#game-over").is_visible():
            return
        before = page.locator("#round-result").text_content()
        rock = page.get_by_role("button", name="Rock", exact=True)
        expect(rock).to_be_enabled()
        rock.click()
        expect(page.locator("#round-result")).not_to_have_text(before or "")
    raise AssertionError("the game against the computer did not end")


def test_a_rematch_against_the_computer_shows_its_first_round(open_page):
    eve = named(open_page(), "Eve")
    eve.locator("#best-of").select_option("1")
    eve.get_by_role("button", name="Play the computer", exact=True).click()
    expect(status(eve)).to_have_text(ROUND_ONE)
    expect(eve.locator("#game-chat")).to_be_hidden()  # nobody to talk to
    finish_against_the_computer(eve)
    eve.get_by_role("button", name="Rematch").click()
    expect(eve.locator("#game-over")).to_be_hidden()
    expect(status(eve)).to_have_text(ROUND_ONE)

    eve.get_by_role("button", name="Leave game").click()  # before any round: aborted
    eve.get_by_role("button", name="Leave the game").click()  # in the confirmation
    eve.get_by_role("button", name="Your games").click()
    summaries = eve.locator("#my-games-list li.my-game summary")
    expect(summaries).to_have_count(2)
    expect(summaries.first).to_contain_text("Aborted 0–0 against Computer")
    expect(summaries.first).to_contain_text("left before any round")
    for text in summaries.all_inner_texts():
        assert "(computer)" not in text  # "Computer (computer)" said it twice
        assert not re.search(r"· won\b", text)  # nor "Lost 0–1 … · won"
        shape = r"^(Won|Lost|Draw|Aborted) \d–\d against Computer · best of 1 · "
        assert re.match(shape, text), text


def test_r_throws_after_game_chat_and_focus_follows_the_game(open_page):
    fay = named(open_page(), "Fay")
    gus = named(open_page(), "Gus")
    expect(fay.locator("#online-list li.me")).to_have_count(1)
    find = fay.get_by_role("button", name="Find a match")
    find.focus()
    fay.keyboard.press("Enter")
    # "Find a match" is gone: focus moves to Cancel, not to the page's body
    expect(fay.locator("#cancel-match")).to_be_focused()
    gus.get_by_role("button", name="Find a match").click()
    expect(fay.locator("#match")).to_be_visible()
    expect(fay.locator("#moves")).to_be_focused()

    box = fay.get_by_label("Say something")
    box.fill("good luck")
    box.press("Enter")
    expect(gus.locator("#game-messages")).to_contain_text("good luck")
    # once the message is acked (Gus may see it first), the box is emptied and left
    expect(box).to_have_value("")
    expect(fay.locator("#moves")).to_be_focused()
    fay.keyboard.press("r")  # the old page typed "r" into the game chat box
    expect(fay.get_by_role("button", name="Rock", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(gus.locator("#opponent-threw")).to_be_visible()
    expect(box).to_have_value("")


def test_the_live_games_list_follows_the_rounds(open_page):
    hal = named(open_page(), "Hal")
    ivy = named(open_page(), "Ivy")
    watcher = named(open_page(), "Jay")
    matched(hal, ivy)
    watcher.get_by_role("button", name="Live games").click()
    game = watcher.locator("#games-list li.live-game").filter(has_text="Hal")
    expect(game).to_contain_text("round 1 · 0–0")
    throw(hal, "Paper")
    throw(ivy, "Rock")
    expect(hal.locator("#score")).to_have_text(re.compile(r"You 1\s*–\s*0 Ivy"))
    throw(hal, "Rock")
    throw(ivy, "Rock")  # a draw: round 3 comes
    expect(hal.locator("#round")).to_have_text("3")
    expect(game).to_contain_text(re.compile(r"round 3 · (1–0|0–1)"))

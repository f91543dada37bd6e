"""Rock-paper-scissors in Chromium: the round timer decides a round nobody finished. Its own
server with short rounds (test_game_page.py's are long: its tests must not race the timer)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat_page import named
from tests.browser.test_game_page import matched, throw
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    env = {"ROUND_SECONDS": "4", "RESUME_GRACE_SECONDS": "8"}
    with ServerProcess(env=env) as process:
        yield process


def test_a_player_who_does_not_throw_loses_on_time_then_both_rematch(open_page):
    eve = named(open_page(), "Eve")
    fay = named(open_page(), "Fay")
    matched(eve, fay, best_of="1")
    throw(eve, "Scissors")  # Fay never throws: the 4 s round timer decides
    expect(eve.locator("#game-over-text")).to_have_text(
        re.compile(r"Game over: you won on a round timeout\."), timeout=10_000
    )
    expect(fay.locator("#round-result")).to_contain_text("time ran out")

    fay.get_by_role("button", name="Rematch").click()
    expect(eve.locator("#game-status")).to_contain_text("Fay")  # Fay asked for a rematch
    expect(eve.locator("#game-over")).to_be_visible()  # one ask is not enough
    eve.get_by_role("button", name="Rematch").click()
    for page in (eve, fay):
        expect(page.locator("#game-over")).to_be_hidden()
        expect(page.locator("#round")).to_have_text("1")

"""The pages of finished games and players (issue 26): /game/<id> replays a game round by
round, shows the ratings with "?" while provisional and marks a computer game's rounds
"verified"; /u/<name> shows a provisional rating with "?"; axe-core finds nothing at 1280 and
390 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.support.clients import ChatClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server():
    env = {"JOIN_RATE": "0", "RATE_LIMIT": "0", "PASSWORD_HASH_KIB": "64"}
    with ServerProcess(env=env) as process:
        yield process


@pytest.fixture(scope="module")
def games(server):
    """A rated best of 3 between two claimed names (Ada wins 2-1 after a draw), and a game of
    Ada against the computer: their ids."""
    ada, bea = ChatClient(server.url), ChatClient(server.url)
    try:
        for client, name in ((ada, "Ada"), (bea, "Bea")):
            client.set_name(name)
            assert client.call("claim_name", {"password": PASSWORD})["ok"]
        for client in (ada, bea):
            assert client.call("find_match", {"best_of": 3})["ok"]
        game_id = ada.wait_for("match_found")["game_id"]
        for a, b in (("rock", "rock"), ("rock", "paper"), ("scissors", "paper"), ("paper", "rock")):
            assert ada.call("throw", {"game_id": game_id, "move": a})["ok"]
            assert bea.call("throw", {"game_id": game_id, "move": b})["ok"]
        ada.wait_for("game_over")
        assert ada.call("find_match", {"best_of": 1, "opponent": "computer"})["ok"]
        computer = ada.wait_for("match_found", lambda m: m.get("computer"))["game_id"]
        for _ in range(20):
            ada.call("throw", {"game_id": computer, "move": "rock"})
            if ada.received("game_over", lambda e: e["game_id"] == computer):
                break
            ada.wait_for("round_result")
        ada.wait_for("game_over", lambda e: e["game_id"] == computer)
        return game_id, computer
    finally:
        ada.close(), bea.close()


def visit(open_page, server, path, width=1280, height=900):
    page = open_page(width, height)
    page.goto(server.url + path)
    return page


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)], ids=["1280", "390"])
def test_a_game_page_replays_round_by_round(open_page, server, games, size):
    game_id, _ = games
    page = visit(open_page, server, f"/game/{game_id}", *size)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada vs Bea")
    expect(page.locator("#how-it-ended")).to_have_text("Ada won 2–1.")
    ratings = page.get_by_role("table", name='Ratings (Glicko-2; "?" while provisional)')
    expect(ratings.locator("tbody tr").first.locator("td")).to_have_text(["1500?", "1662?", "+162"])
    score, result = page.locator("#replay-score"), page.locator("#replay-result")
    expect(score).to_have_text("Ada 2 – 1 Bea")  # the end, as the live board showed it
    page.get_by_role("button", name="First round").click()
    expect(result).to_have_text("Before the first round.")
    expect(score).to_have_text("Ada 0 – 0 Bea")
    page.get_by_role("button", name="Next round").click()
    expect(result).to_have_text("Round 1: Ada: ✊ Rock, Bea: ✊ Rock. Draw.")
    page.get_by_role("button", name="Next round").click()
    expect(result).to_have_text("Round 2: Ada: ✊ Rock, Bea: ✋ Paper. Bea wins the round.")
    expect(score).to_have_text("Ada 0 – 1 Bea")
    expect(page.locator("#rounds-table tr.current th")).to_have_text("2")
    page.get_by_role("button", name="Play").click()
    expect(result).to_contain_text("Round 4: Ada: ✋ Paper, Bea: ✊ Rock. Ada wins the round.")
    expect(score).to_have_text("Ada 2 – 1 Bea")
    expect(page.get_by_role("button", name="Next round")).to_be_disabled()
    assert axe_violations(page) == []
    assert page.watcher.console_errors == []


def test_a_computer_games_rounds_show_verified(open_page, server, games):
    _, computer = games
    page = visit(open_page, server, f"/game/{computer}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada vs Computer")
    verdicts = page.locator("#rounds-table td.verdict")
    expect(verdicts.first).to_have_attribute("data-checked", "browser")  # checked here
    for text in verdicts.all_text_contents():
        assert text == "verified"
    assert axe_violations(page) == []


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)], ids=["1280", "390"])
def test_a_profile_shows_a_provisional_rating_with_a_question_mark(open_page, server, games, size):
    game_id, _ = games
    page = visit(open_page, server, "/u/ada", *size)
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada")
    expect(page.locator("#profile-rating")).to_have_text("1662?")
    expect(page.locator(".profile-record")).to_contain_text("Won1")
    links = page.get_by_role("link", name="Won 2–1 against Bea")
    expect(links).to_have_attribute("href", f"/game/{game_id}")
    links.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada vs Bea")
    assert axe_violations(page) == []


def test_unknown_games_and_names_are_404_pages(open_page, server):
    page = open_page()
    answer = page.goto(server.url + "/game/nope")
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    assert page.goto(server.url + "/u/Nobody").status == 404

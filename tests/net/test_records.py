"""Finished games and profiles on a real server, on SQLite and PostgreSQL (issue 26, points 2
and 3): a game between claimed names and a game against the computer are kept for good
(`game_record` and /game/<id> after a restart), and the profile counts them."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.support.clients import joined
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net
PASSWORD = "correct horse battery"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/chat.db"
    return request.getfixturevalue("postgres_url")


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_games_are_kept_for_good_and_profiles_count_them(database_url):
    env = {"DATABASE_URL": database_url, "RATE_LIMIT": "0", "PASSWORD_HASH_KIB": "64"}
    server = ServerProcess(env=env).start()
    try:
        ada, bea = joined(server.url, "Ada"), joined(server.url, "Bea")
        for client in (ada, bea):
            assert client.call("claim_name", {"password": PASSWORD})["ok"]
            assert client.call("find_match", {"best_of": 1})["ok"]
        game_id = ada.wait_for("match_found")["game_id"]
        assert ada.call("throw", {"game_id": game_id, "move": "rock"})["ok"]
        assert bea.call("throw", {"game_id": game_id, "move": "scissors"})["ok"]
        ada.wait_for("game_over")
        assert bea.call("find_match", {"best_of": 1, "opponent": "computer"})["ok"]
        computer = bea.wait_for("match_found", lambda m: m.get("computer"))["game_id"]
        while not bea.received("game_over", lambda e: e["game_id"] == computer):
            bea.call("throw", {"game_id": computer, "move": "paper"})
            bea.wait_for("round_result")
        ada.close(), bea.close()
    finally:
        server.stop()

    restarted = ServerProcess(env=env, port=server.port).start()
    try:
        reader = joined(restarted.url, "Reader")
        game = reader.call("game_record", {"game_id": game_id})["game"]
        assert (game["winner"], game["rated"], game["rounds"][0]["moves"]) == (
            "Ada",
            True,
            {"Ada": "rock", "Bea": "scissors"},
        )
        assert game["ratings"]["Ada"]["after"] == {
            "rating": 1662, "deviation": 290, "provisional": True
        }  # fmt: skip
        kept = reader.call("game_record", {"game_id": computer})["game"]
        assert kept["computer"] is True and kept["verified"] is True
        profile = reader.call("profile", {"name": "Bea"})["profile"]
        assert profile["record"] == {"won": 0, "lost": 1, "drawn": 0, "abandoned": 0}
        assert [g["game_id"] for g in profile["last_games"]] == [computer, game_id]
        assert profile["throws"]["paper"] > 0 and profile["throws"]["scissors"] > 0
        assert reader.call("profile", {"name": "Reader"})["code"] == "no_such_player"
        assert reader.call("game_record", {"game_id": "nope"})["code"] == "no_such_game"
        status, page = get(f"{restarted.url}/game/{game_id}")
        assert status == 200 and "Ada won 1–0." in page
        status, page = get(f"{restarted.url}/u/Bea")
        assert status == 200 and "1338?" in page and f"/game/{computer}" in page
        assert get(f"{restarted.url}/u/Reader")[0] == 404
        reader.close()
    finally:
        restarted.stop()

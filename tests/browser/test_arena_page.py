"""An arena's page (issue 26, point 6): /arena/<id> shows the standings and updates them live
as games end, without a reload; axe-core finds nothing at 1280 and 390 px."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations
from tests.net.test_moderators import flask_cli
from tests.support.clients import ChatClient
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database_url = f"sqlite:///{tmp_path_factory.mktemp('arena') / 'chat.db'}"
    granted = flask_cli(database_url, "grant", "Mod", "--password-stdin", stdin=PASSWORD)
    assert granted.returncode == 0, granted.stderr
    env = {"DATABASE_URL": database_url, "JOIN_RATE": "0", "RATE_LIMIT": "0",
           "PASSWORD_HASH_KIB": "64"}  # fmt: skip
    with ServerProcess(env=env) as process:
        yield process


@pytest.mark.parametrize("size", [(1280, 900), (390, 844)], ids=["1280", "390"])
def test_an_arenas_standings_update_live(open_page, server, size):
    tag = str(size[0])
    mod, ada, bea = (ChatClient(server.url) for _ in range(3))
    try:
        assert mod.call("set_username", {"username": "Mod", "password": PASSWORD})["ok"]
        made = mod.call("arena_create", {"starts_at": int(time.time() * 1000), "minutes": 5,
                                         "best_of": 1})  # fmt: skip
        arena_id = made["arena"]["arena_id"]
        for client, name in ((ada, f"Ada{tag}"), (bea, f"Bea{tag}")):
            client.set_name(name)
            assert client.call("claim_name", {"password": PASSWORD})["ok"]
            assert client.call("arena_join", {"arena_id": arena_id})["ok"]
        page = open_page(*size)
        page.goto(f"{server.url}/arena/{arena_id}")
        expect(page.get_by_role("heading", level=1)).to_have_text("Arena, best of 1")
        rows = page.locator("#arena-standings tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#arena-status")).to_have_text("Running: standings update live.")
        found = ada.wait_for("match_found", timeout=10)
        assert ada.call("throw", {"game_id": found["game_id"], "move": "paper"})["ok"]
        assert bea.call("throw", {"game_id": found["game_id"], "move": "rock"})["ok"]
        # no reload: the push redraws the table
        expect(rows.first.locator("th")).to_have_text(f"Ada{tag}", timeout=10_000)
        expect(rows.first.locator("td").nth(1)).to_have_text("2")
        assert axe_violations(page) == []
        assert page.watcher.console_errors == []
    finally:
        for client in (mod, ada, bea):
            client.close()


def test_the_lobby_sees_an_arena_coming_and_a_claimed_player_joins_and_plays(open_page, server):
    from tests.browser.test_chat_page import messages, named

    page = named(open_page(), "Cyd")
    page.get_by_role("button", name="Claim this name").click()
    page.get_by_label("New password").fill(PASSWORD)
    page.get_by_label("New password").press("Enter")
    expect(messages(page).filter(has_text="You claimed Cyd")).to_have_count(1)
    page.get_by_role("button", name="Arenas").click()
    mod, dan = ChatClient(server.url), ChatClient(server.url)
    try:
        assert mod.call("set_username", {"username": "Mod", "password": PASSWORD})["ok"]
        made = mod.call("arena_create", {"starts_at": int(time.time() * 1000), "minutes": 5,
                                         "best_of": 1})  # fmt: skip
        arena_id = made["arena"]["arena_id"]
        link = page.locator(f'a[href="/arena/{arena_id}"]')
        item = page.locator("#arenas-list li").filter(has=link)
        expect(item).to_contain_text("by Mod")  # pushed: no reload
        expect(item.get_by_role("link", name="Standings")).to_have_attribute(
            "href", f"/arena/{arena_id}"
        )
        assert axe_violations(page) == []
        dan.set_name("Dan")
        assert dan.call("claim_name", {"password": PASSWORD})["ok"]
        assert dan.call("arena_join", {"arena_id": arena_id})["ok"]
        item.get_by_role("button", name="Join").click()
        expect(item.get_by_role("button", name="Leave")).to_be_visible()
        expect(page.locator("#match-players")).to_have_text("Dan vs Cyd", timeout=10_000)
    finally:
        mod.close(), dan.close()

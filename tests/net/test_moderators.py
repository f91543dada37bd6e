"""Moderator powers belong to an account the operator designated (issue 21, item 2): a real
server on SQLite, the operator's `flask --app app grant / revoke NAME`, restarts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rpschat.domain.errors import Code
from tests.support.clients import ChatClient
from tests.support.refusals import refused
from tests.support.server import ROOT, ServerProcess
from tests.support.waiting import eventually

pytestmark = pytest.mark.net

PASSWORD = "correct horse"
CHEAP = {"PASSWORD_HASH_KIB": "64"}
NOT_A_MODERATOR = refused("Only moderators can do that.", Code.NOT_MODERATOR)


def flask_cli(database_url: str, *args: str, stdin: str = "", **env: str):
    """The operator's command, on the database the server uses."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", **CHEAP, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'chat.db'}"


def server(database_url: str, **env: str) -> ServerProcess:
    return ServerProcess({"DATABASE_URL": database_url, **CHEAP, **env})


def log_in(url: str, name: str, password: str = PASSWORD) -> ChatClient:
    client = ChatClient(url)
    ack = client.call("set_username", {"username": name, "password": password})
    assert ack["ok"], ack
    return client


def test_a_listed_name_is_reserved_until_the_operator_designates_its_account(database_url):
    with server(database_url, MODERATORS="modcat") as srv:
        stranger = ChatClient(srv.url)
        reserved = "'modcat' is reserved (in any case or look-alike): pick another name."
        for name in ("modcat", "Modcat", "\u217fodcat", "rnodcat"):  # U+217F looks like m
            ack = stranger.call("set_username", {"username": name})
            assert ack == refused(reserved, Code.NAME_RESERVED), name
        stranger.set_name("Mallory")
        assert stranger.call("mod_log", {}) == NOT_A_MODERATOR

        granted = flask_cli(database_url, "grant", "modcat", "--password-stdin", stdin=PASSWORD)
        assert granted.returncode == 0, granted.stderr
        assert "'modcat' is a moderator" in granted.stdout

        mod = log_in(srv.url, "modcat")  # the running server: no restart needed
        actions = mod.call("mod_log", {})["actions"]
        assert [(a["moderator"], a["action"], a["target"]) for a in actions] == [
            ("operator", "grant", "modcat")
        ]
        assert mod.call("mod_mute", {"name": "Mallory", "minutes": 5})["ok"]

        revoked = flask_cli(database_url, "revoke", "modcat")
        assert revoked.returncode == 0, revoked.stderr
        assert mod.call("mod_log", {}) == NOT_A_MODERATOR  # at once, on the running server
        stranger.close()
        mod.close()


def test_a_listed_name_claimed_at_start_is_bound_once_and_goes_with_a_release(database_url):
    with server(database_url) as srv:  # no MODERATORS yet: Ada claims her name
        ada = ChatClient(srv.url)
        ada.set_name("Ada")
        assert ada.call("claim_name", {"password": PASSWORD})["ok"]
        ada.close()
    # no grace: the name is free once Ada's connection ends, however it ends
    with server(database_url, MODERATORS="Ada", RESUME_GRACE_SECONDS="0") as srv:
        ada = log_in(srv.url, "Ada")
        assert ada.call("mod_log", {})["ok"]
        bea = ChatClient(srv.url)
        bea.set_name("Bea")
        first = bea.say("one")["id"]
        assert bea.call("report", {"id": first, "reason": "test"})["ok"]
        ada.wait_for("report_filed", lambda r: r["message_id"] == first)
        assert ada.call("release_name", {"password": PASSWORD})["ok"] is True
        assert ada.call("mod_log", {}) == NOT_A_MODERATOR
        # item 14: reports stop at once (then a marker: everything before it has arrived)
        second = bea.say("two")["id"]
        assert bea.call("report", {"id": second, "reason": "test"})["ok"]
        bea.say("marker")
        ada.wait_message("marker")
        assert [r["message_id"] for r in ada.received("report_filed")] == [first]
        bea.close()
        ada.disconnect()
        stranger = ChatClient(srv.url)
        eventually(
            lambda: stranger.call("set_username", {"username": "ada"})["ok"], 10, "ada freed"
        )
        assert stranger.call("claim_name", {"password": "the strangers"})["ok"]
        assert stranger.call("mod_log", {}) == NOT_A_MODERATOR
        stranger.close()
    with server(database_url, MODERATORS="Ada") as srv:  # a restart never binds it again
        stranger = log_in(srv.url, "ada", "the strangers")
        assert stranger.call("mod_log", {}) == NOT_A_MODERATOR
        stranger.close()
        assert any(
            "bound once to an account that no longer holds" in line for line in srv.log_lines()
        )


def test_the_operators_commands_refuse_what_they_cant_do(database_url):
    memory = flask_cli("memory://", "grant", "modcat", "--password-stdin", stdin=PASSWORD)
    assert memory.returncode != 0 and "memory://" in memory.stderr
    assert flask_cli(database_url, "revoke", "nobody").returncode != 0
    short = flask_cli(database_url, "grant", "modcat", "--password-stdin", stdin="short")
    assert short.returncode != 0 and "A password must be" in short.stderr

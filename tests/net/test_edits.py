"""Editing one's own messages over the network (issue 25, point 1): live to every page, in
the history, and replayed to a client that was offline during the edit; on SQLite and
PostgreSQL. A muted user can't edit."""

from __future__ import annotations

import pytest

from rpschat.domain.errors import Code
from tests.net.test_durability import close_transport_under, database_url  # noqa: F401
from tests.net.test_moderators import flask_cli, log_in
from tests.support.clients import ChatClient, joined
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net


def test_an_edit_offline_reaches_the_client_when_it_resumes(database_url):  # noqa: F811
    env = {"DATABASE_URL": database_url, "RESUME_GRACE_SECONDS": "30"}
    with ServerProcess(env=env) as server:
        ada = ChatClient(server.url)
        ada.set_name("Ada")
        last_change = ada.wait_for("history")["last_change"]
        bea = joined(server.url, "Bea")
        typo = bea.say("helo")
        first = bea.call("edit_message", {"id": typo["id"], "text": "hello"})
        assert first["ok"], first
        live = ada.wait_for("message_edited")
        assert (live["id"], live["txt"], live["seq"]) == (typo["id"], "hello", first["seq"])
        last_change = max(last_change, live["seq"])
        direct = bea.call("dm", {"to": "Ada", "text": "dm helo"})
        ada.wait_for("dm")

        close_transport_under(ada)
        again = bea.call("edit_message", {"id": typo["id"], "text": "hello, all"})
        dm_edit = bea.call("edit_message", {"id": direct["id"], "text": "dm hello", "dm": True})
        assert again["ok"] and dm_edit["ok"]
        auth = {"token": ada.token, "last_id": typo["id"], "dm_last_id": direct["id"],
                "last_change": last_change}  # fmt: skip
        back = ChatClient(server.url, auth=auth)
        replayed = back.wait_for("message_edited")
        assert replayed == {"id": typo["id"], "txt": "hello, all", "edited_at": again["edited_at"],
                            "seq": again["seq"], "replayed": True}  # fmt: skip
        dm = back.wait_for("dm_edited")
        assert (dm["id"], dm["text"], dm["seq"], dm["replayed"]) == (
            direct["id"], "dm hello", dm_edit["seq"], True,
        )  # fmt: skip
        page = back.call("history", {})["messages"]
        assert [(m["txt"], m["edited_at"]) for m in page if m["id"] == typo["id"]] == [
            ("hello, all", again["edited_at"])
        ]
        conversation = back.call("dm_history", {"with": "Bea"})["messages"]
        assert conversation[-1]["text"] == "dm hello"
        back.close(), bea.close(), ada.close()


def test_a_muted_user_cannot_edit(tmp_path):
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    granted = flask_cli(url, "grant", "Modo", "--password-stdin", stdin="correct horse")
    assert granted.returncode == 0, granted.stderr
    env = {"DATABASE_URL": url, "PASSWORD_HASH_KIB": "64"}
    with ServerProcess(env=env) as server:
        mod = log_in(server.url, "Modo")
        bea = joined(server.url, "Bea")
        sent = bea.say("before the mute")
        assert mod.call("mod_mute", {"name": "Bea", "minutes": 5})["ok"]
        ack = bea.call("edit_message", {"id": sent["id"], "text": "after the mute"})
        assert ack["ok"] is False and ack["code"] == Code.MUTED
        assert mod.call("history", {})["messages"][-1]["txt"] == "before the mute"
        mod.close(), bea.close()


def test_deletes_offline_reach_the_client_when_it_resumes(database_url):  # noqa: F811
    env = {"DATABASE_URL": database_url, "RESUME_GRACE_SECONDS": "30"}
    with ServerProcess(env=env) as server:
        ada = ChatClient(server.url)
        ada.set_name("Ada")
        last_change = ada.wait_for("history")["last_change"]
        bea = joined(server.url, "Bea")
        live = bea.say("deleted while Ada looks")
        gone = bea.call("delete_message", {"id": live["id"]})
        assert ada.wait_for("message_deleted") == {"id": live["id"], "seq": gone["seq"]}
        last_change = max(last_change, gone["seq"])
        away = bea.say("deleted while Ada is away")
        direct = bea.call("dm", {"to": "Ada", "text": "dm deleted while away"})
        ada.wait_for("dm")
        close_transport_under(ada)
        lobby_gone = bea.call("delete_message", {"id": away["id"]})
        dm_gone = bea.call("delete_message", {"id": direct["id"], "dm": True})
        auth = {"token": ada.token, "last_id": direct["id"] + away["id"],
                "dm_last_id": direct["id"], "last_change": last_change}  # fmt: skip
        back = ChatClient(server.url, auth=auth)
        assert back.wait_for("message_deleted") == {
            "id": away["id"], "seq": lobby_gone["seq"], "replayed": True,
        }  # fmt: skip
        assert back.wait_for("dm_deleted") == {
            "id": direct["id"], "seq": dm_gone["seq"], "replayed": True,
        }  # fmt: skip
        assert [m["id"] for m in back.call("history", {})["messages"]] == []
        assert back.call("dm_history", {"with": "Bea"})["messages"] == []
        back.close(), bea.close(), ada.close()


def test_replies_quote_their_message_live_in_history_and_replays(database_url):  # noqa: F811
    env = {"DATABASE_URL": database_url, "RESUME_GRACE_SECONDS": "30"}
    with ServerProcess(env=env) as server:
        ada = joined(server.url, "Ada")
        bea = joined(server.url, "Bea")
        question = ada.say("who plays?")
        answer = bea.call("message", {"msg": "me", "reply_to": question["id"]})
        live = ada.wait_for("message", lambda m: m.get("id") == answer["id"])
        assert live["reply_to"] == {"id": question["id"], "name": "Ada", "txt": "who plays?"}
        close_transport_under(ada)
        # Bea can't delete Ada's question: Ada deletes it after her resume
        assert bea.call("delete_message", {"id": question["id"]})["code"] == "not_your_message"
        later = bea.call("message", {"msg": "anyone?", "reply_to": answer["id"]})
        back = ChatClient(server.url, auth={"token": ada.token, "last_id": answer["id"]})
        replayed = back.wait_for("message", lambda m: m.get("id") == later["id"])
        assert replayed["reply_to"] == {"id": answer["id"], "name": "Bea", "txt": "me"}
        assert replayed["replayed"] is True
        assert back.call("delete_message", {"id": question["id"]})["ok"]
        page = back.call("history", {})["messages"]
        assert [m["reply_to"] for m in page if m["id"] == answer["id"]] == [
            {"id": question["id"], "deleted": True}
        ]
        direct = bea.call("dm", {"to": "Ada", "text": "dm?"})
        reply = back.call("dm", {"to": "Bea", "text": "dm!", "reply_to": direct["id"]})
        got = bea.wait_for("dm", lambda m: m["id"] == reply["id"])
        assert got["reply_to"] == {"id": direct["id"], "from": "Bea", "text": "dm?"}
        back.close(), bea.close(), ada.close()


def test_search_finds_lobby_and_own_dms_as_edited(database_url):  # noqa: F811
    with ServerProcess(env={"DATABASE_URL": database_url}) as server:
        ada = joined(server.url, "Ada")
        bea = joined(server.url, "Bea")
        cyd = joined(server.url, "Cyd")
        lobby = ada.say("who wants a rematch?")
        private = bea.call("dm", {"to": "Ada", "text": "Rematch tonight"})
        other = bea.call("dm", {"to": "Cyd", "text": "rematch for cyd"})
        typo = cyd.say("rematsh")
        cyd.call("edit_message", {"id": typo["id"], "text": "rematches later"})
        gone = bea.say("rematch gone")
        bea.call("delete_message", {"id": gone["id"]})
        found = ada.call("search", {"q": "REMATCH"})
        assert found["ok"] and not found["has_more"]
        assert {(h["kind"], h["id"]) for h in found["hits"]} == {
            ("lobby", lobby["id"]), ("dm", private["id"]), ("lobby", typo["id"]),
        }  # fmt: skip
        assert other["id"] not in [h["id"] for h in found["hits"] if h["kind"] == "dm"]
        mine = ada.call("search", {"q": "from:Bea"})
        assert [(h["kind"], h["id"]) for h in mine["hits"]] == [("dm", private["id"])]
        ada.close(), bea.close(), cyd.close()


def test_a_purge_reaches_every_open_page_and_the_history(tmp_path):
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    granted = flask_cli(url, "grant", "Modo", "--password-stdin", stdin="correct horse")
    assert granted.returncode == 0, granted.stderr
    with ServerProcess(env={"DATABASE_URL": url, "PASSWORD_HASH_KIB": "64"}) as server:
        mod = log_in(server.url, "Modo")
        spam = joined(server.url, "Spam")
        pages = [joined(server.url, "Bea"), joined(server.url, "Cyd")]
        sent = [spam.say(f"buy {i}")["id"] for i in range(3)]
        kept = pages[0].say("hello")
        for page in pages:
            page.wait_for("message", lambda m: m.get("id") == sent[-1])
        assert mod.call("mod_purge", {"user": "Spam", "minutes": 10}) == {"ok": True, "deleted": 3}
        for page in pages:
            page.wait_for_count("message_deleted", 3)
            assert sorted(e["id"] for e in page.received("message_deleted")) == sent
        assert [m["id"] for m in pages[1].call("history", {})["messages"]] == [kept["id"]]
        for client in (mod, spam, *pages):
            client.close()

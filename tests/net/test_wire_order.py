"""What the frames on the wire say, in order: details docs/protocol.md states that a client
library's callbacks would blur (which comes before the ack, a float's JSON form)."""

from __future__ import annotations

import json

import pytest
import websocket

from tests.net.test_moderators import flask_cli
from tests.support.clients import unique
from tests.support.server import ServerProcess

pytestmark = pytest.mark.net

MODERATOR = "WireMod"
MODERATOR_PASSWORD = "wire-mod-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database_url = f"sqlite:///{tmp_path_factory.mktemp('wire') / 'chat.db'}"
    granted = flask_cli(  # the operator designates the moderator's account
        database_url, "grant", MODERATOR, "--password-stdin", stdin=MODERATOR_PASSWORD
    )
    assert granted.returncode == 0, granted.stderr
    env = {"ROUND_SECONDS": "5", "RESUME_GRACE_SECONDS": "60", "DATABASE_URL": database_url}
    with ServerProcess({**env, "PASSWORD_HASH_KIB": "64"}) as srv:
        yield srv


class Wire:
    """One WebSocket speaking Socket.IO by hand, keeping every frame in arrival order."""

    def __init__(self, url: str):
        ws_url = url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(ws_url, timeout=5, suppress_origin=True)
        assert self.ws.recv().startswith("0{")
        self.ws.send("40")
        assert self.ws.recv().startswith("40")

    def frames_until(self, done) -> list[str]:
        frames: list[str] = []
        while not any(done(frame) for frame in frames):
            frame = self.ws.recv()
            if frame == "2":
                self.ws.send("3")
            else:
                frames.append(frame)
        return frames

    def call(self, ack_id: int, event: str, data) -> list[str]:
        """Frames up to and including the ack."""
        self.ws.send(f"42{ack_id}" + json.dumps([event, data]))
        return self.frames_until(lambda frame: frame.startswith(f"43{ack_id}["))

    def close(self):
        self.ws.close()


def kinds(frames: list[str]) -> list[str]:
    return [json.loads(f[2:])[0] if f.startswith("42") else f[:3] for f in frames]


def test_the_first_name_sends_own_presence_then_history_then_the_ack(server):
    wire = Wire(server.url)
    try:
        assert kinds(wire.call(1, "set_username", {"username": unique("Ord")})) == [
            "presence",
            "history",
            "431",
        ]
    finally:
        wire.close()


def test_round_seconds_arrives_as_a_float(server):
    ada, bea = Wire(server.url), Wire(server.url)
    try:
        ada.call(1, "set_username", {"username": unique("Ada")})
        bea.call(1, "set_username", {"username": unique("Bea")})
        ada.call(2, "find_match", {"best_of": 5})
        bea.call(2, "find_match", {"best_of": 5})
        frames = ada.frames_until(lambda frame: '"match_found"' in frame)
        [found] = [frame for frame in frames if '"match_found"' in frame]
        assert '"round_seconds":5.0' in found.replace(" ", ""), found
    finally:
        ada.close()
        bea.close()


def test_the_disconnect_packet_is_leaving_on_purpose_and_a_bare_close_is_a_lost_connection(
    server,
):
    on_purpose, lost = unique("Gone"), unique("Lost")
    watcher = Wire(server.url)
    try:
        watcher.call(1, "set_username", {"username": unique("Watcher")})
        for name in (on_purpose, lost):
            wire = Wire(server.url)
            wire.call(1, "set_username", {"username": name})
            if name == on_purpose:
                wire.ws.send("41")  # Socket.IO DISCONNECT for "/"
            wire.close()
        left = f"{on_purpose} has left the chat!"
        watcher.frames_until(lambda frame: left in frame)  # at once: the grace period is 60 s

        again = Wire(server.url)
        try:
            assert again.call(1, "set_username", {"username": on_purpose})[-1].startswith(
                '431[{"ok":true'
            )
            held = again.call(2, "set_username", {"username": lost})[-1]
            assert f"The name '{lost}' is taken" in held  # held for its resume
        finally:
            again.close()
    finally:
        watcher.close()


# ---- throws, round results and the end of a match (docs/protocol.md, "Writing a client") ----


def payload(frame: str):
    return json.loads(frame[2:])[1]


def decided(frame: str, best_of: int) -> bool:
    """A round_result frame whose score gives someone the majority of `best_of`."""
    if not frame.startswith('42["round_result"'):
        return False
    return max(payload(frame)["score"].values()) >= best_of // 2 + 1


def test_against_the_computer_the_result_comes_before_the_throw_ack_and_game_over_after(server):
    """Each throw settles its round (the computer threw first): round_result and, unless the
    match is over, the next round_started come BEFORE the throw's ack; the last round_result
    is followed by the ack, and game_over comes only after it."""
    wire = Wire(server.url)
    try:
        wire.call(1, "set_username", {"username": unique("Solo")})
        frames = wire.call(2, "find_match", {"best_of": 1, "opponent": "computer"})
        assert kinds(frames) == ["match_found", "round_started", "432"]
        game_id = payload(frames[0])["game_id"]
        for ack_id in range(3, 40):  # a drawn round is played again: a few rounds at most
            frames = wire.call(ack_id, "throw", {"game_id": game_id, "move": "rock"})
            if decided(frames[0], best_of=1):
                assert kinds(frames) == ["round_result", f"43{ack_id}"]
                assert kinds(wire.frames_until(lambda f: '"game_over"' in f)) == ["game_over"]
                return
            assert kinds(frames) == ["round_result", "round_started", f"43{ack_id}"]
        raise AssertionError("no decided round in 37 throws")
    finally:
        wire.close()


def test_against_a_person_the_second_throw_is_acked_after_the_result_the_last_before_game_over(
    server,
):
    ada, bea = Wire(server.url), Wire(server.url)
    try:
        ada.call(1, "set_username", {"username": unique("Ada")})
        bea.call(1, "set_username", {"username": unique("Bea")})
        ada.call(2, "find_match", {"best_of": 1})
        paired = bea.call(2, "find_match", {"best_of": 1})  # the pairing: all before its ack
        assert kinds(paired) == ["match_found", "round_started", "432"]
        game_id = payload(paired[0])["game_id"]
        ada.frames_until(lambda frame: '"round_started"' in frame)

        assert kinds(ada.call(3, "throw", {"game_id": game_id, "move": "rock"})) == ["433"]
        drawn = bea.call(3, "throw", {"game_id": game_id, "move": "rock"})
        assert kinds(drawn) == ["opponent_threw", "round_result", "round_started", "433"]
        ada.frames_until(lambda frame: '"round": 2' in frame or '"round":2' in frame)

        assert kinds(ada.call(4, "throw", {"game_id": game_id, "move": "rock"})) == ["434"]
        last = bea.call(4, "throw", {"game_id": game_id, "move": "scissors"})
        assert kinds(last) == ["opponent_threw", "round_result", "434"]
        assert kinds(bea.frames_until(lambda f: '"game_over"' in f)) == ["game_over"]
        ended = ada.frames_until(lambda f: '"game_over"' in f)
        assert kinds(ended)[-2:] == ["round_result", "game_over"]
    finally:
        ada.close()
        bea.close()


# ---- moderation ------------------------------------------------------------------------------


def test_a_kicked_connection_is_told_why_before_the_server_disconnects_it(server):
    mod, bea = Wire(server.url), Wire(server.url)
    try:
        log_in = {"username": MODERATOR, "password": MODERATOR_PASSWORD}
        assert '"ok":true' in mod.call(1, "set_username", log_in)[-1]
        bea_name = unique("Bea")
        bea.call(1, "set_username", {"username": bea_name})
        mod.call(3, "mod_kick", {"name": bea_name, "reason": "spam"})
        frames = bea.frames_until(lambda frame: frame == "41")  # the server's DISCONNECT
        told = [f for f in frames if f.startswith('42["kicked"')]
        assert len(told) == 1 and frames.index(told[0]) < frames.index("41")
        notice = payload(told[0])
        assert notice["reason"] == "spam" and 0 < notice["retry_after"] <= 60
        assert isinstance(notice["until"], int)
    finally:
        mod.close()
        bea.close()

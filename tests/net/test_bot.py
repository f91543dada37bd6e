"""examples/bot.js, the example bot of docs/protocol.md's "Writing a client", against a real
server: it plays a best-of-3 against the computer, and its connection is cut mid-game (a TCP
proxy in front of the server drops every connection); socket.io-client reconnects by itself,
the bot resumes with its token and finishes the match."""

from __future__ import annotations

import json
import queue
import subprocess
import threading

import pytest

from tests.support.clients import ChatClient, unique
from tests.support.server import ROOT, ServerProcess
from tests.support.tcpproxy import TcpProxy

pytestmark = [pytest.mark.net, pytest.mark.timeout(120)]

BOT = ROOT / "examples" / "bot.js"
# The bot waits this long before each throw, as a person would: the connection is cut within
# this window after round 1's result, so round 2 is thrown only after the reconnection.
THINK_MS = 1500


class Bot:
    """The bot as a process; its JSON lines, read as they come."""

    def __init__(self, url: str, *args: str):
        self.proc = subprocess.Popen(
            ["node", str(BOT), url, "--think-ms", str(THINK_MS), "--timeout-s", "90", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict] = []
        self._queue: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(json.loads(line))
        self._queue.put(None)

    def wait_for(self, event: str, timeout: float = 30, **fields) -> dict:
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no {event} {fields} within {timeout} s: {self.lines}"
                ) from None
            if line is None:
                stderr = self.proc.stderr.read()
                raise AssertionError(f"the bot ended before {event}: {self.lines}\n{stderr}")
            self.lines.append(line)
            if line["event"] == event and all(line.get(k) == v for k, v in fields.items()):
                return line

    def events(self) -> list[str]:
        return [line["event"] for line in self.lines]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def server(node):
    with ServerProcess({"ROUND_SECONDS": "30", "RESUME_GRACE_SECONDS": "10"}) as srv:
        yield srv


def test_the_bot_plays_the_computer_and_finishes_across_a_forced_reconnect(server):
    proxy = TcpProxy(("127.0.0.1", server.port)).start()
    bot = Bot(f"http://127.0.0.1:{proxy.port}")
    try:
        found = bot.wait_for("match_found")
        assert found["opponent"] == "Computer" and found["best_of"] == 3
        bot.wait_for("round_result", round=1)
        proxy.stop()  # every connection through it closes: the server sees a lost connection
        proxy.start()  # and the bot's own reconnection gets through again

        assert bot.wait_for("disconnect")["reason"] in ("transport close", "transport error")
        assert bot.wait_for("connect") == {"event": "connect", "resuming": True}
        session = bot.wait_for("session")
        assert session["resumed"] is True, session
        state = bot.wait_for("game_state")
        assert state["round"] >= 2 and state["your_move"] is None  # cut before its 2nd throw
        done = bot.wait_for("done", timeout=60)
        assert bot.proc.wait(timeout=10) == 0
    finally:
        bot.stop()
        proxy.stop()

    assert done["game_id"] == found["game_id"]
    assert done["reason"] == "won" and max(done["score"].values()) == 2, done
    rounds = [line for line in bot.lines if line["event"] == "round_result"]
    assert [r["round"] for r in rounds] == list(range(1, len(rounds) + 1))
    assert rounds[-1]["decided"] and not any(r["decided"] for r in rounds[:-1])
    assert "throw_refused" not in bot.events()
    named = [line for line in bot.lines if line["event"] == "named"]
    assert len(named) == 1, "the bot took a name again instead of resuming"


def test_the_bot_learns_that_its_match_ended_while_it_was_away(node):
    """Away longer than the grace period: its resume still answers `resumed: true` (the token
    is valid), but no game_state comes: the match was lost by `disconnect` meanwhile."""
    with ServerProcess({"ROUND_SECONDS": "30", "RESUME_GRACE_SECONDS": "1"}) as server:
        proxy = TcpProxy(("127.0.0.1", server.port)).start()
        bot = Bot(f"http://127.0.0.1:{proxy.port}")
        watcher = ChatClient(server.url)
        try:
            watcher.set_name(unique("Watcher"))
            name = bot.wait_for("named")["username"]
            found = bot.wait_for("match_found")
            bot.wait_for("round_result", round=1)
            proxy.stop()  # and no way back until the grace period is over
            watcher.wait_for("message", lambda m: m["txt"] == f"{name} has left the chat!", 15)
            proxy.start()

            session = bot.wait_for("session", timeout=30)
            assert session["resumed"] is True, session
            done = bot.wait_for("done", timeout=30)
            assert bot.proc.wait(timeout=10) == 0
            entered = f"{name} has entered the chat!"
            assert watcher.wait_for("message", lambda m: m["txt"] == entered)
        finally:
            bot.stop()
            proxy.stop()
            watcher.close()
    assert done["game_id"] == found["game_id"] and done["ended_while_away"] is True
    assert done["reason"] == "disconnect"  # a guest's record went with it: lost, it knows
    assert "game_state" not in bot.events()[bot.events().index("session") :]

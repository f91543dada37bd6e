"""The OwnerLink (domain/game/ports.py) between nodes: each node listens on its own pub/sub channel;
a player's event on another node's game is one PUBLISH there, and its answer one PUBLISH back to
the asking node's channel, matched by a request id. No key is read or written, no lock taken."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.ports import OwnerAway
from rpschat.domain.ports import Event, Runtime
from rpschat.storage.redis.client import LOST, Keys, redis

log = logging.getLogger("rpschat.cluster")

# An answer takes a few ms; a node that can't answer in this long is as good as away.
CALL_TIMEOUT_SECONDS = 10.0
LISTEN_POLL_SECONDS = 5.0  # the listener's read wakes up this often (and checks it should go on)
RESUBSCRIBE_MAX_SECONDS = 2.0
AWAY = "The server running that game is away: try again in a moment."
NO_ANSWER = "The server running that game did not answer: try again in a moment."
SUBSCRIBE_WAIT_SECONDS = 2.0  # a first call waits this long for this node's own channel
_CODES = {code.value: code for code in Code}


class _AwaitedAnswer:
    __slots__ = ("event", "reply")

    def __init__(self, event: Event) -> None:
        self.event = event
        self.reply: dict[str, Any] | None = None


class NodeLink:
    """Requests to another node and their answers, over pub/sub: the channel of node X is
    `<prefix>:to:<X>`. `serve` starts this node's listener (a task of its own)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        node_id: str,
        runtime: Runtime,
        timeout: float = CALL_TIMEOUT_SECONDS,
    ) -> None:
        self._redis = client
        self._prefix = keys("to") + ":"
        self.node_id = node_id
        self._runtime = runtime
        self._timeout = timeout
        self._pending: dict[str, _AwaitedAnswer] = {}
        self._guard = threading.Lock()
        self._handler: Callable[[str, dict[str, Any]], Any] | None = None
        self.stopped = False
        self.subscribed = False
        self._listening = False
        # before an answer goes back: what the owner emitted for it is published first
        self.before_answer: Callable[[], None] = lambda: None

    def channel(self, node: str) -> str:
        return self._prefix + node

    # ---- asking ------------------------------------------------------------------------------

    def call(self, node: str, op: str, payload: dict[str, Any]) -> Any:
        self._ensure_listening()  # the answer comes to this node's channel
        rid = secrets.token_hex(8)
        pending = _AwaitedAnswer(self._runtime.event())
        with self._guard:
            self._pending[rid] = pending
        request = {"rid": rid, "from": self.node_id, "op": op, "payload": payload}
        try:
            try:
                receivers = self._redis.publish(self.channel(node), json.dumps(request))
            except LOST as exc:
                raise Refused(Code.UNAVAILABLE, AWAY, retry_after=1.0) from exc
            if not receivers:  # nobody listens there: the node is dead
                raise OwnerAway(Code.UNAVAILABLE, AWAY, retry_after=1.0)
            if not pending.event.wait(self._timeout):
                log.warning("node %s did not answer %s in %.0f s", node, op, self._timeout)
                raise Refused(Code.UNAVAILABLE, NO_ANSWER, retry_after=1.0)
        finally:
            with self._guard:
                self._pending.pop(rid, None)
        reply = pending.reply or {}
        if reply.get("ok"):
            return reply.get("value")
        details = reply.get("details") or {}
        code = _CODES.get(reply.get("code", ""), Code.UNAVAILABLE)
        raise _forwarded_refusal(code, reply.get("reason", NO_ANSWER), details)

    # ---- answering ---------------------------------------------------------------------------

    def serve(self, handler: Callable[[str, dict[str, Any]], Any]) -> None:
        self._handler = handler
        self._ensure_listening()

    def _ensure_listening(self) -> None:
        with self._guard:
            start, self._listening = not self._listening, True
        if start:
            self._runtime.spawn(self._listen)
        if not self.subscribed:
            deadline = time.monotonic() + SUBSCRIBE_WAIT_SECONDS
            while not self.subscribed and time.monotonic() < deadline and not self.stopped:
                self._runtime.sleep(0.01)

    def stop(self) -> None:
        self.stopped = True

    def _listen(self) -> None:
        pause = 0.5
        while not self.stopped:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel(self.node_id))
                self.subscribed = True
                pause = 0.5
                while not self.stopped:
                    message = pubsub.get_message(timeout=LISTEN_POLL_SECONDS)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
            except Exception as exc:  # Redis lost: subscribe again soon
                self.subscribed = False
                log.warning("node channel lost (%s): again in %.1f s", exc, pause)
                self._runtime.sleep(pause)
                pause = min(pause * 2, RESUBSCRIBE_MAX_SECONDS)
            finally:
                try:
                    pubsub.close()
                except Exception:
                    pass

    def _received(self, raw: str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if "op" in message:  # a request: answered in a task of its own
            self._runtime.spawn(self._answer, message)
            return
        with self._guard:
            pending = self._pending.get(message.get("rid", ""))
        if pending is not None:
            pending.reply = message
            pending.event.set()

    def _answer(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"rid": request["rid"]}
        try:
            if self._handler is None:
                raise Refused(Code.UNAVAILABLE, AWAY, retry_after=1.0)
            reply["value"] = self._handler(request["op"], request["payload"])
            reply["ok"] = True
        except Refused as refused:
            reply.update(ok=False, code=refused.code.value, reason=refused.reason)
            reply["details"] = refused.details
        except Exception:
            log.exception("forwarded %s failed", request.get("op"))
            reply.update(ok=False, code=Code.UNAVAILABLE.value, reason=NO_ANSWER)
        try:
            self.before_answer()
            self._redis.publish(self.channel(request["from"]), json.dumps(reply))
        except LOST:
            log.warning("could not answer node %s: Redis is away", request.get("from"))


def _forwarded_refusal(code: Code, reason: str, details: dict[str, Any]) -> Refused:
    """The owner's refusal, rebuilt on the node that asked (its code comes off the wire)."""
    return Refused(code, reason, **details)

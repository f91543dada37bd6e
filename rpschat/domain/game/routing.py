"""Each live game has one owner: the node that created it keeps it in memory and is the only one
to change it, as one process does (lichess's round actor behind its WebSocket nodes). A player's
event on a game (a throw, leaving, a rematch, a forfeit when they are gone) runs on the owner:
here when this node owns the game (always, in one process), else forwarded to the owner through
the `OwnerLink` (with Redis: one PUBLISH to the owner's node channel, its answer back on this
node's), which runs it and emits the game's events to its rooms as usual. No lock is shared
between nodes on the way.

What is forwarded is what the owner needs to act for the caller: the caller's connection as
this node knows it (its sid, for joining and leaving rooms, which the message queue carries to
the right node), the game id and the event's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.context import NO_SUCH_GAME, GameContext, log
from rpschat.domain.game.lifecycle import MatchLifecycle
from rpschat.domain.game.match import GameOver
from rpschat.domain.game.ports import OwnerAway, OwnerLink
from rpschat.domain.ports import Connection, NamedConnection

# An event on a game, on its owner: (the payload as forwarded) -> the answer (JSON)
GameOp = Callable[[dict[str, Any]], Any]

MOVED = "That game is being moved to another server: try again in a moment."
ROUTING_TRIES = 3  # owners looked up for one event (each adoption moves the game once)


def conn_to_wire(conn: Connection) -> dict[str, Any]:
    return {
        "sid": conn.sid,
        "address": conn.address,
        "connected_at": conn.connected_at,
        "user_id": conn.user_id,
        "name": conn.name,
        "token": conn.token,
    }


def conn_from_wire(data: dict[str, Any]) -> NamedConnection:
    return NamedConnection(
        sid=data["sid"],
        address=data["address"],
        connected_at=data["connected_at"],
        user_id=data["user_id"],
        name=data["name"],
        token=data["token"],
    )


class GameRouting:
    """Runs a game's events on its owner (`run`), and the events other nodes forward here."""

    def __init__(
        self,
        ctx: GameContext,
        link: OwnerLink | None,
        adopt: Callable[[str, str | None], object] = lambda node, game_id: None,
    ) -> None:
        self._ctx = ctx
        self._link = link
        self._adopt = adopt  # (dead node, game id): its game is this node's from now on
        self._ops: dict[str, GameOp] = {}
        if link is not None:
            link.serve(self._serve)

    def register(self, op: str, fn: GameOp) -> None:
        self._ops[op] = fn

    def run(self, op: str, game_id: str, payload: dict[str, Any]) -> Any:
        """`op` on the game's owner: here, or forwarded. `payload` is JSON but for "conn", the
        caller's connection (sent as its fields)."""
        payload["game_id"] = game_id
        if self._link is not None:
            for _ in range(ROUTING_TRIES):
                node = self._ctx.store.owner_of(game_id)
                if node is None:
                    break
                sent = payload
                conn = payload.get("conn")
                if isinstance(conn, Connection):  # `Callers.named` gives a Connection
                    sent = {**payload, "conn": conn_to_wire(conn)}
                try:
                    return self._link.call(node, op, sent)
                except OwnerAway:
                    # nobody listens for the owner any more (killed): its game is adopted now,
                    # here or (if another node was quicker) there; ask its owner again
                    self._adopt(node, game_id)
            else:
                raise Refused(Code.UNAVAILABLE, MOVED, retry_after=0.5)
        return self._ops[op](payload)

    def _serve(self, op: str, payload: dict[str, Any]) -> Any:
        """An event another node forwarded: run here if this node still owns the game."""
        fn = self._ops.get(op)
        if fn is None:
            raise Refused(Code.BAD_REQUEST, f"Unknown game operation {op!r}.")
        game_id = payload["game_id"]
        if self._ctx.store.owned(game_id) is None:
            if self._ctx.store.get(game_id) is None:
                raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
            # adopted by another node meanwhile: the caller asks again
            raise Refused(Code.UNAVAILABLE, MOVED, retry_after=0.5)
        if "conn" in payload:
            payload = {**payload, "conn": conn_from_wire(payload["conn"])}
        return fn(payload)


class Adoption:
    """A dead node's games become this node's (the cluster keeper, or `GameRouting` when the
    owner of a game turns out to be gone)."""

    def __init__(self, ctx: GameContext, lifecycle: MatchLifecycle) -> None:
        self._ctx = ctx
        self._lifecycle = lifecycle

    def adopt(self, node: str, game_id: str | None = None) -> int:
        """The games of `node`, which died (or only `game_id` of them), are this node's now, as
        their last snapshot has them: every completed round is there. The round in progress
        starts again (a move thrown on the dead node may be lost), both players told by
        `round_started` with `restarted: true`; a finished game whose result the dead node had
        not stored is recorded (a game id is recorded once) and announced. How many."""
        ctx = self._ctx
        adopted = ctx.store.adopt(node, game_id)
        for match in adopted:
            log.info("game %s adopted from node %s (round %d)", match.game_id, node, match.round)
            with ctx.lock_game(match.game_id):
                if match.is_over:
                    reason = match.reason or "won"
                    over = GameOver(match.game_id, match.winner, dict(match.score), reason)
                    self._lifecycle.finish(match, over)
                    continue
                match.restart_round(ctx.runtime.now())
                ctx.store.put(match)
                self._lifecycle.start_round(match, restarted=True)
        return len(adopted)

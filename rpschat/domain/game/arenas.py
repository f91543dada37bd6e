"""Arenas (issue 26, point 6), as lichess runs them: a moderator schedules one
(`arena_create {starts_at, minutes, best_of}`), everyone in the lobby is told; claimed players
`arena_join` / `arena_leave`; while it runs, every participant who is waiting (joined, not in a
game) is paired at once, never with the same opponent twice in a row if anyone else waits; a
win scores 2, and after two wins in a row every win scores double (4) until a game is not won
(lichess's streak, "on fire"); a game without a winner scores 1 (2 on fire), a loss 0. The
standings are pushed to the arena's room (participants and watchers) as they change; at the
end, the podium (the first three) is kept with the arena, on its page /arena/<id>; the finished
arena is recorded in the results store too (the database, where finished games are kept), which
is where it is found once the live store has lost it (a restart without Redis).

State lives in an `ArenaStore` (this process, or Redis: every node sees the same arena). The
arena's work (scoring finished games, pairing, ending) runs in a tick every second on every
node, under one lock (the shared "arenas" lock with Redis): whichever node ticks first does it.
A game is scored from the results store (the game's record, game/book.py's source), once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.callers import player_calling
from rpschat.domain.game.ports import ResultsStore
from rpschat.domain.game.rules import validate_best_of
from rpschat.domain.ports import (
    LOBBY,
    AccountStore,
    Callers,
    Limits,
    NamedConnection,
    Outbox,
    Runtime,
)

TICK_SECONDS = 1.0
UNRECORDED_SECONDS = 10.0  # a game over and still not in the results: aborted, not scored
MAX_MINUTES = 240
MAX_AHEAD_SECONDS = 7 * 86_400
NO_SUCH_ARENA = "No such arena."


@dataclass
class Player:
    user_id: str
    name: str
    score: int = 0
    streak: int = 0  # wins in a row
    played: int = 0
    wins: int = 0
    game_id: str | None = None  # the arena game being played
    last_opponent: str | None = None
    unrecorded_since: float | None = None  # its game is over and not recorded yet
    active: bool = True  # False once left (the score stays on the standings)

    @property
    def on_fire(self) -> bool:
        return self.streak >= 2


@dataclass
class Arena:
    arena_id: str
    starts_at: float  # runtime clock (wall time)
    ends_at: float
    best_of: int
    created_by: str
    players: dict[str, Player] = field(default_factory=dict)  # user id -> player
    games: list[str] = field(default_factory=list)  # every game id it paired
    podium: list[dict[str, Any]] | None = None  # once over

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arena:
        players = {uid: Player(**p) for uid, p in data.pop("players").items()}
        return cls(players=players, **data)

    def status(self, now: float) -> str:
        if self.podium is not None:
            return "finished"
        return "upcoming" if now < self.starts_at else "running"


def points_for(player: Player, outcome: str) -> int:
    """The points of a game for `player` before counting it: "won", "lost" or "drawn"."""
    if outcome == "won":
        return 4 if player.on_fire else 2
    if outcome == "drawn":
        return 2 if player.on_fire else 1
    return 0


def count_game(player: Player, outcome: str) -> None:
    player.score += points_for(player, outcome)
    player.played += 1
    if outcome == "won":
        player.wins += 1
        player.streak += 1
    else:
        player.streak = 0
    player.game_id = player.unrecorded_since = None


def standings_of(arena: Arena) -> list[dict[str, Any]]:
    ranked = sorted(arena.players.values(), key=lambda p: (-p.score, -p.wins, p.played, p.name))
    return [
        {
            "rank": i + 1,
            "name": p.name,
            "score": p.score,
            "played": p.played,
            "wins": p.wins,
            "streak": p.streak,
            "on_fire": p.on_fire,
            "playing": p.game_id is not None,
            "active": p.active,
        }  # fmt: skip
        for i, p in enumerate(ranked)
    ]


def pairs_for(waiting: list[Player]) -> list[tuple[Player, Player]]:
    """Pairs among waiting players, avoiding a rematch of anyone's last game: the first in
    the list takes the partner who repeats the fewest last opponents (neither's, then only
    one side's, then a rematch when nobody else waits), first in the list among equals."""
    free = list(waiting)
    paired = []
    while len(free) >= 2:
        first = free.pop(0)

        def repeats(p: Player, first: Player = first) -> int:
            return (p.user_id == first.last_opponent) + (first.user_id == p.last_opponent)

        partner = min(free, key=repeats)
        free.remove(partner)
        paired.append((first, partner))
    return paired


class ArenaStore(Protocol):
    def save(self, arena: Arena) -> None: ...
    def get(self, arena_id: str) -> Arena | None: ...
    def all(self) -> list[Arena]: ...


class Moderators(Protocol):
    def is_moderator(self, user_id: str | None) -> bool: ...


class ArenaGames(Protocol):
    def start_arena_game(self, first: str, second: str, best_of: int) -> str | None:
        """A match between the two names at once; its game id, None if either is busy."""

    def is_playing(self, name: str) -> bool: ...
    def is_online(self, name: str) -> bool: ...


class Arenas:
    def __init__(
        self,
        callers: Callers,
        limits: Limits,
        accounts: AccountStore,
        moderators: Moderators,
        outbox: Outbox,
        runtime: Runtime,
        store: ArenaStore,
        games: ArenaGames,
        results: ResultsStore,
        lock: Callable[[], Any],
    ) -> None:
        self._callers = callers
        self._limits = limits
        self._accounts = accounts
        self._moderators = moderators
        self._outbox = outbox
        self._runtime = runtime
        self._store = store
        self._games = games
        self._results = results
        self._lock = lock
        self._timer: Any = None  # this node's next tick, while an arena is not over

    def _caller(self, sid: str) -> NamedConnection:
        return player_calling(self._callers, self._limits, sid)

    def _find(self, arena_id: str) -> Arena | None:
        """The live arena, else the finished one the results store keeps."""
        if len(arena_id) > 32:
            return None
        arena = self._store.get(arena_id)
        if arena is None:
            record = self._results.arena(arena_id)
            arena = None if record is None else Arena.from_dict(record)
        return arena

    def _arena(self, arena_id: str) -> Arena:
        arena = self._find(arena_id)
        if arena is None:
            raise Refused(Code.NO_SUCH_ARENA, NO_SUCH_ARENA)
        return arena

    # ---- events ------------------------------------------------------------------------------

    def create(self, sid: str, starts_at_ms: int, minutes: int, best_of: int) -> dict[str, Any]:
        conn = self._caller(sid)
        if not self._moderators.is_moderator(conn.user_id):
            raise Refused(Code.NOT_MODERATOR, "Only moderators can schedule an arena.")
        best_of = validate_best_of(best_of)
        now = self._runtime.now()
        starts_at = max(now, starts_at_ms / 1000)
        if starts_at > now + MAX_AHEAD_SECONDS:
            raise Refused(Code.BAD_REQUEST, "An arena starts within a week.", field="starts_at")
        if not 1 <= minutes <= MAX_MINUTES:
            raise Refused(Code.BAD_REQUEST, f"minutes must be 1 to {MAX_MINUTES}.", field="minutes")
        arena_id = "a" + secrets.token_urlsafe(8)
        arena = Arena(arena_id, starts_at, starts_at + 60 * minutes, best_of, conn.name)
        self._store.save(arena)
        self._outbox.emit("arena_scheduled", self.view(arena, now), to=LOBBY)
        self.start_ticking(again=True)
        return self.view(arena, now)

    def join(self, sid: str, arena_id: str) -> dict[str, Any]:
        conn = self._caller(sid)
        if self._accounts.of_user(conn.user_id) is None:
            raise Refused(Code.NOT_CLAIMED, "Claim your name to play in an arena.")
        with self._lock():
            arena = self._arena(arena_id)
            now = self._runtime.now()
            if arena.status(now) == "finished":
                raise Refused(Code.ARENA_OVER, "This arena is over.")
            player = arena.players.get(conn.user_id)
            if player is None:
                arena.players[conn.user_id] = Player(conn.user_id, conn.name)
            else:
                player.active, player.name = True, conn.name
            self._store.save(arena)
        self._outbox.join(sid, arena_room(arena_id))
        self._push(arena, now)
        self.start_ticking(again=True)
        return self.view(arena, now)

    def leave(self, sid: str, arena_id: str) -> None:
        conn = self._caller(sid)
        with self._lock():
            arena = self._arena(arena_id)
            player = arena.players.get(conn.user_id)
            if player is None or not player.active:
                raise Refused(Code.NOT_IN_ARENA, "You are not in this arena.")
            player.active = False
            self._store.save(arena)
        self._push(arena, self._runtime.now())

    def watch(self, sid: str, arena_id: str) -> dict[str, Any]:
        """No name needed: the arena's page watches as anyone."""
        arena = self._arena(arena_id)
        self._outbox.join(sid, arena_room(arena_id))
        return self.view(arena, self._runtime.now())

    def list(self, sid: str) -> list[dict[str, Any]]:
        self._caller(sid)
        now = self._runtime.now()
        arenas = sorted(self._store.all(), key=lambda a: a.starts_at)
        return [self.view(a, now, standings=False) for a in arenas if a.podium is None]

    def page(self, arena_id: str) -> dict[str, Any] | None:
        arena = self._find(arena_id)
        return None if arena is None else self.view(arena, self._runtime.now())

    def view(self, arena: Arena, now: float, standings: bool = True) -> dict[str, Any]:
        seen: dict[str, Any] = {
            "arena_id": arena.arena_id,
            "starts_at": int(arena.starts_at * 1000),
            "ends_at": int(arena.ends_at * 1000),
            "best_of": arena.best_of,
            "created_by": arena.created_by,
            "status": arena.status(now),
            "players": len(arena.players),
        }
        if standings:
            seen["standings"] = standings_of(arena)
            seen["podium"] = arena.podium
        return seen

    def _push(self, arena: Arena, now: float) -> None:
        pushed = {k: v for k, v in self.view(arena, now).items() if k != "players"}
        self._outbox.emit("arena_standings", pushed, to=arena_room(arena.arena_id))

    # ---- the tick ----------------------------------------------------------------------------

    def start_ticking(self, again: bool = False) -> None:
        """Tick every second while an arena is not over; `again`: start the ticks afresh
        (an arena was created or joined: its clock is the runtime's now)."""
        if self._timer is not None and not again:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._runtime.call_later(TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        try:
            self.tick()
        except Exception:  # a failed tick (Redis away) tries again at the next
            import logging

            logging.getLogger("rpschat.games").exception("arena tick failed")
        self._timer = None
        if any(a.podium is None for a in self._store.all()):
            self.start_ticking()

    def tick(self) -> None:
        """Score finished arena games, pair who waits, end arenas whose time is up."""
        now = self._runtime.now()
        with self._lock():
            for arena in self._store.all():
                if arena.podium is None and arena.status(now) == "running":
                    self._run(arena, now)

    def _run(self, arena: Arena, now: float) -> None:
        changed = False
        for player in arena.players.values():
            if player.game_id is not None:
                changed |= self._score(player, now)
        if now >= arena.ends_at:
            top = standings_of(arena)[:3]
            arena.podium = [{"rank": p["rank"], "name": p["name"], "score": p["score"]}
                            for p in top]  # fmt: skip
            # recorded first: if the database fails, the arena is not over yet and the next
            # tick tries again (recording it twice changes nothing)
            self._results.record_arena(arena.arena_id, int(arena.ends_at * 1000), arena.to_dict())
            self._store.save(arena)
            self._push(arena, now)
            return
        waiting = [p for p in arena.players.values() if p.active and p.game_id is None
                   and self._games.is_online(p.name)
                   and not self._games.is_playing(p.name)]  # fmt: skip
        for first, second in pairs_for(waiting):
            game_id = self._games.start_arena_game(first.name, second.name, arena.best_of)
            if game_id is None:
                continue
            first.game_id = second.game_id = game_id
            first.last_opponent, second.last_opponent = second.user_id, first.user_id
            arena.games.append(game_id)
            changed = True
        if changed:
            self._store.save(arena)
            self._push(arena, now)

    def _score(self, player: Player, now: float) -> bool:
        game_id = player.game_id
        assert game_id is not None
        game = self._results.game(game_id)
        if game is None:  # being played, or being recorded (or aborted: it keeps no record)
            if self._games.is_playing(player.name):
                return False
            if player.unrecorded_since is None:
                player.unrecorded_since = now
            elif now - player.unrecorded_since > UNRECORDED_SECONDS:
                player.game_id = player.unrecorded_since = None
            return True
        winner = game["winner"]
        outcome = "drawn" if winner is None else "won" if winner == player.name else "lost"
        count_game(player, outcome)
        return True


def arena_room(arena_id: str) -> str:
    return f"arena:{arena_id}"

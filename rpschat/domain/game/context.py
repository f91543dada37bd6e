"""What the parts of the game service share: settings, stores, locks, and who is who.

Locks. Each game has its own (`lock_game`, made by the match store): throws, timers and leaving
in different games never wait for each other, on one node or (with Redis) on many. Taking it
reads the match and releasing it writes the match back (with Redis, one script each: see
`MatchStore.lock`), so code under it `get`s and `put`s the match as often as is clear. Pairing
from the queue (`find_match`) takes no lock: the queue pairs in one atomic step
(`QueueStore.pair`) and a new match claims its players atomically (`MatchStore.create`), so a
player is never put into two games. The rest of pairing (challenges, rematches, requeues, the
queue side of drops) holds the one `LOBBY_LOCK`, briefly. Order: the lobby lock first, then a
game's; never the lobby lock under a game's.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from rpschat.domain.answers import fit_answer
from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.callers import PICK_A_NAME
from rpschat.domain.game.computer import Strategy
from rpschat.domain.game.match import Match
from rpschat.domain.game.ports import GameStores
from rpschat.domain.ports import (
    AccountStore,
    Callers,
    Connection,
    Directory,
    HistoryStore,
    Ignores,
    Limits,
    Lock,
    NamedConnection,
    Outbox,
    Posting,
    Runtime,
    user_room,
)

log = logging.getLogger("rpschat.games")

NO_SUCH_GAME = "No such game."
LOBBY_LOCK = "lobby"
MAX_GAME_ID = 64  # longer ids are nobody's: refused before a lock is made for them


# What anyone may see of a game (`view`): the `watch` ack's `game` and `game_state`'s body, as
# they go on the wire (docs/protocol.md, `watch`).
GameView = dict[str, Any]


@dataclass(frozen=True)
class GamesPage:
    """A page of games as they go on the wire (`games`, `my_games`)."""

    games: list[dict[str, Any]]
    has_more: bool


def game_room(game_id: str) -> str:
    return f"game:{game_id}"


def check_game_id(game_id: str) -> None:
    """An id that can't be a game's is refused before anything is looked up or locked for it."""
    if not game_id or len(game_id) > MAX_GAME_ID:
        raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)


def game_key(game_id: str) -> str:
    """The lock of one game."""
    return f"game:{game_id}"


def new_game_id() -> str:
    return "g" + secrets.token_urlsafe(9)


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass(frozen=True)
class GameSettings:
    round_seconds: float = 15.0
    challenge_seconds: float = 30.0
    resume_grace_seconds: float = 10.0
    leaderboard_size: int = 50
    # How long a finished game is kept for rematches, late refusals and its chat (in memory
    # and in Redis alike).
    finished_game_seconds: float = 120.0
    max_message_chars: int = 2000  # game chat, as the lobby's
    max_answer_bytes: int | None = 256 * 1024  # as the chat's (domain/limits.py)

    def __post_init__(self) -> None:
        if not self.round_seconds > 0:  # a zero-length round could never be played
            raise ValueError(f"round_seconds must be positive, not {self.round_seconds}")


class GameContext:
    """The collaborators and small helpers every part of the game service uses."""

    def __init__(
        self,
        callers: Callers,
        limits: Limits,
        posting: Posting,
        ignores: Ignores,
        directory: Directory,
        accounts: AccountStore | None,
        outbox: Outbox,
        runtime: Runtime,
        history: HistoryStore,
        stores: GameStores,
        settings: GameSettings,
        strategy: Strategy,
    ) -> None:
        self.callers = callers
        self.limits = limits
        self.posting = posting  # game chat: a muted user's is refused
        self.ignores = ignores  # challenges: an ignoring user takes none
        self.directory = directory
        self.accounts = accounts  # a claimed name's finished games are kept
        self.outbox = outbox
        self.runtime = runtime
        self.history = history
        self.results = stores.results
        self.settings = settings
        self.store = stores.matches
        self.spectators = stores.spectators
        self.drops = stores.drops
        self.locks = stores.locks
        self.archive = stores.archive
        self.strategy = strategy
        self._user_ids: dict[str, str] = {}  # display name -> user id
        self._names: dict[str, str] = {}  # user id -> display name last seen

    # ---- locks -------------------------------------------------------------------------------

    def lobby(self) -> Lock:
        return self.locks.hold(LOBBY_LOCK)

    def game_lock(self, game_id: str) -> Lock:
        """The lock of a client-named game; an id that can't be a game's is refused first."""
        check_game_id(game_id)
        return self.lock_game(game_id)

    def lock_game(self, game_id: str) -> Lock:
        return self.locks.hold(game_key(game_id), partial(self.store.lock, game_id))

    # ---- callers and players -----------------------------------------------------------------

    def caller(self, sid: str) -> NamedConnection:
        """The caller's named connection; also keeps the name -> user id map current."""
        try:
            conn = self.callers.named(sid)
        except Refused:
            raise Refused(Code.NAME_REQUIRED, PICK_A_NAME) from None
        self.remember(conn.user_id, conn.name)
        return conn

    def limit(self, conn: Connection, kind: str) -> None:
        self.limits.limit(conn, kind)

    def fit(self, items: list[Any], keep_newest: bool) -> tuple[list[Any], bool]:
        """The items that fit in one answer (domain/answers.py)."""
        return fit_answer(items, keep_newest, self.settings.max_answer_bytes)

    def check_not_muted(self, conn: Connection) -> None:
        self.posting.check_can_post(conn)

    def remember(self, user_id: str, name: str) -> None:
        old = self._names.get(user_id)
        if old is not None and old != name and self._user_ids.get(old) == user_id:
            del self._user_ids[old]  # renamed since
        self._names[user_id] = name
        self._user_ids[name] = user_id

    def forget_user(self, user_id: str, name: str) -> None:
        self._names.pop(user_id, None)
        if self._user_ids.get(name) == user_id:
            del self._user_ids[name]

    def user_id_of(self, name: str) -> str | None:
        return self._user_ids.get(name) or self.directory.user_of(name)

    def match(self, game_id: str) -> Match:
        """The game as it stands (another node's: its latest snapshot), to read."""
        match = self.store.get(game_id)
        if match is None:
            raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
        return match

    def owned_match(self, game_id: str) -> Match:
        """The game, to change: this node's own (the caller runs on the game's owner)."""
        match = self.store.owned(game_id)
        if match is None:
            raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
        return match

    def in_live_game(self, name: str) -> bool:
        return self.store.live_game_of(name) is not None

    def emit_to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None:
        """To a player's user room (it follows them across reconnects)."""
        self.outbox.emit(event, data, to=user_room(user_id))

    def emit_to_name(self, name: str, event: str, data: dict[str, Any]) -> None:
        """To the user room of whoever is named `name` (challenges are between names)."""
        user_id = self.user_id_of(name)
        if user_id is not None:
            self.outbox.emit(event, data, to=user_room(user_id))

    def view(self, match: Match) -> GameView:
        """What anyone may see: who has thrown, never what, until the round resolves."""
        view = match.public_view()
        del view["round_deadline"]  # server clock seconds: clients get a duration instead
        view["time_left_ms"] = ms(match.time_left(self.runtime.now()))
        view["spectators"] = self.spectators.count(match.game_id)
        return view

    @staticmethod
    def guarded(fn: Any, *args: Any) -> None:
        """Timers run as tasks of their own: log a failure instead of losing it silently."""
        try:
            fn(*args)
        except Exception:
            log.exception("game timer failed")

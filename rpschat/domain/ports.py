"""What the domain needs from the outside world, as small interfaces.

Every collaborator the domain is handed (storage, the event loop, the web layer) is typed with a
Protocol from here; the implementations live in `rpschat.storage`, `rpschat.runtime` and
`rpschat.web`, which import this module, never the other way round (tests/unit/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from rpschat.domain.errors import Code, Refused

# Ids and cursors are 64-bit in storage (SQLite INTEGER, PostgreSQL BIGINT): a larger number
# can't even be compared there, so the web layer refuses it rather than the database failing.
MAX_ID = 2**63 - 1

if TYPE_CHECKING:
    from types import TracebackType

    from rpschat.domain.game.match import GameResult, Match
    from rpschat.domain.matchmaking import Challenge
    from rpschat.domain.ratelimit import RateSpec

LOBBY = "lobby"


def user_room(user_id: str) -> str:
    """Every connection of a user is in this room: emits reach the user across reconnects."""
    return f"user:{user_id}"


# ---------------------------------------------------------------- clients


class Outbox(Protocol):
    """Sends events to connections and rooms; the web layer implements it with Socket.IO."""

    def emit(self, event: str, data: Any, *, to: str | None = None, skip_sid: str | None = None):
        """`to` is a connection id or a room; None means everyone."""

    def join(self, sid: str, room: str) -> None: ...
    def leave(self, sid: str, room: str) -> None: ...
    def disconnect(self, sid: str) -> None: ...


class PresenceListener(Protocol):
    """Told when users drop, come back or leave for good (the game reacts to these)."""

    def is_busy(self, user_id: str) -> bool: ...
    def user_dropped(self, user_id: str, name: str) -> None: ...
    def user_back(self, user_id: str, name: str, sid: str) -> None: ...
    def replay_game_chat(self, user_id: str, name: str, sid: str, last_id: int) -> None:
        """After `user_back`: the game chat above `last_id` (one id sequence with the lobby)."""

    def user_gone(self, user_id: str, name: str) -> None: ...


# ---------------------------------------------------------------- the event loop


class Event(Protocol):
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def is_set(self) -> bool: ...


class Queue(Protocol):
    def put(self, item: Any) -> None: ...
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Raises queue.Empty when nothing came within `timeout`."""

    def get_nowait(self) -> Any: ...


class Cancellable(Protocol):
    def cancel(self) -> Any: ...


class Runtime(Protocol):
    """What code needs from the event loop: tasks, sleeping, events, queues, blocking calls.

    Implemented by `rpschat.runtime` (eventlet or plain threads), so the domain and storage never
    import eventlet and unit tests run on threads."""

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def call_later(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Cancellable:
        """Run `fn` in a task of its own after `seconds`, unless cancelled first. Costs no
        task (and no stack) while it waits, so a timer per round or challenge is cheap."""

    def defer(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` without holding up the caller (a green thread), or at once where the
        caller may block (threads: the test client expects acks before `emit` returns)."""

    def sleep(self, seconds: float) -> None: ...
    def event(self) -> Event: ...
    def queue(self) -> Queue: ...
    def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def now(self) -> float: ...


class Lock(Protocol):
    """A reentrant lock: `threading.RLock`, or one shared by every node (Redis)."""

    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class Locks(Protocol):
    """Reentrant locks by key (a game, the lobby): in this process, or shared by every node."""

    def hold(self, key: str, make: Callable[[], Lock] | None = None) -> Lock:
        """The lock of `key`; `make` makes it when nobody holds or waits for it (default: the
        Locks' own kind)."""


# ---------------------------------------------------------------- names, users and tokens


def name_taken(name: str) -> Refused:
    """What `Directory.claim` raises when another user holds the name."""
    return Refused(Code.NAME_TAKEN, f"The name '{name}' is taken: pick another.")


class Directory(Protocol):
    """Names online, unique case-insensitively, and the connection each user is on."""

    def claim(self, user_id: str, name: str) -> str | None:
        """Give `user_id` the name (renaming it if it had one); return the old name.

        Raises `name_taken(name)` when another user holds the name."""

    def release(self, user_id: str) -> str | None:
        """Free the user's name; return it (None if it had none)."""

    def name_of(self, user_id: str) -> str | None: ...
    def user_of(self, name: str) -> str | None: ...
    def names(self) -> list[str]: ...
    def count(self) -> int: ...
    def attach(self, user_id: str, sid: str, slot: str | None = None) -> str | None:
        """Make `sid` the user's connection in `slot` (one per resume token; None: the user
        id's own); return the one it replaces there, if any. A user logged in with a password
        on several devices has one slot each."""

    def detach(self, user_id: str, sid: str) -> bool:
        """Forget `sid`; True if it was the user's last connection (the user is now away)."""

    def sid_of(self, user_id: str) -> str | None:
        """One of the user's connections (the latest attached that is still there)."""

    def connections_of(self, user_id: str) -> list[str]:
        """Every connection of the user, on every node."""

    def note_address(self, user_id: str, address: str) -> None:
        """The client address the user last connected from (a ban holds it)."""

    def address_of(self, user_id: str) -> str | None: ...


@dataclass(frozen=True)
class TokenGrant:
    user_id: str
    name: str


def token_slot(token: str) -> str:
    """The part of a token `<id>.<secret>` that names the connection slot it resumes; a
    password log-in's tokens are `<user_id>_<login>.<secret>`, so each device keeps its own."""
    return token.partition(".")[0]


def token_user(token_id: str) -> str:
    """The user id a token's id stands for (see `token_slot`)."""
    return token_id.partition("_")[0]


class TokenStore(Protocol):
    def issue(self, user_id: str, name: str) -> str: ...
    def resolve(self, token: object) -> TokenGrant | None:
        """The grant for a valid, unexpired token (and its expiry pushed back), else None."""

    def rename(self, user_id: str, name: str) -> None: ...


class RateLimiter(Protocol):
    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        """Raise Refused when `subject` is over `spec` for this kind; None means no limit."""

    def forget(self, subject: str) -> None: ...


@dataclass(frozen=True)
class Account:
    """A claimed name: only its password (kept as an Argon2id hash) takes it."""

    key: str  # domain.names.look_alike_key(name): one claim per look-alike group
    name: str
    user_id: str  # the user behind the name on every device, for good
    password_hash: str
    created_at: int  # ms since the epoch


class AccountStore(Protocol):
    def get(self, key: str) -> Account | None: ...
    def of_user(self, user_id: str) -> Account | None: ...
    def create(self, account: Account) -> bool:
        """Stores it; False (nothing stored) if its key is claimed already."""

    def delete(self, key: str, user_id: str) -> bool:
        """Forgets the claim if it is still `user_id`'s; True if it was."""


@dataclass(frozen=True)
class Sanction:
    """A mute, kick or ban until `until_ms`, of a user, a claimed name or an address."""

    kind: str  # "mute", "kick" or "ban"
    until_ms: int
    reason: str | None = None
    user_id: str | None = None
    name_key: str | None = None
    address: str | None = None


class ModerationStore(Protocol):
    def add(self, sanction: Sanction) -> None: ...
    def remove(self, kind: str, user_id: str | None) -> bool:
        """Lifts the user's sanctions of that kind still running; True if there was one."""

    def active(
        self,
        kind: str,
        now_ms: int,
        user_id: str | None = None,
        name_key: str | None = None,
        address: str | None = None,
    ) -> Sanction | None:
        """The longest-running sanction of that kind matching the one field given."""

    def audit(
        self,
        moderator: str,
        action: str,
        target: str,
        reason: str | None,
        until_ms: int | None,
        ts: int,
    ) -> None: ...
    def log(self, limit: int) -> list[dict[str, Any]]:
        """The audit log, newest first."""

    def report(self, user_id: str, name: str, message_id: int, reason: str, ts: int) -> int: ...
    def ignore(self, user_id: str, other_id: str) -> None: ...
    def unignore(self, user_id: str, other_id: str) -> None: ...
    def ignores(self, user_id: str, other_id: str) -> bool: ...


class PasswordHasher(Protocol):
    """Slow on purpose: call through `Runtime.run_blocking`."""

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


# ---------------------------------------------------------------- history and results


@dataclass(frozen=True)
class StoredMessage:
    """A chat message as stored: lobby and game chat share one id sequence."""

    id: int
    room: str
    user_id: str
    name: str
    text: str
    ts: int  # ms since the Unix epoch
    client_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "txt": self.text, "ts": self.ts}


OnCommit = Callable[[StoredMessage], None]


class HistoryStore(Protocol):
    def append(
        self,
        room: str,
        user_id: str,
        name: str,
        text: str,
        client_id: str | None = None,
        on_commit: OnCommit | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Stores a message and returns once it is committed: (message, duplicate).

        A known (user_id, client_id) returns the stored message with duplicate=True, and
        on_commit is not called. on_commit(message) runs after the commit, in id order.
        """
        ...

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        """Oldest first: the newest `limit` (below `before`), or the oldest above `after`.

        has_more: there are more beyond the page (older ones, or with `after` newer ones).
        """
        ...

    def after(self, room: str, last_id: int, limit: int = 1000) -> list[StoredMessage]:
        """Messages with id > last_id, oldest first: the replay after a resume."""
        ...

    def get(self, message_id: int) -> StoredMessage | None: ...
    def delete(self, message_id: int) -> StoredMessage | None:
        """Removes a message (a moderator's delete): gone from pages and replays."""

    def close(self, timeout: float = 10) -> bool:
        """Refuses new appends and commits those already queued; False if that outlasts timeout."""
        ...


Standing = dict[str, Any]  # {"name", "wins", "losses", "draws", "rating", "claimed"}


class ResultsStore(Protocol):
    def record(
        self,
        winner: str | None,
        loser: str | None,
        players: tuple[str, str],
        reason: str,
        best_of: int,
        score: dict[str, int],
        game_id: str,
    ) -> bool:
        """Counts a finished game: a win and a loss, or (winner None) a draw for both players.

        Recording the same game_id again changes nothing and returns False.
        """
        ...

    def record_many(self, results: list[GameResult]) -> list[bool]:
        """`record` each, in one transaction (games end faster than a database commits them
        one by one); which of them were new."""
        ...

    def forget_guest(self, name: str, user_id: str) -> bool:
        """Removes the row of a guest who left for good (a claimed user's row stays)."""

    def leaderboard(self, limit: int = 50) -> list[Standing]:
        """Highest rating first, then most wins, fewest losses, name (case-insensitively)."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- direct messages


@dataclass(frozen=True)
class DirectMessage:
    """A message from one user to another. Ids are their own sequence (not the lobby's)."""

    id: int
    sender_id: str
    sender: str  # names as they were when it was sent
    recipient_id: str
    recipient: str
    text: str
    ts: int  # ms since the epoch
    client_id: str | None = None
    unread: bool = False  # the recipient was offline: delivered at its next log-in

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "to": self.recipient, "text": self.text,
                "ts": self.ts}  # fmt: skip


class DmStore(Protocol):
    def append(
        self,
        sender_id: str,
        sender: str,
        recipient_id: str,
        recipient: str,
        text: str,
        client_id: str | None,
        unread: bool,
    ) -> tuple[DirectMessage, bool]:
        """Stores it and returns once committed: (message, duplicate). A known (sender_id,
        client_id) returns the stored message with duplicate=True. Ids grow in commit order."""
        ...

    def conversation(
        self, user_id: str, other_id: str, before: int | None = None, limit: int = 50
    ) -> tuple[list[DirectMessage], bool]:
        """The newest `limit` between the two (below `before`), oldest first; has_more."""
        ...

    def since(self, user_id: str, after_id: int, limit: int) -> list[DirectMessage]:
        """Sent or received by the user, id > after_id, oldest first (a resume's replay)."""
        ...

    def unread(self, user_id: str, after_id: int, limit: int) -> list[DirectMessage]:
        """Received while offline and not delivered yet, id > after_id, oldest first."""
        ...

    def mark_read(self, user_id: str) -> None:
        """Every unread message to the user has been delivered."""


# ---------------------------------------------------------------- game history


@dataclass(frozen=True)
class GameRecord:
    """A finished game as one of its players keeps it (`my_games`)."""

    game_id: str
    user_id: str  # whose record: each player of a game has one
    name: str  # the name they played under
    opponent: str
    computer: bool
    best_of: int
    winner: str | None
    score: dict[str, int]
    rounds: list[dict[str, Any]]  # [{round, moves, winner}], oldest first
    reason: str
    ended_at: int  # ms since the epoch
    id: int = 0  # the archive's own increasing number: the `before` cursor of `my_games`

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "game_id": self.game_id,
            "opponent": self.opponent,
            "computer": self.computer,
            "best_of": self.best_of,
            "winner": self.winner,
            "score": dict(self.score),
            "rounds": [dict(entry) for entry in self.rounds],
            "reason": self.reason,
            "ended_at": self.ended_at,
        }


class GameArchive(Protocol):
    """Every player's finished games: a claimed name's for good, a guest's until it leaves."""

    def add_many(self, records: list[GameRecord]) -> None:
        """Stores them in one transaction; a (user, game) stored already is left as it is."""

    def page(
        self, user_id: str, before: int | None = None, limit: int = 20
    ) -> tuple[list[GameRecord], bool]:
        """The user's games, newest first (below `before`, a record's `id`); has_more."""
        ...

    def forget_user(self, user_id: str) -> None: ...


# ---------------------------------------------------------------- games


class MatchStore(Protocol):
    """Matches by game id, live and recently finished; a player is in at most one live match.

    Every query is by key or by player: none costs time in proportion to the games stored."""

    def get(self, game_id: str) -> Match | None: ...
    def lock(self, game_id: str) -> Lock:
        """A new lock of the game (`Locks.hold` keeps one per game at a time). While it is held,
        `get` and `put` of that game may cost no round trip of their own: with Redis, taking it
        reads the match and releasing it writes the last match `put`, one script each, and that
        write is refused (raises Refused) if the lock expired and was lost meanwhile."""

    def create(self, match: Match) -> bool:
        """Store a new live match if neither player is in a live one (atomically); else False."""

    def put(self, match: Match) -> None: ...
    def delete(self, game_id: str) -> None: ...
    def live_game_of(self, player: str) -> str | None: ...
    def games_of(self, player: str) -> list[Match]:
        """The kept matches (live and finished) `player` played in."""

    def live_games(self) -> list[Match]:
        """Live matches, in the order they started."""

    def live_count(self) -> int: ...

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        """(game id, round) of live matches whose round deadline is before `cutoff`."""


class SpectatorStore(Protocol):
    """Who watches which game, indexed both ways: a user leaving costs their own games only."""

    def add(self, game_id: str, user_id: str) -> None: ...
    def discard(self, game_id: str, user_id: str) -> bool: ...
    def is_watching(self, game_id: str, user_id: str) -> bool: ...
    def count(self, game_id: str) -> int: ...
    def games_of(self, user_id: str) -> list[str]: ...
    def drop_user(self, user_id: str) -> None: ...
    def drop_game(self, game_id: str) -> set[str]:
        """Forget the game's spectators; returns them."""


@dataclass(frozen=True)
class Drop:
    """A player whose connection was lost: since when, and the queue they were taken out of."""

    at: float
    queued_best_of: int | None = None


class DropStore(Protocol):
    """Players whose connection is lost (in their grace period), by name."""

    def add(self, name: str, drop: Drop) -> None: ...
    def get(self, name: str) -> Drop | None: ...
    def pop(self, name: str) -> Drop | None: ...
    def forget_queue(self, name: str) -> None:
        """Keep the drop, but do not put the player back in the queue on resume."""


class ExpiredChallengeStore(Protocol):
    """Ids of recently expired challenges (to tell "expired" from "no such"), a bounded number."""

    def add(self, challenge_ids: list[str]) -> None: ...
    def __contains__(self, challenge_id: object) -> bool: ...


class QueueStore(Protocol):
    """Per-best_of FIFO queues of player names; a player is in at most one queue."""

    def pair(
        self, player: str, best_of: int, is_busy: Callable[[str], bool]
    ) -> tuple[str, str | None]:
        """One atomic step: ("busy", None) if `player` is in a live game, ("queued", None) if
        already waiting, ("paired", partner) with the oldest waiting player not in a live game
        (those in one leave the queue), else ("waiting", None) with `player` queued. `is_busy`
        serves stores that can't see the live games themselves (Redis checks them in the same
        script)."""

    def append(self, player: str, best_of: int) -> None: ...
    def pop_oldest(self, best_of: int) -> str | None: ...
    def discard(self, player: str) -> bool: ...
    def best_of_for(self, player: str) -> int | None: ...
    def waiting(self, best_of: int) -> list[str]: ...
    def count(self) -> int: ...


class ChallengeStore(Protocol):
    def save(self, challenge: Challenge) -> None: ...
    def get(self, challenge_id: str) -> Challenge | None: ...
    def delete(self, challenge_id: str) -> Challenge | None: ...
    def all(self) -> list[Challenge]: ...


class RematchStore(Protocol):
    def add_request(self, game_id: str, player: str, players: frozenset[str]) -> frozenset[str]: ...
    def requests(self, game_id: str) -> frozenset[str]: ...
    def clear(self, game_id: str) -> None: ...
    def games_involving(self, player: str) -> list[str]: ...

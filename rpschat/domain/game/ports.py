"""What the game needs from storage, as small interfaces, and the records they keep.

The implementations: rpschat/storage/memory/ (in this process), rpschat/storage/redis/ (shared
by every node), rpschat/storage/sql/ (results and finished games, in the database).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from rpschat.domain.errors import Refused
from rpschat.domain.game.fairness import verified
from rpschat.domain.game.match import GameResult, Match
from rpschat.domain.game.seeking import SeekStore
from rpschat.domain.ports import Lock, Locks

# ---------------------------------------------------------------- results

# {"name", "wins", "losses", "draws", "rating", "deviation", "provisional", "claimed"}
Standing = dict[str, Any]


# A finished game kept for good: {game_id, players (names), user_ids (name -> user id, the
# people), computer, best_of, winner, score, reason, ended_at (ms), rounds ([{round, moves,
# winner, score, timeout, commit?, salt?}]), ratings ({rated, players: {name: {before, after}}}
# or None)}
StoredGame = dict[str, Any]


@dataclass(frozen=True)
class Leaderboard:
    """The established ratings, best first, and how many provisional ones were left out (a
    rating is provisional while its deviation is above 110: a guest's always is)."""

    players: list[Standing] = field(default_factory=list)
    provisional: int = 0


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

    def leaderboard(self, limit: int = 50) -> Leaderboard:
        """The established ratings: highest first, then most wins, fewest losses, name
        (case-insensitively); and how many provisional ones it leaves out."""
        ...

    def standing(self, name: str) -> Standing | None:
        """The name's row, established or not (None: no game counted under it)."""
        ...

    def game(self, game_id: str) -> StoredGame | None:
        """A finished game (people's and the computer's), kept for good."""
        ...

    def games_of(self, user_id: str, limit: int) -> list[StoredGame]:
        """The user's last finished games, newest first."""
        ...

    def record_arena(self, arena_id: str, ends_at_ms: int, record: dict[str, Any]) -> None:
        """Keeps a finished arena for good (game/arenas.py's `Arena.to_dict`); recording
        the same arena_id again changes nothing."""
        ...

    def arena(self, arena_id: str) -> dict[str, Any] | None:
        """A finished arena's record, as recorded."""
        ...

    def close(self) -> None: ...


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
        rounds = [with_verification(entry, self.opponent) for entry in self.rounds]
        wire: dict[str, Any] = {
            "id": self.id,
            "game_id": self.game_id,
            "opponent": self.opponent,
            "computer": self.computer,
            "best_of": self.best_of,
            "winner": self.winner,
            "score": dict(self.score),
            "rounds": rounds,
            "reason": self.reason,
            "ended_at": self.ended_at,
        }
        if self.computer:
            wire["verified"] = all_verified(rounds)
        return wire


def with_verification(entry: dict[str, Any], computer: str) -> dict[str, Any]:
    """A stored round; a computer's round that has its commitment says whether the move shown
    opens it (`verified`)."""
    entry = dict(entry)
    if "commit" in entry:
        move = (entry.get("moves") or {}).get(computer)
        entry["verified"] = verified(entry["commit"], move, entry.get("salt"))
    return entry


def all_verified(rounds: list[dict[str, Any]]) -> bool:
    """Every round of a computer's game carries its commitment and opens it (games from before
    commitments, none: False)."""
    return bool(rounds) and all(entry.get("verified") is True for entry in rounds)


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

    Each game has one owner: the node that created it (or adopted it from a dead node) keeps it
    in memory and is the only one to change it (`owned`, `put`); other nodes read its latest
    snapshot (`get`) and forward what changes it to the owner (`owner_of`, `OwnerLink`). In one
    process every game is this process's. Every query is by key or by player: none costs time
    in proportion to the games stored."""

    def get(self, game_id: str) -> Match | None:
        """This node's own match, or (another node's) its latest snapshot: read only."""

    def owned(self, game_id: str) -> Match | None:
        """The match if this node owns it (the one a change may be made to), else None."""

    def owner_of(self, game_id: str) -> str | None:
        """The other node that owns the game; None if this node does or nobody does."""

    def lock(self, game_id: str) -> Lock:
        """A new lock of the game, for its owner's tasks (`Locks.hold` keeps one per game)."""

    def create(self, match: Match) -> bool:
        """Store a new live match if neither player is in a live one (atomically); else False.
        This node owns it."""

    def put(self, match: Match) -> None:
        """The owner's change to its match (a finished round, its end: kept before the players
        are told)."""

    def recorded(self, game_id: str) -> None:
        """The finished game's result is stored: a node adopting this one's games needs not
        record it again."""

    def adopt(self, node: str, game_id: str | None = None) -> list[Match]:
        """The games of `node`, which is dead (or only `game_id` of them): this node's from now
        on, as their last snapshots have them (each adopted by one node only)."""

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


# Ids of expired challenges remembered to tell "expired" from "no such": a bounded FIFO.
EXPIRED_CHALLENGES_KEPT = 1024


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


@dataclass(frozen=True)
class Challenge:
    challenge_id: str
    challenger: str
    challenged: str
    best_of: int
    expires_at: float

    def involves(self, player: str) -> bool:
        return player in (self.challenger, self.challenged)

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "challenger": self.challenger,
            "challenged": self.challenged,
            "best_of": self.best_of,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        return cls(**data)


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


class OwnerAway(Refused):
    """Raised by `OwnerLink.call` when nobody listens for the owner any more (its process is
    gone): its games may be adopted at once."""


class OwnerLink(Protocol):
    """How a node reaches the owner of a game (`MatchStore.owner_of`) with a player's event:
    one message there, its answer back; no lock."""

    def call(self, node: str, op: str, payload: dict[str, Any]) -> Any:
        """Run `op` on `node` (its `serve` handler): its return value, or its refusal raised
        here; refused `unavailable` if the node does not answer."""

    def serve(self, handler: Callable[[str, dict[str, Any]], Any]) -> None:
        """Run `handler(op, payload)` for every `call` sent to this node."""


@dataclass(frozen=True)
class GameStores:
    """Everything the game keeps: live state (in this process, or shared by every node with
    Redis), the locks over it, and what lasts (results, finished games: the database)."""

    matches: MatchStore
    queue: QueueStore
    challenges: ChallengeStore
    rematches: RematchStore
    spectators: SpectatorStore
    drops: DropStore
    expired_challenges: ExpiredChallengeStore
    locks: Locks
    results: ResultsStore
    archive: GameArchive
    link: OwnerLink | None = None  # to other nodes' games (none in one process)
    seeks: SeekStore | None = None  # quick match by rating (game/seeking.py); None: in memory

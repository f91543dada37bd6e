"""Finding opponents: a first-come-first-served queue, direct challenges, and rematches.

Refusal texts follow docs/protocol.md.

Each keeps its state behind a small store interface (game/ports.py): in this process
(`storage/memory/matchmaking.py`), or in Redis (`storage/redis/matchmaking.py`) when several
nodes share it. Pairing from the queue is
one atomic step of the store (`QueueStore.pair`); the rest runs under the game service's lobby
lock. Players are identified by their display name.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.ports import Challenge, ChallengeStore, QueueStore, RematchStore
from rpschat.domain.game.rules import DEFAULT_BEST_OF, validate_best_of

IsBusy = Callable[[str], bool]

ALREADY_QUEUED = "You are already looking for a match."
ALREADY_IN_GAME = "You are already in a game."
NOT_QUEUED = "You are not looking for a match."  # for the caller when cancel() returns False
NO_SUCH_CHALLENGE = "No such challenge."
CHALLENGE_EXPIRED = "That challenge has expired."
DEFAULT_CHALLENGE_TTL_SECONDS = 30.0


def _never_busy(player: str) -> bool:
    return False


def _new_challenge_id() -> str:
    return secrets.token_urlsafe(12)


# ---------------------------------------------------------------- queue


@dataclass(frozen=True)
class QueuePair:
    """Two queued players matched together; `waited` was in the queue first."""

    waited: str
    arrived: str
    best_of: int

    @property
    def players(self) -> tuple[str, str]:
        return (self.waited, self.arrived)


class Matchmaker:
    """Pairs each arriving player with the earliest player waiting for the same best_of."""

    def __init__(self, store: QueueStore, is_busy: IsBusy | None = None) -> None:
        self._is_busy = is_busy or _never_busy
        self._store = store

    def enqueue(self, player: str, best_of: int = DEFAULT_BEST_OF) -> QueuePair | None:
        """The pairing if `player` completes one, else None (the player now waits)."""
        best_of = validate_best_of(best_of)
        outcome, partner = self._store.pair(player, best_of, self._is_busy)
        if outcome == "busy":
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        if outcome == "queued":
            raise Refused(Code.ALREADY_QUEUED, ALREADY_QUEUED)
        if partner is None:
            return None
        return QueuePair(waited=partner, arrived=player, best_of=best_of)

    def wait_again(self, player: str, best_of: int) -> None:
        """Back to the queue (at its end): a partner paired with `player` turned out busy."""
        if not self._is_busy(player):
            self._store.append(player, best_of)

    def cancel(self, player: str) -> bool:
        """Leave the queue; False if the player was not queued."""
        return self._store.discard(player)

    def remove(self, player: str) -> bool:
        """Drop a disconnected player; same effect as cancel, named for the caller's intent."""
        return self._store.discard(player)

    def is_queued(self, player: str) -> bool:
        return self._store.best_of_for(player) is not None

    def queued_best_of(self, player: str) -> int | None:
        return self._store.best_of_for(player)

    def waiting(self, best_of: int) -> list[str]:
        """Players waiting for `best_of`, oldest first."""
        return self._store.waiting(best_of)

    def queued_count(self) -> int:
        return self._store.count()


# ---------------------------------------------------------------- challenges


class Challenges:
    """Direct challenges: one player invites another, who accepts or declines before expiry."""

    def __init__(
        self,
        store: ChallengeStore,
        is_busy: IsBusy | None = None,
        new_id: Callable[[], str] = _new_challenge_id,
    ) -> None:
        self._is_busy = is_busy or _never_busy
        self._store = store
        self._new_id = new_id

    def challenge(
        self,
        challenger: str,
        challenged: str,
        best_of: int,
        now: float,
        ttl_seconds: float = DEFAULT_CHALLENGE_TTL_SECONDS,
    ) -> Challenge:
        best_of = validate_best_of(best_of)
        if challenger == challenged:
            raise Refused(Code.SELF_TARGET, "You can't challenge yourself.")
        if self._is_busy(challenger):
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        if self._is_busy(challenged):
            raise Refused(Code.OPPONENT_BUSY, f"{challenged} is already in a game.")
        self.expire(now)
        self._refuse_duplicate(challenger, challenged)
        challenge = Challenge(self._new_id(), challenger, challenged, best_of, now + ttl_seconds)
        self._store.save(challenge)
        return challenge

    def accept(self, challenge_id: str, by_player: str, now: float) -> Challenge:
        """Consume the challenge; the caller then starts the match between its two players."""
        challenge = self._pending(challenge_id, now)
        if by_player != challenge.challenged:
            raise Refused(
                Code.NOT_CHALLENGED, f"Only {challenge.challenged} can accept this challenge."
            )
        if self._is_busy(by_player):
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        self._store.delete(challenge_id)
        if self._is_busy(challenge.challenger):
            raise Refused(Code.OPPONENT_BUSY, f"{challenge.challenger} is already in a game.")
        return challenge

    def decline(self, challenge_id: str, by_player: str, now: float) -> Challenge:
        """The challenged player says no; returns the challenge so the challenger can be told."""
        challenge = self._pending(challenge_id, now)
        if by_player != challenge.challenged:
            raise Refused(
                Code.NOT_CHALLENGED, f"Only {challenge.challenged} can decline this challenge."
            )
        self._store.delete(challenge_id)
        return challenge

    def cancel_for(self, player: str) -> list[Challenge]:
        """Drop every challenge from or to `player` (disconnect, or they started a game)."""
        return self._delete_all(c for c in self._store.all() if c.involves(player))

    def expire(self, now: float) -> list[Challenge]:
        """Drop stale challenges; returns them so both sides can be told."""
        return self._delete_all(c for c in self._store.all() if c.is_expired(now))

    def get(self, challenge_id: str, now: float) -> Challenge | None:
        challenge = self._store.get(challenge_id)
        if challenge is None or challenge.is_expired(now):
            return None
        return challenge

    def pending_for(self, player: str, now: float) -> list[Challenge]:
        """Live challenges sent or received by `player`, oldest expiry first."""
        live = [c for c in self._store.all() if c.involves(player) and not c.is_expired(now)]
        return sorted(live, key=lambda c: c.expires_at)

    def _pending(self, challenge_id: str, now: float) -> Challenge:
        challenge = self._store.get(challenge_id)
        if challenge is None:
            raise Refused(Code.NO_SUCH_CHALLENGE, NO_SUCH_CHALLENGE)
        if challenge.is_expired(now):
            self._store.delete(challenge_id)
            raise Refused(Code.CHALLENGE_EXPIRED, CHALLENGE_EXPIRED)
        return challenge

    def _refuse_duplicate(self, challenger: str, challenged: str) -> None:
        for existing in self._store.all():
            if (existing.challenger, existing.challenged) == (challenger, challenged):
                raise Refused(Code.ALREADY_CHALLENGED, f"You already challenged {challenged}.")
            if (existing.challenger, existing.challenged) == (challenged, challenger):
                raise Refused(
                    Code.CHALLENGED_YOU,
                    f"{challenged} has already challenged you: accept it instead.",
                )

    def _delete_all(self, challenges: Iterable[Challenge]) -> list[Challenge]:
        doomed = list(challenges)  # materialise before deleting from the store we iterate
        for challenge in doomed:
            self._store.delete(challenge.challenge_id)
        return doomed


# ---------------------------------------------------------------- rematches


class Rematches:
    """Both players of a finished game must ask before a rematch starts."""

    def __init__(self, store: RematchStore) -> None:
        self._store = store

    def request(self, game_id: str, player: str, players_of_game: Iterable[str]) -> bool:
        """True exactly once: when the last of the game's players asks (then requests reset)."""
        players = frozenset(players_of_game)
        if player not in players:
            raise Refused(Code.NOT_A_PLAYER, "You did not play in this game.")
        if self._store.add_request(game_id, player, players) >= players:
            self._store.clear(game_id)
            return True
        return False

    def requested_by(self, game_id: str) -> frozenset[str]:
        return self._store.requests(game_id)

    def cancel_for(self, player: str) -> list[str]:
        """Forget pending rematches of games `player` played (they left); returns the game ids."""
        game_ids = self._store.games_involving(player)
        for game_id in game_ids:
            self._store.clear(game_id)
        return game_ids

    def forget(self, game_id: str) -> None:
        self._store.clear(game_id)

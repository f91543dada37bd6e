"""Finding an opponent: the queue (`find_match`), challenges and rematches.

Everything here decides who plays whom, so it runs under the lobby lock (game/context.py); the
rules themselves are in game/matchmaking.py.
"""

from __future__ import annotations

from typing import Any

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.computer import MEMORY_ROUNDS, rounds_of
from rpschat.domain.game.context import GameContext, log, ms
from rpschat.domain.game.lifecycle import MatchLifecycle
from rpschat.domain.game.match import Match
from rpschat.domain.game.matchmaking import (
    ALREADY_IN_GAME,
    ALREADY_QUEUED,
    CHALLENGE_EXPIRED,
    NOT_QUEUED,
    Challenges,
    Matchmaker,
    Rematches,
)
from rpschat.domain.game.ports import Challenge, ChallengeStore, ExpiredChallengeStore
from rpschat.domain.game.records import GameRecords
from rpschat.domain.game.rules import validate_best_of
from rpschat.domain.game.seeking import GUEST_RATING, NoSeeks, RatedQueue, SeekStore
from rpschat.domain.ports import Cancellable, NamedConnection

NOT_OVER_YET = "This game is not over yet."
OPPONENT_LEFT = "Your opponent has left."
YOU_LEFT = "You have left this game."
DID_NOT_PLAY = "You did not play in this game."
OPPONENT_REFUSAL = 'opponent must be "computer", or left out for a person.'
MIN_ROUND_SECONDS, MAX_ROUND_SECONDS = 5, 3600  # a round against the computer, as asked
ROUND_SECONDS_REFUSAL = (
    f"round_seconds must be a whole number from {MIN_ROUND_SECONDS} to {MAX_ROUND_SECONDS}."
)
ROUND_SECONDS_FOR_COMPUTER = "round_seconds can only be set for a game against the computer."
MAX_NAME_ECHO = 32
PAIRING_TRIES = 3  # a waiting player who entered a game meanwhile is skipped: rare twice

# A match stored under the lobby lock, to announce once it is let go: the match, and the
# players matched while their connection is lost -> the grace left (for their opponent).
Created = tuple[Match, dict[str, float]]


class Pairing:
    def __init__(
        self,
        ctx: GameContext,
        lifecycle: MatchLifecycle,
        matchmaker: Matchmaker,
        challenges: Challenges,
        challenge_store: ChallengeStore,
        expired_challenges: ExpiredChallengeStore,
        rematches: Rematches,
        records: GameRecords,
        seeks: SeekStore | None = None,
    ) -> None:
        self._ctx = ctx
        self._records = records
        self._lifecycle = lifecycle
        self.matchmaker = matchmaker
        self.challenges = challenges
        self.challenge_store = challenge_store
        self._expired_challenges = expired_challenges
        self.rematches = rematches
        self._challenge_timers: dict[str, Cancellable] = {}  # challenge id -> this node's timer
        self._rated = rated_queue(ctx, lifecycle, matchmaker, seeks or NoSeeks())

    # ---- the queue ---------------------------------------------------------------------------

    def find_match(
        self, sid: str, best_of: int, computer: bool, round_seconds: float | None = None
    ) -> None:
        """Into the queue for `best_of`, or (`computer`) a match against the computer at once,
        its rounds `round_seconds` long if given (WCAG 2.2.1: the player sets the time)."""
        ctx = self._ctx
        conn = ctx.caller(sid)
        best_of = validate_best_of(best_of)
        ctx.limit(conn, "other")
        if computer:
            self._play_computer(conn.user_id, conn.name, best_of, round_seconds)
            return
        if round_seconds is not None:
            raise Refused(Code.BAD_REQUEST, ROUND_SECONDS_FOR_COMPUTER, field="round_seconds")
        # The rating is read first (the database), then pairing takes the lobby lock; whoever
        # is left waiting is paired by the sweep as the windows widen (seeking.py).
        self._rated.seek(conn.name, rating_of(ctx, conn.user_id, conn.name))
        created = self._pair_from_queue(conn.name, best_of)
        if created is not None:
            self.announce(*created)

    def _play_computer(
        self, user_id: str, name: str, best_of: int, round_seconds: float | None
    ) -> None:
        """A match against the computer, at once (`match_found` before the ack)."""
        ctx = self._ctx
        memory = self._records.memory_of(user_id, name)  # a database read: before any lock
        with ctx.lobby():
            if self.matchmaker.is_queued(name):
                raise Refused(Code.ALREADY_QUEUED, ALREADY_QUEUED)
            if ctx.in_live_game(name):
                raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
            match = self._lifecycle.create(
                name, "", best_of, computer_memory=memory, round_seconds=round_seconds
            )
        if match is None:  # paired from the queue a moment ago (that takes no lock)
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        self.announce(match, {})

    def _pair_from_queue(self, name: str, best_of: int) -> Created | None:
        """`name` paired with the best partner waiting (game/seeking.py: the closest rating
        within a widening window, guests with guests first) and their match stored, or `name`
        now waits. Neither is queued any more, nor dropped (a drop takes a player out of the
        queue): nothing else to undo."""
        in_game = Refused(Code.IN_GAME, ALREADY_IN_GAME)
        match = self._rated.pair(name, best_of, PAIRING_TRIES, in_game)
        return None if match is None else (match, {})

    def cancel_match(self, sid: str) -> None:
        ctx = self._ctx
        conn = ctx.caller(sid)
        ctx.limit(conn, "other")
        with ctx.lobby():
            if not self.matchmaker.cancel(conn.name):
                raise Refused(Code.NOT_QUEUED, NOT_QUEUED)

    def requeue(self, name: str, best_of: int) -> Created | None:
        """Back into the queue after a resume (the caller holds the lobby lock, and announces
        the match this makes, if any, once it let go)."""
        try:
            return self._pair_from_queue(name, best_of)
        except Refused:
            return None

    def start(self, player_a: str, player_b: str, best_of: int) -> Created:
        """A match between two players who may be queued or dropped (challenges, rematches),
        under the lobby lock: both leave the queue; a player matched while their connection is
        lost will have their opponent told. `announce` it once the lobby lock is let go.
        Refused if one of them was paired from the queue meanwhile (no lock there)."""
        ctx = self._ctx
        for player in (player_a, player_b):
            self.matchmaker.remove(player)
        created = self._lifecycle.create(player_a, player_b, best_of)
        if created is None:
            busy = player_a if ctx.in_live_game(player_a) else player_b
            raise Refused(Code.OPPONENT_BUSY, f"{busy} is already in a game.")
        for player in (player_a, player_b):
            ctx.drops.forget_queue(player)
        now = ctx.runtime.now()
        away = {}
        for player in created.humans():
            drop = ctx.drops.get(created.name_of(player))
            if drop is not None:
                away[player] = ctx.settings.resume_grace_seconds - (now - drop.at)
        return created, away

    def announce(self, match: Match, away: dict[str, float]) -> None:
        self._lifecycle.announce(match, away)

    # ---- challenges --------------------------------------------------------------------------

    def challenge(self, sid: str, to: str, best_of: int) -> str:
        """Challenge the user named `to` (as typed: compared case-insensitively); the
        challenge's id."""
        ctx = self._ctx
        conn = ctx.caller(sid)
        best_of = validate_best_of(best_of)
        ctx.limit(conn, "other")
        ctx.check_not_muted(conn)  # a challenge reaches its target: a muted user sends none
        wanted = to.strip()
        target_id = ctx.directory.user_of(wanted)
        target = ctx.directory.name_of(target_id) if target_id else None
        if target_id is None or target is None:
            raise Refused(Code.NOT_ONLINE, f"{wanted[:MAX_NAME_ECHO]} is not online.")
        if ctx.ignores.ignores(target_id, conn.user_id):
            raise Refused(Code.IGNORED, f"{target} is not taking challenges from you.")
        with ctx.lobby():
            now = ctx.runtime.now()
            self.expire_challenges(now)
            challenge = self.challenges.challenge(
                conn.name, target, best_of, now, ctx.settings.challenge_seconds
            )
            ctx.remember(target_id, target)
            self.send_challenged(challenge, now)
            self._challenge_timers[challenge.challenge_id] = ctx.runtime.call_later(
                challenge.expires_at - now, self._challenge_timer, challenge.challenge_id
            )
        return challenge.challenge_id

    def answer_challenge(self, sid: str, challenge_id: str, accept: bool) -> None:
        ctx = self._ctx
        conn = ctx.caller(sid)
        ctx.limit(conn, "other")
        with ctx.lobby():
            now = ctx.runtime.now()
            self.expire_challenges(now)
            if challenge_id in self._expired_challenges:
                raise Refused(Code.CHALLENGE_EXPIRED, CHALLENGE_EXPIRED)
            created = None
            if accept:
                challenge = self.challenges.accept(challenge_id, conn.name, now)
                self._cancel_challenge_timer(challenge_id)
                created = self.start(challenge.challenger, challenge.challenged, challenge.best_of)
                self._tell_challenger(challenge, accepted=True, reason="accepted")
            else:
                challenge = self.challenges.decline(challenge_id, conn.name, now)
                self._cancel_challenge_timer(challenge_id)
                self._tell_challenger(challenge, accepted=False, reason="declined")
        if created is not None:
            self.announce(*created)

    def send_challenged(self, challenge: Challenge, now: float) -> None:
        offer = {
            "challenge_id": challenge.challenge_id,
            "from": challenge.challenger,
            "best_of": challenge.best_of,
            "expires_in_ms": ms(max(0.0, challenge.expires_at - now)),
        }
        self._ctx.emit_to_name(challenge.challenged, "challenged", offer)

    def _tell_challenger(self, challenge: Challenge, accepted: bool, reason: str) -> None:
        answer = answer_of(challenge, accepted, challenge.challenged, reason)
        self._ctx.emit_to_name(challenge.challenger, "challenge_answered", answer)

    def cancel_challenges_of(self, name: str) -> None:
        """`name` is gone: their challenges, both ways, end; the other side is told."""
        for challenge in self.challenges.cancel_for(name):
            self._cancel_challenge_timer(challenge.challenge_id)
            other = challenge.challenged if challenge.challenger == name else challenge.challenger
            answer = answer_of(challenge, False, name, "gone")
            self._ctx.emit_to_name(other, "challenge_answered", answer)

    def _challenge_timer(self, challenge_id: str) -> None:
        self._challenge_timers.pop(challenge_id, None)
        self._ctx.guarded(self.expire_challenges_now)

    def _cancel_challenge_timer(self, challenge_id: str) -> None:
        timer = self._challenge_timers.pop(challenge_id, None)
        if timer is not None:
            timer.cancel()

    def expire_challenges_now(self) -> None:
        with self._ctx.lobby():
            self.expire_challenges(self._ctx.runtime.now())

    def expire_challenges(self, now: float) -> None:
        """Drop stale challenges and tell their challengers (the challenged had expires_in_ms)."""
        expired = self.challenges.expire(now)
        if not expired:
            return
        self._expired_challenges.add([challenge.challenge_id for challenge in expired])
        for challenge in expired:
            self._cancel_challenge_timer(challenge.challenge_id)
            self._tell_challenger(challenge, accepted=False, reason="expired")

    def settle_overdue(self, cutoff: float) -> None:
        """Challenges past their expiry whose timer's node may be dead."""
        if any(c.expires_at < cutoff for c in self.challenge_store.all()):
            self._ctx.guarded(self.expire_challenges_now)

    # ---- rematches ---------------------------------------------------------------------------

    def rematch(self, conn: NamedConnection, game_id: str) -> None:
        """On the game's owner (routing.py), which owns the next game too."""
        ctx = self._ctx
        created = None
        with ctx.lobby(), ctx.game_lock(game_id):
            match = ctx.owned_match(game_id)
            ctx.limit(conn, "other")
            # another user under a player's name did not play it (seats belong to user ids)
            if conn.user_id not in match.players:
                raise Refused(Code.NOT_A_PLAYER, DID_NOT_PLAY)
            if not match.is_over:
                raise Refused(Code.GAME_NOT_OVER, NOT_OVER_YET)
            if not match.is_member(conn.user_id):
                raise Refused(Code.LEFT_GAME, YOU_LEFT)
            if match.computer:  # the computer always wants another game
                created = self._rematch_computer(match, conn.user_id, conn.name)
            else:
                created = self._rematch_person(match, conn.user_id, conn.name)
        if created is not None:
            self.announce(*created)

    def _rematch_person(self, match: Match, user_id: str, name: str) -> Created | None:
        """Rematch requests are by user id; the new match is between the players' names now."""
        ctx = self._ctx
        opponent = match.opponent_of(user_id)
        opponent_name = self._refuse_rematch_with(match, opponent)
        if ctx.in_live_game(name):
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        already_asked = user_id in self.rematches.requested_by(match.game_id)
        if self.rematches.request(match.game_id, user_id, match.players):
            first = name if match.players[0] == user_id else opponent_name
            second = opponent_name if first == name else name
            created = self.start(first, second, match.best_of)
            self._lifecycle.forget(match.game_id)
            return created
        if not already_asked:
            asked = {"game_id": match.game_id, "by": name}
            ctx.emit_to_user(opponent, "rematch_requested", asked)
        return None

    def _rematch_computer(self, match: Match, user_id: str, name: str) -> Created:
        """The next game at once; the computer remembers this one's rounds without a read."""
        if self._ctx.in_live_game(name):
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        played = rounds_of(user_id, [result.to_dict() for result in match.history])
        memory = match.computer_memory + [list(entry) for entry in played]
        memory = memory[-MEMORY_ROUNDS:]
        created = self._lifecycle.create(
            name, "", match.best_of, computer_memory=memory, round_seconds=match.round_seconds
        )
        if created is None:  # paired from the queue a moment ago (that takes no lock)
            raise Refused(Code.IN_GAME, ALREADY_IN_GAME)
        self._lifecycle.forget(match.game_id)
        return created, {}

    def _refuse_rematch_with(self, match: Match, opponent: str) -> str:
        """`opponent`: a user id, still here and still in the game; their name now."""
        name = self._ctx.directory.name_of(opponent)
        if name is None or not match.is_member(opponent):
            raise Refused(Code.OPPONENT_LEFT, OPPONENT_LEFT)
        if self._ctx.in_live_game(name):
            raise Refused(Code.OPPONENT_BUSY, f"{name} is already in a game.")
        return name


def rating_of(ctx: GameContext, user_id: str, name: str) -> float | None:
    """A claimed name's rating for pairing, None for a guest (database reads: before any lock;
    a failed read pairs the caller as a guest)."""
    try:
        if ctx.accounts is None or ctx.accounts.of_user(user_id) is None:
            return None
        standing = ctx.results.standing(name)
    except Exception:
        log.warning("reading %s's rating failed: paired as a guest", name)
        return None
    return float(standing["rating"]) if standing and standing["claimed"] else GUEST_RATING


def rated_queue(
    ctx: GameContext, lifecycle: MatchLifecycle, matchmaker: Matchmaker, seeks: SeekStore
) -> RatedQueue:
    runtime = ctx.runtime  # read at each call: a test may hold its clock
    return RatedQueue(
        matchmaker,
        seeks,
        _Starter(ctx, lifecycle),
        now=lambda: runtime.now(),
        call_later=lambda *args: runtime.call_later(*args),
        lobby=ctx.lobby,
        announce=lambda match: lifecycle.announce(match, {}),
        guarded=ctx.guarded,
    )


class _Starter:
    """The game as rated pairing sees it (seeking.py's Starter)."""

    def __init__(self, ctx: GameContext, lifecycle: MatchLifecycle) -> None:
        self._ctx = ctx
        self._lifecycle = lifecycle

    def in_live_game(self, name: str) -> bool:
        return self._ctx.in_live_game(name)

    def create(self, first: str, second: str, best_of: int) -> Match | None:
        return self._lifecycle.create(first, second, best_of)


def answer_of(challenge: Challenge, accepted: bool, by: str, reason: str) -> dict[str, Any]:
    return {
        "challenge_id": challenge.challenge_id,
        "accepted": accepted,
        "by": by,
        "reason": reason,
    }

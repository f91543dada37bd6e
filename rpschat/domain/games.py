"""The game side of the protocol: matchmaking, challenges, rounds, spectators, game chat, results.

Plain Python, like ChatService: clients are reached through the `Outbox`, time and timers through
the `Runtime`, so the service runs under eventlet, on plain threads (the test client) or in tests.

Rooms: every game is the room `game:<game_id>` (its players and spectators): `round_started`,
`round_result`, `game_over` and `game_message` go there. Events for one person (`match_found`,
`opponent_threw`, `challenged`, ...) go to their user room, which follows them across reconnects.

Players are keyed by display name in `Match` (ChatService refuses renames while `is_busy`), and
`_user_ids` maps each name back to the user behind it (the directory knows the users of the other
nodes).

Concurrency: one event loop calls this, so a handler that does not yield is atomic already. The
round and challenge timers run as tasks of their own (threads under ThreadingRuntime), so every
entry point also holds one lock: one rule for both runtimes. Nothing slow runs under the lock
under eventlet: game chat storage and leaderboard reads are the slow halves of split handlers,
and results are recorded in a deferred task. On several nodes (REDIS_URL) the stores and the lock
are shared: storage/redis_state.py.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from rpschat.domain.chat import MAX_REPLAY, ChatService, Connection
from rpschat.domain.errors import Refused
from rpschat.domain.game.match import TIME_IS_UP, GameOver, GameResult, Match, ThrowOutcome
from rpschat.domain.game.rules import parse_best_of
from rpschat.domain.matchmaking import (
    ALREADY_IN_GAME,
    CHALLENGE_EXPIRED,
    NO_SUCH_CHALLENGE,
    NOT_QUEUED,
    Challenge,
    Challenges,
    InMemoryChallengeStore,
    Matchmaker,
    Rematches,
)
from rpschat.domain.payload import as_object
from rpschat.domain.ports import (
    Cancellable,
    ChallengeStore,
    Drop,
    DropStore,
    ExpiredChallengeStore,
    HistoryStore,
    Lock,
    MatchStore,
    Outbox,
    QueueStore,
    RematchStore,
    ResultsStore,
    Runtime,
    SpectatorStore,
    StoredMessage,
    user_room,
)
from rpschat.domain.text import clean_client_id, clean_message

log = logging.getLogger("rpschat.games")

PICK_A_NAME = "Pick a name before you play."
NO_SUCH_GAME = "No such game."
NOT_IN_THIS_GAME = "You are not in this game."
NOT_OVER_YET = "This game is not over yet."
GAME_IS_OVER = "This game is over."
OPPONENT_LEFT = "Your opponent has left."
YOU_LEFT = "You have left this game."
DID_NOT_PLAY = "You did not play in this game."
MEMBERS_ONLY_CHAT = "Only this game's players and spectators can chat in it."
ACCEPT_IS_BOOL = "accept must be true or false."

# The "Send an object like ..." examples of each event.
FIND_MATCH_SHAPE = "{best_of: 3}"
GAME_SHAPE = '{game_id: "g7Hk"}'
THROW_SHAPE = '{game_id: "g7Hk", move: "rock"}'
CHALLENGE_SHAPE = '{to: "Bea", best_of: 3}'
ANSWER_SHAPE = '{challenge_id: "c1", accept: true}'
GAME_CHAT_SHAPE = '{game_id: "g7Hk", msg: "gg"}'

OK: dict[str, Any] = {"ok": True}
# Ids of expired challenges remembered to tell "expired" from "no such": a bounded FIFO.
EXPIRED_CHALLENGES_KEPT = 1024
MAX_NAME_ECHO = 32

R = TypeVar("R")


def game_room(game_id: str) -> str:
    return f"game:{game_id}"


def new_game_id() -> str:
    return "g" + secrets.token_urlsafe(9)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


@dataclass(frozen=True)
class GameSettings:
    round_seconds: float = 15.0
    challenge_seconds: float = 30.0
    resume_grace_seconds: float = 10.0
    leaderboard_size: int = 50
    # How long a finished game is kept for rematches, late refusals and its chat.
    finished_game_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not self.round_seconds > 0:  # a zero-length round could never be played
            raise ValueError(f"round_seconds must be positive, not {self.round_seconds}")


# ---------------------------------------------------------------- stores


class InMemoryMatchStore:
    """Holds the `Match` objects themselves, no copies. Callers still `put` after each change,
    as the Redis store needs, which keeps the indexes here current."""

    def __init__(self) -> None:
        self._matches: dict[str, Match] = {}
        self._live: dict[str, None] = {}  # live game ids, in start order
        self._live_game_by_player: dict[str, str] = {}
        self._games_by_player: dict[str, dict[str, None]] = {}

    def get(self, game_id: str) -> Match | None:
        return self._matches.get(game_id)

    def put(self, match: Match) -> None:
        game_id = match.game_id
        self._matches[game_id] = match
        if not match.is_over:
            self._live.setdefault(game_id, None)
        else:
            self._live.pop(game_id, None)
        for player in match.players:
            self._games_by_player.setdefault(player, {})[game_id] = None
            if not match.is_over:
                self._live_game_by_player[player] = game_id
            elif self._live_game_by_player.get(player) == game_id:
                del self._live_game_by_player[player]

    def delete(self, game_id: str) -> None:
        match = self._matches.pop(game_id, None)
        self._live.pop(game_id, None)
        for player in match.players if match else ():
            if self._live_game_by_player.get(player) == game_id:
                del self._live_game_by_player[player]
            games = self._games_by_player.get(player)
            if games is not None:
                games.pop(game_id, None)
                if not games:
                    del self._games_by_player[player]

    def live_game_of(self, player: str) -> str | None:
        return self._live_game_by_player.get(player)

    def games_of(self, player: str) -> list[Match]:
        return [self._matches[game_id] for game_id in self._games_by_player.get(player, ())]

    def live_games(self) -> list[Match]:
        return [self._matches[game_id] for game_id in self._live]

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        return [
            (match.game_id, match.round)
            for match in self.live_games()
            if match.round_deadline is not None and match.round_deadline < cutoff
        ]


class InMemorySpectatorStore:
    def __init__(self) -> None:
        self._by_game: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}

    def add(self, game_id: str, user_id: str) -> None:
        self._by_game.setdefault(game_id, set()).add(user_id)
        self._by_user.setdefault(user_id, set()).add(game_id)

    def discard(self, game_id: str, user_id: str) -> bool:
        watchers = self._by_game.get(game_id)
        if watchers is None or user_id not in watchers:
            return False
        watchers.discard(user_id)
        if not watchers:
            del self._by_game[game_id]
        self._unindex(user_id, game_id)
        return True

    def is_watching(self, game_id: str, user_id: str) -> bool:
        return user_id in self._by_game.get(game_id, ())

    def count(self, game_id: str) -> int:
        return len(self._by_game.get(game_id, ()))

    def games_of(self, user_id: str) -> list[str]:
        return list(self._by_user.get(user_id, ()))

    def drop_user(self, user_id: str) -> None:
        for game_id in self._by_user.pop(user_id, ()):
            watchers = self._by_game.get(game_id)
            if watchers is not None:
                watchers.discard(user_id)
                if not watchers:
                    del self._by_game[game_id]

    def drop_game(self, game_id: str) -> set[str]:
        watchers = self._by_game.pop(game_id, set())
        for user_id in watchers:
            self._unindex(user_id, game_id)
        return watchers

    def _unindex(self, user_id: str, game_id: str) -> None:
        games = self._by_user.get(user_id)
        if games is not None:
            games.discard(game_id)
            if not games:
                del self._by_user[user_id]


class InMemoryDropStore:
    def __init__(self) -> None:
        self._drops: dict[str, Drop] = {}

    def add(self, name: str, drop: Drop) -> None:
        self._drops[name] = drop

    def get(self, name: str) -> Drop | None:
        return self._drops.get(name)

    def pop(self, name: str) -> Drop | None:
        return self._drops.pop(name, None)

    def forget_queue(self, name: str) -> None:
        drop = self._drops.get(name)
        if drop is not None and drop.queued_best_of is not None:
            self._drops[name] = Drop(drop.at)


class InMemoryExpiredChallenges:
    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._ids: OrderedDict[str, None] = OrderedDict()

    def add(self, challenge_ids: list[str]) -> None:
        for challenge_id in challenge_ids:
            self._ids[challenge_id] = None
        while len(self._ids) > self._kept:
            self._ids.popitem(last=False)

    def __contains__(self, challenge_id: object) -> bool:
        return challenge_id in self._ids


# ---------------------------------------------------------------- the service


def _atomic(method: Callable[..., R]) -> Callable[..., R]:
    """Run the method under the service's lock (see the module docstring)."""

    @functools.wraps(method)
    def locked(self: GameService, *args: Any) -> R:
        with self._lock:
            return method(self, *args)

    return locked


class GameService:
    def __init__(
        self,
        chat: ChatService,
        outbox: Outbox,
        runtime: Runtime,
        history: HistoryStore,
        results: ResultsStore,
        settings: GameSettings | None = None,
        store: MatchStore | None = None,
        make_game_id: Callable[[], str] = new_game_id,
        queue_store: QueueStore | None = None,
        challenge_store: ChallengeStore | None = None,
        rematch_store: RematchStore | None = None,
        lock: Lock | None = None,  # cluster-wide with several nodes
        spectator_store: SpectatorStore | None = None,
        drop_store: DropStore | None = None,
        expired_challenge_store: ExpiredChallengeStore | None = None,
    ) -> None:
        self._chat = chat
        self._outbox = outbox
        self._runtime = runtime
        self._history = history
        self._results = results
        self._settings = settings or GameSettings()
        self._store: MatchStore = store if store is not None else InMemoryMatchStore()
        self._make_game_id = make_game_id
        self._lock = lock if lock is not None else threading.RLock()
        self._matchmaker = Matchmaker(is_busy=self._in_live_game, store=queue_store)
        if challenge_store is None:
            challenge_store = InMemoryChallengeStore()
        self._challenge_store = challenge_store
        self._challenges = Challenges(is_busy=self._in_live_game, store=self._challenge_store)
        self._rematches = Rematches(store=rematch_store)
        self._user_ids: dict[str, str] = {}  # display name -> user id
        self._names: dict[str, str] = {}  # user id -> display name last seen
        self._spectators: SpectatorStore = spectator_store or InMemorySpectatorStore()
        self._drops: DropStore = drop_store or InMemoryDropStore()
        self._expired_challenges: ExpiredChallengeStore = (
            expired_challenge_store or InMemoryExpiredChallenges(EXPIRED_CHALLENGES_KEPT)
        )
        # This node's timers: cancelled when their round ends or their challenge is answered.
        self._round_timers: dict[str, Cancellable] = {}  # game id -> timer
        self._challenge_timers: dict[str, Cancellable] = {}  # challenge id -> timer
        # Games finished on this node -> when: their rooms and side state go after
        # `finished_game_seconds` (one sweep timer for all of them).
        self._ended_at: OrderedDict[str, float] = OrderedDict()
        self._sweep: Cancellable | None = None
        # Finished games whose result is being written, then announced (in order, batched).
        self._unrecorded: list[tuple[Match, GameOver, str | None]] = []
        self._recording = False
        self._unrecorded_lock = threading.Lock()  # local: guards the two fields above

    def live_count(self) -> int:
        """Games being played (with shared stores: in the whole cluster)."""
        return len(self._store.live_games())

    def register(self, router: Any) -> None:
        """Add every game event to the web layer's Router."""
        router.add("find_match", self.find_match)
        router.add("cancel_match", self.cancel_match)
        router.add("throw", self.throw)
        router.add("leave_game", self.leave_game)
        router.add("challenge", self.challenge)
        router.add("answer_challenge", self.answer_challenge)
        router.add("rematch", self.rematch)
        router.add("games", self.games)
        router.add("watch", self.watch)
        router.add("game_chat", self.check_game_chat, split=True)
        router.add("leaderboard", self.check_leaderboard, split=True)

    # ---- matchmaking -----------------------------------------------------------------------

    @_atomic
    def find_match(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        best_of = parse_best_of(as_object(payload, FIND_MATCH_SHAPE).get("best_of"))
        self._limit(conn, "other")
        pairing = self._matchmaker.enqueue(conn.name, best_of)
        if pairing is not None:
            self._start_match(pairing.waited, pairing.arrived, best_of)
        return OK

    @_atomic
    def cancel_match(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        self._limit(conn, "other")
        if not self._matchmaker.cancel(conn.name):
            raise Refused(NOT_QUEUED)
        return OK

    # ---- playing ---------------------------------------------------------------------------

    @_atomic
    def throw(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        payload = as_object(payload, THROW_SHAPE)
        match = self._match(payload.get("game_id"))
        self._limit(conn, "other")
        now = self._runtime.now()
        try:
            outcome = match.throw(conn.name, payload.get("move"), now)
        except Refused as refused:
            if refused.reason == TIME_IS_UP:  # the round timer is late: settle the round now
                self._settle_overdue_round(match, now)
            raise
        self._store.put(match)
        if outcome.round_completed or outcome.game_over:
            self._apply(match, outcome)
        else:  # only that the opponent threw: the move itself stays secret until the round ends
            self._emit_to_player(
                match, match.opponent_of(conn.name), "opponent_threw", {"game_id": match.game_id}
            )
        return OK

    @_atomic
    def leave_game(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        match = self._match(as_object(payload, GAME_SHAPE).get("game_id"))
        self._limit(conn, "other")
        if match.is_member(conn.name, conn.user_id):
            self._player_leaves(match, conn.name, sid)
        elif self._spectators.discard(match.game_id, conn.user_id):
            self._outbox.leave(sid, game_room(match.game_id))
        else:
            raise Refused(NOT_IN_THIS_GAME)
        return OK

    def _player_leaves(self, match: Match, name: str, sid: str) -> None:
        match.left.append(name)
        self._outbox.leave(sid, game_room(match.game_id))
        if match.is_over:
            self._store.put(match)
            return
        over = match.forfeit(name, "forfeit")
        self._store.put(match)
        self._finish(match, over, also_to=sid)  # out of the room, still told how it ended

    # ---- challenges ------------------------------------------------------------------------

    @_atomic
    def challenge(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        payload = as_object(payload, CHALLENGE_SHAPE)
        wanted = payload.get("to")
        if not isinstance(wanted, str) or not wanted.strip():
            raise Refused(f"Send an object like {CHALLENGE_SHAPE}.")
        best_of = parse_best_of(payload.get("best_of"))
        self._limit(conn, "other")
        target_id = self._chat.directory.user_of(wanted.strip())
        target = self._chat.directory.name_of(target_id) if target_id else None
        if target is None:
            raise Refused(f"{wanted.strip()[:MAX_NAME_ECHO]} is not online.")
        now = self._runtime.now()
        self._expire_challenges(now)
        challenge = self._challenges.challenge(
            conn.name, target, best_of, now, self._settings.challenge_seconds
        )
        self._remember(target_id, target)
        self._send_challenged(challenge, now)
        self._challenge_timers[challenge.challenge_id] = self._runtime.call_later(
            challenge.expires_at - now, self._challenge_timer, challenge.challenge_id
        )
        return {"ok": True, "challenge_id": challenge.challenge_id}

    @_atomic
    def answer_challenge(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        payload = as_object(payload, ANSWER_SHAPE)
        challenge_id, accept = payload.get("challenge_id"), payload.get("accept")
        if not isinstance(accept, bool):
            raise Refused(ACCEPT_IS_BOOL)
        if not isinstance(challenge_id, str):
            raise Refused(NO_SUCH_CHALLENGE)
        self._limit(conn, "other")
        now = self._runtime.now()
        self._expire_challenges(now)
        if challenge_id in self._expired_challenges:
            raise Refused(CHALLENGE_EXPIRED)
        if accept:
            challenge = self._challenges.accept(challenge_id, conn.name, now)
            self._cancel_challenge_timer(challenge_id)
            self._tell_challenger(challenge, accepted=True, reason="accepted")
            self._start_match(challenge.challenger, challenge.challenged, challenge.best_of)
        else:
            challenge = self._challenges.decline(challenge_id, conn.name, now)
            self._cancel_challenge_timer(challenge_id)
            self._tell_challenger(challenge, accepted=False, reason="declined")
        return OK

    def _send_challenged(self, challenge: Challenge, now: float) -> None:
        offer = {
            "challenge_id": challenge.challenge_id,
            "from": challenge.challenger,
            "best_of": challenge.best_of,
            "expires_in_ms": _ms(max(0.0, challenge.expires_at - now)),
        }
        self._emit_to_player(None, challenge.challenged, "challenged", offer)

    def _tell_challenger(self, challenge: Challenge, accepted: bool, reason: str) -> None:
        self._emit_to_player(
            None,
            challenge.challenger,
            "challenge_answered",
            self._answer(challenge, accepted, challenge.challenged, reason),
        )

    @staticmethod
    def _answer(challenge: Challenge, accepted: bool, by: str, reason: str) -> dict:
        return {
            "challenge_id": challenge.challenge_id,
            "accepted": accepted,
            "by": by,
            "reason": reason,
        }

    def _challenge_timer(self, challenge_id: str) -> None:
        self._challenge_timers.pop(challenge_id, None)
        self._guarded(self._expire_challenges_now)

    def _cancel_challenge_timer(self, challenge_id: str) -> None:
        timer = self._challenge_timers.pop(challenge_id, None)
        if timer is not None:
            timer.cancel()

    @_atomic
    def _expire_challenges_now(self) -> None:
        self._expire_challenges(self._runtime.now())

    def _expire_challenges(self, now: float) -> None:
        """Drop stale challenges and tell their challengers (the challenged had expires_in_ms)."""
        expired = self._challenges.expire(now)
        if not expired:
            return
        self._expired_challenges.add([challenge.challenge_id for challenge in expired])
        for challenge in expired:
            self._cancel_challenge_timer(challenge.challenge_id)
            self._tell_challenger(challenge, accepted=False, reason="expired")

    # ---- rematches -------------------------------------------------------------------------

    @_atomic
    def rematch(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        match = self._match(as_object(payload, GAME_SHAPE).get("game_id"))
        self._limit(conn, "other")
        name = conn.name
        if name not in match.players:
            raise Refused(DID_NOT_PLAY)
        if not match.is_over:
            raise Refused(NOT_OVER_YET)
        if not match.is_member(name, conn.user_id):
            raise Refused(YOU_LEFT)
        opponent = match.opponent_of(name)
        self._refuse_rematch_with(match, opponent)
        if self._in_live_game(name):
            raise Refused(ALREADY_IN_GAME)
        already_asked = name in self._rematches.requested_by(match.game_id)
        if self._rematches.request(match.game_id, name, match.players):
            self._forget_game(match.game_id)
            self._start_match(*match.players, match.best_of)
        elif not already_asked:
            asked = {"game_id": match.game_id, "by": name}
            self._emit_to_player(match, opponent, "rematch_requested", asked)
        return OK

    def _refuse_rematch_with(self, match: Match, opponent: str) -> None:
        opponent_id = match.user_ids.get(opponent) or self._user_id_of(opponent)
        still_here = opponent_id and self._chat.directory.user_of(opponent) == opponent_id
        if not still_here or not match.is_member(opponent, opponent_id):
            raise Refused(OPPONENT_LEFT)
        if self._in_live_game(opponent):
            raise Refused(f"{opponent} is already in a game.")

    # ---- watching --------------------------------------------------------------------------

    @_atomic
    def games(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        self._limit(conn, "other")
        live = [
            {
                "game_id": m.game_id,
                "players": list(m.players),
                "best_of": m.best_of,
                "round": m.round,
                "score": dict(m.score),
            }
            for m in self._store.live_games()
        ]
        return {"ok": True, "games": live}

    @_atomic
    def watch(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        match = self._match(as_object(payload, GAME_SHAPE).get("game_id"))
        self._limit(conn, "other")
        if match.is_over:
            raise Refused(GAME_IS_OVER)
        if conn.name not in match.players:
            self._spectators.add(match.game_id, conn.user_id)
        self._outbox.join(sid, game_room(match.game_id))
        return {"ok": True, "game": self._view(match)}

    def _view(self, match: Match) -> dict:
        """What anyone may see: who has thrown, never what, until the round resolves."""
        view = match.public_view()
        del view["round_deadline"]  # server clock seconds: clients get a duration instead
        view["time_left_ms"] = _ms(match.time_left(self._runtime.now()))
        view["spectators"] = self._spectators.count(match.game_id)
        return view

    # ---- game chat and leaderboard (split: validate now, store or read in the slow part) ----

    @_atomic
    def check_game_chat(self, sid: str, payload: Any) -> Callable[[], dict]:
        conn = self._caller(sid)
        payload = as_object(payload, GAME_CHAT_SHAPE)
        match = self._match(payload.get("game_id"))
        if not self._may_chat(match, conn):
            raise Refused(MEMBERS_ONLY_CHAT)
        text = clean_message(payload.get("msg"), self._chat.limits.max_message_chars)
        client_id = clean_client_id(payload.get("client_id"))
        self._limit(conn, "chat")
        return lambda: self._store_game_message(match.game_id, conn, text, client_id)

    def _may_chat(self, match: Match, conn: Connection) -> bool:
        return match.is_member(conn.name, conn.user_id) or self._spectators.is_watching(
            match.game_id, conn.user_id
        )

    def _store_game_message(
        self, game_id: str, conn: Connection, text: str, client_id: str | None
    ) -> dict:
        room = game_room(game_id)

        def broadcast(message: StoredMessage) -> None:
            self._outbox.emit("game_message", {"game_id": game_id, **message.to_wire()}, to=room)

        message, duplicate = self._history.append(
            room, conn.user_id, conn.name, text, client_id=client_id, on_commit=broadcast
        )
        ack = {"ok": True, "id": message.id, "ts": message.ts}
        if duplicate:
            ack["duplicate"] = True
        return ack

    @_atomic
    def check_leaderboard(self, sid: str, payload: Any) -> Callable[[], dict]:
        conn = self._caller(sid)
        self._limit(conn, "other")
        size = self._settings.leaderboard_size
        return lambda: {"ok": True, "players": self._results.leaderboard(size)}

    # ---- presence (ChatService's PresenceListener) -----------------------------------------
    #
    # Each costs the user's own games, queue entry and challenges: never all games stored.

    @_atomic
    def is_busy(self, user_id: str) -> bool:
        """In a game, looking for one or in a pending challenge: the name must not change."""
        name = self._chat.directory.name_of(user_id)
        if name is None:
            return False
        drop = self._drops.get(name)
        return (
            self._in_live_game(name)
            or self._matchmaker.is_queued(name)
            or (drop is not None and drop.queued_best_of is not None)
            or bool(self._challenges.pending_for(name, self._runtime.now()))
        )

    @_atomic
    def user_dropped(self, user_id: str, name: str) -> None:
        """Lost connection, maybe back soon. The round timer keeps running meanwhile."""
        best_of = self._matchmaker.queued_best_of(name)
        if best_of is not None:  # nobody should be matched with a player who can't hear it
            self._matchmaker.remove(name)
        self._drops.add(name, Drop(self._runtime.now(), best_of))
        game_id = self._store.live_game_of(name)
        if game_id is not None:
            match = self._store.get(game_id)
            if match is not None:
                self._tell_opponent_away(match, name, self._settings.resume_grace_seconds)

    @_atomic
    def user_back(self, user_id: str, name: str, sid: str) -> None:
        """A resumed connection: back into its rooms, its game state and its queue."""
        self._remember(user_id, name)
        drop = self._drops.pop(name)
        for game_id in self._games_of(user_id, name):
            self._outbox.join(sid, game_room(game_id))
        live_id = self._store.live_game_of(name)
        live = self._store.get(live_id) if live_id is not None else None
        if live is not None:
            self._send_game_state(live, name, sid, was_dropped=drop is not None)
        now = self._runtime.now()
        for challenge in self._challenges.pending_for(name, now):
            if challenge.challenged == name:
                self._send_challenged(challenge, now)
        if drop is not None and drop.queued_best_of is not None and live is None:
            self._requeue(name, drop.queued_best_of)

    @_atomic
    def user_gone(self, user_id: str, name: str) -> None:
        """Gone for good (grace over, or a deliberate disconnect): forfeit and clean up. The
        finished games they played need no update: `Match.is_member` checks the user id."""
        self._drops.pop(name)
        self._matchmaker.remove(name)
        game_id = self._store.live_game_of(name)
        match = self._store.get(game_id) if game_id is not None else None
        if match is not None and not match.is_over:
            over = match.forfeit(name, "disconnect")
            self._store.put(match)
            self._finish(match, over)
        for challenge in self._challenges.cancel_for(name):
            self._cancel_challenge_timer(challenge.challenge_id)
            other = challenge.challenged if challenge.challenger == name else challenge.challenger
            answer = self._answer(challenge, False, name, "gone")
            self._emit_to_player(None, other, "challenge_answered", answer)
        self._rematches.cancel_for(name)
        self._spectators.drop_user(user_id)
        self._forget_user(user_id, name)

    def _tell_opponent_away(self, match: Match, name: str, grace_seconds: float) -> None:
        status = {"game_id": match.game_id, "name": name, "connected": False}
        status["grace_ms"] = _ms(max(0.0, grace_seconds))
        self._emit_to_player(match, match.opponent_of(name), "opponent_status", status)

    def _games_of(self, user_id: str, name: str) -> list[str]:
        """The games a user is in the room of: played (and not left) or watched. From the
        user's own indexes, never a scan of every game stored."""
        played = [m.game_id for m in self._store.games_of(name) if m.is_member(name, user_id)]
        return played + self._spectators.games_of(user_id)

    def replay_game_chat(self, user_id: str, name: str, sid: str, last_id: int) -> None:
        """After a resume (once `user_back` put the connection back in its rooms): the game
        chat with ids above `last_id` of those games, as `game_message` with `replayed: true`.
        Not under the lock (storage reads); a message committed meanwhile may come twice, never
        not at all (docs/protocol.md, "Resume after a reconnect")."""
        for game_id in self._games_of(user_id, name):
            for message in self._history.after(game_room(game_id), last_id, MAX_REPLAY):
                replayed = {"game_id": game_id, **message.to_wire(), "replayed": True}
                self._outbox.emit("game_message", replayed, to=sid)

    def _send_game_state(self, match: Match, name: str, sid: str, was_dropped: bool) -> None:
        state = {**self._view(match), "your_move": match.move_of(name)}
        self._outbox.emit("game_state", state, to=sid)
        if was_dropped:
            status = {"game_id": match.game_id, "name": name, "connected": True}
            self._emit_to_player(match, match.opponent_of(name), "opponent_status", status)

    def _requeue(self, name: str, best_of: int) -> None:
        try:
            pairing = self._matchmaker.enqueue(name, best_of)
        except Refused:
            return
        if pairing is not None:
            self._start_match(pairing.waited, pairing.arrived, best_of)

    # ---- match lifecycle -------------------------------------------------------------------

    def _start_match(self, player_a: str, player_b: str, best_of: int) -> Match:
        now = self._runtime.now()
        user_ids = {p: u for p in (player_a, player_b) if (u := self._user_id_of(p)) is not None}
        match = Match.start(
            self._make_game_id(),
            player_a,
            player_b,
            best_of,
            now,
            self._settings.round_seconds,
            user_ids=user_ids,
        )
        self._store.put(match)
        room = game_room(match.game_id)
        for player in match.players:
            self._matchmaker.remove(player)
            self._drops.forget_queue(player)
            user_id = match.user_ids.get(player)
            sid = self._chat.directory.sid_of(user_id) if user_id else None
            if sid is not None:
                self._outbox.join(sid, room)
        for player in match.players:
            found = {
                "game_id": match.game_id,
                "opponent": match.opponent_of(player),
                "best_of": best_of,
                "players": list(match.players),
                "round_seconds": match.round_seconds,
            }
            self._emit_to_player(match, player, "match_found", found)
        log.debug("game %s: %s vs %s, best of %d", match.game_id, player_a, player_b, best_of)
        self._start_round(match)
        for player in match.players:  # matched (via a challenge) while their connection is lost
            drop = self._drops.get(player)
            if drop is not None:
                grace = self._settings.resume_grace_seconds - (now - drop.at)
                self._tell_opponent_away(match, player, grace)
        return match

    def _start_round(self, match: Match) -> None:
        now = self._runtime.now()
        started = {
            "game_id": match.game_id,
            "round": match.round,
            "time_left_ms": _ms(match.time_left(now)),
        }
        self._outbox.emit("round_started", started, to=game_room(match.game_id))
        self._set_round_timer(match, now)

    def _set_round_timer(self, match: Match, now: float) -> None:
        """One timer per live game on the node that started its round; the previous round's
        is cancelled, so a round settled early holds nothing until its deadline."""
        self._cancel_round_timer(match.game_id)
        if match.round_deadline is not None:
            self._round_timers[match.game_id] = self._runtime.call_later(
                match.round_deadline - now, self._round_timer, match.game_id, match.round
            )

    def _cancel_round_timer(self, game_id: str) -> None:
        timer = self._round_timers.pop(game_id, None)
        if timer is not None:
            timer.cancel()

    def _apply(self, match: Match, outcome: ThrowOutcome) -> None:
        """Tell the room what a throw or a timeout settled, then start the next round or end."""
        if outcome.round_result is not None:
            result = outcome.round_result.to_dict()
            self._outbox.emit("round_result", result, to=game_room(match.game_id))
        if outcome.game_over is not None:
            self._finish(match, outcome.game_over)
        elif outcome.round_completed:
            self._start_round(match)

    def _finish(self, match: Match, over: GameOver, also_to: str | None = None) -> None:
        """The one place where a game ends (won, timeout, forfeit, disconnect, abandoned)."""
        log.debug("game %s over: %s (%s)", match.game_id, over.winner, over.reason)
        self._cancel_round_timer(match.game_id)
        now = self._runtime.now()
        self._ended_at[match.game_id] = now
        self._schedule_sweep(now)
        # The write may block (SQL): off the lock, in a task of its own under eventlet, and
        # batched with the other games that ended meanwhile (one transaction for them all).
        with self._unrecorded_lock:
            self._unrecorded.append((match, over, also_to))
            start_writer = not self._recording
            self._recording = True
        if start_writer:
            self._runtime.defer(self._record_and_announce)

    def _record_and_announce(self) -> None:
        """Record first, then announce: a game whose `game_over` went out is in the results
        (and a leaderboard asked after `game_over` includes it)."""
        while True:
            with self._unrecorded_lock:
                batch, self._unrecorded = self._unrecorded, []
                if not batch:
                    self._recording = False
                    return
            self._record(batch)
            for match, over, also_to in batch:
                ended = over.to_dict()
                self._outbox.emit("game_over", ended, to=game_room(match.game_id))
                if also_to is not None:
                    self._outbox.emit("game_over", ended, to=also_to)

    def _record(self, batch: list[tuple[Match, GameOver, str | None]]) -> None:
        results = [self._result(match, over) for match, over, _ in batch]
        try:
            self._results.record_many(results)
        except Exception:  # a failed write must not break the game; the log keeps the result
            log.exception("recording games failed: %s", results)

    @staticmethod
    def _result(match: Match, over: GameOver) -> GameResult:
        loser = match.opponent_of(over.winner) if over.winner is not None else None
        return GameResult(
            over.winner, loser, match.players, over.reason, match.best_of, over.score, match.game_id
        )

    def _round_timer(self, game_id: str, round_number: int) -> None:
        self._guarded(self._expire_round, game_id, round_number)

    @_atomic
    def _expire_round(self, game_id: str, round_number: int) -> None:
        match = self._store.get(game_id)
        if match is None or match.is_over or match.round != round_number:
            return  # a stale timer: the round was settled elsewhere (another node, a throw)
        now = self._runtime.now()
        if match.time_left(now) > 0:  # fired early (the clock went back): wait again
            self._set_round_timer(match, now)
            return
        self._round_timers.pop(game_id, None)
        self._settle_overdue_round(match, now)

    def settle_overdue(self, cutoff: float) -> None:
        """Settle rounds and challenges whose deadline passed before `cutoff`: the backstop for
        the timers of a node that died (the cluster keeper calls it; idempotent)."""
        for game_id, round_number in self._store.overdue(cutoff):
            self._guarded(self._expire_round, game_id, round_number)
        if any(c.expires_at < cutoff for c in self._challenge_store.all()):
            self._guarded(self._expire_challenges_now)

    def _settle_overdue_round(self, match: Match, now: float) -> None:
        outcome = match.expire_round(now)
        if outcome is not None:
            self._store.put(match)
            self._apply(match, outcome)

    def _schedule_sweep(self, now: float) -> None:
        if self._sweep is None and self._ended_at:
            oldest = next(iter(self._ended_at.values()))
            wait = oldest + self._settings.finished_game_seconds - now
            self._sweep = self._runtime.call_later(wait, self._guarded, self._sweep_finished)

    @_atomic
    def _sweep_finished(self) -> None:
        """Forget the games that finished `finished_game_seconds` ago, then wait for the next."""
        self._sweep = None
        now = self._runtime.now()
        cutoff = now - self._settings.finished_game_seconds
        while self._ended_at:
            game_id, ended = next(iter(self._ended_at.items()))
            if ended > cutoff:
                break
            self._forget_game(game_id)
        self._schedule_sweep(now)

    def _forget_game(self, game_id: str) -> None:
        """Release a finished game: its match, rematch requests, spectators and room."""
        match = self._store.get(game_id)
        self._store.delete(game_id)
        self._ended_at.pop(game_id, None)
        self._rematches.forget(game_id)
        spectators = self._spectators.drop_game(game_id)
        user_ids = [*(match.user_ids.values() if match else ()), *spectators]
        for user_id in user_ids:
            sid = self._chat.directory.sid_of(user_id)
            if sid is not None:
                self._outbox.leave(sid, game_room(game_id))

    # ---- helpers ---------------------------------------------------------------------------

    def _caller(self, sid: str) -> Connection:
        """The caller's named connection; also keeps the name -> user id map current."""
        try:
            conn = self._chat.named(sid)
        except Refused:
            raise Refused(PICK_A_NAME) from None
        self._remember(conn.user_id, conn.name)
        return conn

    def _remember(self, user_id: str, name: str) -> None:
        old = self._names.get(user_id)
        if old is not None and old != name and self._user_ids.get(old) == user_id:
            del self._user_ids[old]  # renamed since
        self._names[user_id] = name
        self._user_ids[name] = user_id

    def _forget_user(self, user_id: str, name: str) -> None:
        self._names.pop(user_id, None)
        if self._user_ids.get(name) == user_id:
            del self._user_ids[name]

    def _limit(self, conn: Connection, kind: str) -> None:
        self._chat.limit(conn, kind)

    def _match(self, game_id: object) -> Match:
        match = self._store.get(game_id) if isinstance(game_id, str) else None
        if match is None:
            raise Refused(NO_SUCH_GAME)
        return match

    def _in_live_game(self, name: str) -> bool:
        return self._store.live_game_of(name) is not None

    def _user_id_of(self, name: str) -> str | None:
        return self._user_ids.get(name) or self._chat.directory.user_of(name)

    def _emit_to_player(self, match: Match | None, name: str, event: str, data: dict) -> None:
        """To the user room of `name`: the user who plays in `match`, if given."""
        user_id = match.user_ids.get(name) if match is not None else None
        user_id = user_id or self._user_id_of(name)
        if user_id is not None:
            self._outbox.emit(event, data, to=user_room(user_id))

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: Any) -> None:
        """Timers run as tasks of their own: log a failure instead of losing it silently."""
        try:
            fn(*args)
        except Exception:
            log.exception("game timer failed")

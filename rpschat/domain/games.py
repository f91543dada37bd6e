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
from rpschat.domain.game.match import TIME_IS_UP, GameOver, Match, ThrowOutcome
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
    ChallengeStore,
    HistoryStore,
    Lock,
    MatchStore,
    Outbox,
    QueueStore,
    RematchStore,
    ResultsStore,
    Runtime,
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


# ---------------------------------------------------------------- live matches


class InMemoryMatchStore:
    """Keeps `to_dict` snapshots, as Redis would: a change counts only once it is `put`."""

    def __init__(self) -> None:
        self._matches: dict[str, dict[str, Any]] = {}
        self._live_game_by_player: dict[str, str] = {}

    def get(self, game_id: str) -> Match | None:
        data = self._matches.get(game_id)
        return Match.from_dict(data) if data is not None else None

    def put(self, match: Match) -> None:
        self._matches[match.game_id] = match.to_dict()
        for player in match.players:
            if not match.is_over:
                self._live_game_by_player[player] = match.game_id
            elif self._live_game_by_player.get(player) == match.game_id:
                del self._live_game_by_player[player]

    def delete(self, game_id: str) -> None:
        data = self._matches.pop(game_id, None)
        for player in data["players"] if data else ():
            if self._live_game_by_player.get(player) == game_id:
                del self._live_game_by_player[player]

    def list(self) -> list[Match]:
        return [Match.from_dict(data) for data in self._matches.values()]

    def live_game_of(self, player: str) -> str | None:
        return self._live_game_by_player.get(player)


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
        shared_maps: dict[str, Any] | None = None,  # the maps below, in Redis (several nodes)
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
        maps = shared_maps or {}
        # players whose connection was lost, by name -> when
        self._dropped_at: dict[str, float] = maps.get("dropped_at", {})
        # name -> best_of, requeued on resume
        self._queued_before_drop: dict[str, int] = maps.get("queued_before_drop", {})
        self._spectators: dict[str, set[str]] = maps.get("spectators", {})  # game id -> user ids
        # finished game id -> players who left it
        self._departed: dict[str, set[str]] = maps.get("departed", {})
        self._ended_at: OrderedDict[str, float] = OrderedDict()  # finished game id -> when
        self._expired_challenges: OrderedDict[str, None] = maps.get(
            "expired_challenges", OrderedDict()
        )

    def live_count(self) -> int:
        """Games being played (with shared stores: in the whole cluster)."""
        return sum(1 for match in self._store.list() if not match.is_over)

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
                match.opponent_of(conn.name), "opponent_threw", {"game_id": match.game_id}
            )
        return OK

    @_atomic
    def leave_game(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        match = self._match(as_object(payload, GAME_SHAPE).get("game_id"))
        self._limit(conn, "other")
        if self._is_member_player(match, conn.name):
            self._player_leaves(match, conn.name, sid)
        elif conn.user_id in self._spectators.get(match.game_id, ()):
            self._spectators[match.game_id].discard(conn.user_id)
            self._outbox.leave(sid, game_room(match.game_id))
        else:
            raise Refused(NOT_IN_THIS_GAME)
        return OK

    def _player_leaves(self, match: Match, name: str, sid: str) -> None:
        self._departed.setdefault(match.game_id, set()).add(name)
        self._outbox.leave(sid, game_room(match.game_id))
        if not match.is_over:
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
        self._runtime.spawn(self._challenge_timer, challenge.expires_at)
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
            self._tell_challenger(challenge, accepted=True, reason="accepted")
            self._start_match(challenge.challenger, challenge.challenged, challenge.best_of)
        else:
            challenge = self._challenges.decline(challenge_id, conn.name, now)
            self._tell_challenger(challenge, accepted=False, reason="declined")
        return OK

    def _send_challenged(self, challenge: Challenge, now: float) -> None:
        offer = {
            "challenge_id": challenge.challenge_id,
            "from": challenge.challenger,
            "best_of": challenge.best_of,
            "expires_in_ms": _ms(max(0.0, challenge.expires_at - now)),
        }
        self._emit_to_player(challenge.challenged, "challenged", offer)

    def _tell_challenger(self, challenge: Challenge, accepted: bool, reason: str) -> None:
        self._emit_to_player(
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

    def _challenge_timer(self, expires_at: float) -> None:
        self._sleep_until(expires_at)
        self._guarded(self._expire_challenges_now)

    @_atomic
    def _expire_challenges_now(self) -> None:
        self._expire_challenges(self._runtime.now())

    def _expire_challenges(self, now: float) -> None:
        """Drop stale challenges and tell their challengers (the challenged had expires_in_ms)."""
        for challenge in self._challenges.expire(now):
            self._expired_challenges[challenge.challenge_id] = None
            while len(self._expired_challenges) > EXPIRED_CHALLENGES_KEPT:
                self._expired_challenges.popitem(last=False)
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
        if name in self._departed.get(match.game_id, ()):
            raise Refused(YOU_LEFT)
        opponent = match.opponent_of(name)
        self._refuse_rematch_with(opponent, match.game_id)
        if self._in_live_game(name):
            raise Refused(ALREADY_IN_GAME)
        already_asked = name in self._rematches.requested_by(match.game_id)
        if self._rematches.request(match.game_id, name, match.players):
            self._forget_game(match.game_id)
            self._start_match(*match.players, match.best_of)
        elif not already_asked:
            asked = {"game_id": match.game_id, "by": name}
            self._emit_to_player(opponent, "rematch_requested", asked)
        return OK

    def _refuse_rematch_with(self, opponent: str, game_id: str) -> None:
        opponent_id = self._user_id_of(opponent)
        still_here = opponent_id and self._chat.directory.user_of(opponent) == opponent_id
        if not still_here or opponent in self._departed.get(game_id, ()):
            raise Refused(OPPONENT_LEFT)
        if self._in_live_game(opponent):
            raise Refused(f"{opponent} is already in a game.")

    # ---- watching --------------------------------------------------------------------------

    @_atomic
    def games(self, sid: str, payload: Any) -> dict:
        conn = self._caller(sid)
        self._limit(conn, "other")
        live = [
            {key: view[key] for key in ("game_id", "players", "best_of", "round", "score")}
            for view in (m.public_view() for m in self._store.list() if not m.is_over)
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
            self._spectators.setdefault(match.game_id, set()).add(conn.user_id)
        self._outbox.join(sid, game_room(match.game_id))
        return {"ok": True, "game": self._view(match)}

    def _view(self, match: Match) -> dict:
        """What anyone may see: who has thrown, never what, until the round resolves."""
        view = match.public_view()
        del view["round_deadline"]  # server clock seconds: clients get a duration instead
        view["time_left_ms"] = _ms(match.time_left(self._runtime.now()))
        view["spectators"] = len(self._spectators.get(match.game_id, ()))
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

    def game_chat(self, sid: str, payload: Any) -> dict:
        return self.check_game_chat(sid, payload)()

    def _may_chat(self, match: Match, conn: Connection) -> bool:
        return self._is_member_player(match, conn.name) or conn.user_id in self._spectators.get(
            match.game_id, ()
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

    def leaderboard(self, sid: str, payload: Any) -> dict:
        return self.check_leaderboard(sid, payload)()

    # ---- presence (ChatService's PresenceListener) -----------------------------------------

    @_atomic
    def is_busy(self, user_id: str) -> bool:
        """In a game, looking for one or in a pending challenge: the name must not change."""
        name = self._chat.directory.name_of(user_id)
        if name is None:
            return False
        return (
            self._in_live_game(name)
            or self._matchmaker.is_queued(name)
            or name in self._queued_before_drop
            or bool(self._challenges.pending_for(name, self._runtime.now()))
        )

    @_atomic
    def user_dropped(self, user_id: str, name: str) -> None:
        """Lost connection, maybe back soon. The round timer keeps running meanwhile."""
        self._dropped_at[name] = self._runtime.now()
        best_of = self._matchmaker.queued_best_of(name)
        if best_of is not None:  # nobody should be matched with a player who can't hear it
            self._matchmaker.remove(name)
            self._queued_before_drop[name] = best_of
        game_id = self._store.live_game_of(name)
        if game_id is not None:
            self._tell_opponent_away(game_id, name, self._settings.resume_grace_seconds)

    @_atomic
    def user_back(self, user_id: str, name: str, sid: str) -> None:
        """A resumed connection: back into its rooms, its game state and its queue."""
        self._remember(user_id, name)
        was_dropped = self._dropped_at.pop(name, None) is not None
        self._rejoin_rooms(user_id, name, sid)
        game_id = self._store.live_game_of(name)
        if game_id is not None:
            self._send_game_state(game_id, name, sid, was_dropped)
        now = self._runtime.now()
        for challenge in self._challenges.pending_for(name, now):
            if challenge.challenged == name:
                self._send_challenged(challenge, now)
        best_of = self._queued_before_drop.pop(name, None)
        if best_of is not None and game_id is None:
            self._requeue(name, best_of)

    @_atomic
    def user_gone(self, user_id: str, name: str) -> None:
        """Gone for good (grace over, or a deliberate disconnect): forfeit and clean up."""
        self._dropped_at.pop(name, None)
        self._queued_before_drop.pop(name, None)
        self._matchmaker.remove(name)
        game_id = self._store.live_game_of(name)
        if game_id is not None:
            match = self._store.get(game_id)
            over = match.forfeit(name, "disconnect")
            self._store.put(match)
            self._finish(match, over)
        for challenge in self._challenges.cancel_for(name):
            other = challenge.challenged if challenge.challenger == name else challenge.challenger
            answer = self._answer(challenge, False, name, "gone")
            self._emit_to_player(other, "challenge_answered", answer)
        self._rematches.cancel_for(name)
        for match in self._store.list():
            if match.is_over and name in match.players:
                self._departed.setdefault(match.game_id, set()).add(name)
        for spectators in self._spectators.values():
            spectators.discard(user_id)
        self._forget_user(user_id, name)

    def _tell_opponent_away(self, game_id: str, name: str, grace_seconds: float) -> None:
        match = self._store.get(game_id)
        status = {"game_id": game_id, "name": name, "connected": False}
        status["grace_ms"] = _ms(max(0.0, grace_seconds))
        self._emit_to_player(match.opponent_of(name), "opponent_status", status)

    def _games_of(self, user_id: str, name: str) -> list[str]:
        """The games a user is in the room of: played (and not left) or watched."""
        return [
            match.game_id
            for match in self._store.list()
            if self._is_member_player(match, name)
            or user_id in self._spectators.get(match.game_id, ())
        ]

    def _rejoin_rooms(self, user_id: str, name: str, sid: str) -> None:
        for game_id in self._games_of(user_id, name):
            self._outbox.join(sid, game_room(game_id))

    def replay_game_chat(self, user_id: str, name: str, sid: str, last_id: int) -> None:
        """After a resume (once `user_back` put the connection back in its rooms): the game
        chat with ids above `last_id` of those games, as `game_message` with `replayed: true`.
        Not under the lock (storage reads); a message committed meanwhile may come twice, never
        not at all (docs/protocol.md, "Resume after a reconnect")."""
        for game_id in self._games_of(user_id, name):
            for message in self._history.after(game_room(game_id), last_id, MAX_REPLAY):
                replayed = {"game_id": game_id, **message.to_wire(), "replayed": True}
                self._outbox.emit("game_message", replayed, to=sid)

    def _send_game_state(self, game_id: str, name: str, sid: str, was_dropped: bool) -> None:
        match = self._store.get(game_id)
        state = {**self._view(match), "your_move": match.move_of(name)}
        self._outbox.emit("game_state", state, to=sid)
        if was_dropped:
            status = {"game_id": game_id, "name": name, "connected": True}
            self._emit_to_player(match.opponent_of(name), "opponent_status", status)

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
        match = Match.start(
            self._make_game_id(), player_a, player_b, best_of, now, self._settings.round_seconds
        )
        self._store.put(match)
        room = game_room(match.game_id)
        for player in match.players:
            self._matchmaker.remove(player)
            self._queued_before_drop.pop(player, None)
            sid = self._sid_of(player)
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
            self._emit_to_player(player, "match_found", found)
        log.info("game %s: %s vs %s, best of %d", match.game_id, player_a, player_b, best_of)
        self._start_round(match)
        for player in match.players:  # matched (via a challenge) while their connection is lost
            if player in self._dropped_at:
                grace = self._settings.resume_grace_seconds - (now - self._dropped_at[player])
                self._tell_opponent_away(match.game_id, player, grace)
        return match

    def _start_round(self, match: Match) -> None:
        started = {
            "game_id": match.game_id,
            "round": match.round,
            "time_left_ms": _ms(match.time_left(self._runtime.now())),
        }
        self._outbox.emit("round_started", started, to=game_room(match.game_id))
        self._runtime.spawn(self._round_timer, match.game_id, match.round, match.round_deadline)

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
        log.info("game %s over: %s (%s)", match.game_id, over.winner, over.reason)
        now = self._runtime.now()
        self._ended_at[match.game_id] = now
        self._forget_finished_before(now - self._settings.finished_game_seconds)
        # The write may block (SQL): off the lock, in a task of its own under eventlet.
        self._runtime.defer(self._record_and_announce, match, over, also_to)

    def _record_and_announce(self, match: Match, over: GameOver, also_to: str | None) -> None:
        """Record first, so that a leaderboard asked after `game_over` includes the game."""
        try:
            self._record(match, over)
        finally:
            self._outbox.emit("game_over", over.to_dict(), to=game_room(match.game_id))
            if also_to is not None:
                self._outbox.emit("game_over", over.to_dict(), to=also_to)

    def _record(self, match: Match, over: GameOver) -> None:
        loser = match.opponent_of(over.winner) if over.winner is not None else None
        try:
            self._results.record(
                over.winner,
                loser,
                match.players,
                over.reason,
                match.best_of,
                over.score,
                match.game_id,
            )
        except Exception:  # a failed write must not break the game; the log keeps the result
            log.exception("recording game %s failed: %s", match.game_id, over.to_dict())

    def _round_timer(self, game_id: str, round_number: int, deadline: float) -> None:
        self._sleep_until(deadline)
        self._guarded(self._expire_round, game_id, round_number)

    @_atomic
    def _expire_round(self, game_id: str, round_number: int) -> None:
        match = self._store.get(game_id)
        if match is None or match.is_over or match.round != round_number:
            return  # a stale timer: the round was settled by its second throw
        if match.time_left(self._runtime.now()) > 0:  # the clock went back: wait again
            self._runtime.spawn(self._round_timer, game_id, round_number, match.round_deadline)
            return
        self._settle_overdue_round(match, self._runtime.now())

    def settle_overdue(self, cutoff: float) -> None:
        """Settle rounds and challenges whose deadline passed before `cutoff`: the backstop for
        the timers of a node that died (the cluster keeper calls it; idempotent)."""
        for match in self._store.list():
            deadline = match.round_deadline
            if not match.is_over and deadline is not None and deadline < cutoff:
                self._guarded(self._expire_round, match.game_id, match.round)
        if any(c.expires_at < cutoff for c in self._challenge_store.all()):
            self._guarded(self._expire_challenges_now)

    def _settle_overdue_round(self, match: Match, now: float) -> None:
        outcome = match.expire_round(now)
        if outcome is not None:
            self._store.put(match)
            self._apply(match, outcome)

    def _forget_finished_before(self, cutoff: float) -> None:
        while self._ended_at:
            game_id, ended = next(iter(self._ended_at.items()))
            if ended > cutoff:
                return
            self._forget_game(game_id)

    def _forget_game(self, game_id: str) -> None:
        match = self._store.get(game_id)
        self._store.delete(game_id)
        self._ended_at.pop(game_id, None)
        self._departed.pop(game_id, None)
        self._rematches.forget(game_id)
        spectators = self._spectators.pop(game_id, set())
        members = [self._sid_of(p) for p in match.players] if match else []
        members += [self._chat.directory.sid_of(user_id) for user_id in spectators]
        for sid in members:
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

    def _is_member_player(self, match: Match, name: str) -> bool:
        return name in match.players and name not in self._departed.get(match.game_id, ())

    def _user_id_of(self, name: str) -> str | None:
        return self._user_ids.get(name) or self._chat.directory.user_of(name)

    def _sid_of(self, name: str) -> str | None:
        user_id = self._user_id_of(name)
        return self._chat.directory.sid_of(user_id) if user_id else None

    def _emit_to_player(self, name: str, event: str, data: dict) -> None:
        user_id = self._user_id_of(name)
        if user_id is not None:
            self._outbox.emit(event, data, to=user_room(user_id))

    def _sleep_until(self, deadline: float) -> None:
        while (left := deadline - self._runtime.now()) > 0:
            self._runtime.sleep(left)

    @staticmethod
    def _guarded(fn: Callable[..., None], *args: Any) -> None:
        """Timers run as tasks of their own: log a failure instead of losing it silently."""
        try:
            fn(*args)
        except Exception:
            log.exception("game timer failed")

"""One rock-paper-scissors match between two players: a clock-free state machine.

Time is always passed in as `now` (seconds, any monotonic-ish float) so the class never reads a
clock: the caller owns timers, and tests are deterministic. The whole state converts to and from
a dict of JSON types (`to_dict` / `from_dict`): the snapshot a node writes so that another can
rebuild the match (`storage/redis/games.py`).

Players are their user ids, everywhere in the state: `players`, the moves, the score, the round
results and the winner (a rename, or a look-alike who takes a name its holder left, can never touch
a game). `names` holds the display name each played under; what goes on the wire shows names
(`public_view`, `wire_round`, `wire_over`), as docs/protocol.md has always had it.

Rounds: every round, drawn or not, increments `round`; only won rounds score. The match ends
when a player reaches `wins_needed(best_of)`, so draws simply add rounds (no cap: each round is
bounded by the round timer and a draw needs both players to keep throwing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.rules import parse_move, round_winner, validate_best_of, wins_needed

Status = Literal["playing", "over"]
PLAYING: Status = "playing"
OVER: Status = "over"
# As in docs/protocol.md: 'won': a played round gave someone wins_needed; 'timeout': a round
# timeout did; 'forfeit': the other player left; 'disconnect': the other dropped past the
# reconnection grace; 'abandoned': neither player threw before a round deadline (no winner);
# 'aborted': a player left before any round was played (no winner, counts for nobody).
EndReason = Literal["won", "timeout", "forfeit", "disconnect", "abandoned", "aborted"]
ForfeitReason = Literal["forfeit", "disconnect"]
FORFEIT_REASONS: tuple[ForfeitReason, ...] = ("forfeit", "disconnect")

NOT_A_PLAYER = "You are not playing in this game."
GAME_OVER = "This game is over."
ALREADY_THREW = "You already threw this round."
TIME_IS_UP = "Time is up for this round."


def _named(names: dict[str, str], by_player: dict[str, Any]) -> dict[str, Any]:
    return {names.get(player, player): value for player, value in by_player.items()}


@dataclass(frozen=True)
class RoundResult:
    """A resolved round, players by user id (`wire` shows names). With `timeout`, the player who
    did not throw in time has move None."""

    game_id: str
    round: int
    moves: dict[str, str | None]
    winner: str | None
    score: dict[str, int]
    timeout: bool
    # Against the computer: the commitment to its move sent with `round_started`, and the salt
    # that opens it, revealed now (game/fairness.py)
    commit: str | None = None
    salt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """For the snapshot: players by user id."""
        return {
            "game_id": self.game_id,
            "round": self.round,
            "moves": dict(self.moves),
            "winner": self.winner,
            "score": dict(self.score),
            "timeout": self.timeout,
            **self._fairness(),
        }

    def wire(self, names: dict[str, str]) -> dict[str, Any]:
        """The `round_result` event payload: players by display name."""
        return {
            "game_id": self.game_id,
            "round": self.round,
            "moves": _named(names, self.moves),
            "winner": names.get(self.winner, self.winner) if self.winner else None,
            "score": _named(names, self.score),
            "timeout": self.timeout,
            **self._fairness(),
        }

    def _fairness(self) -> dict[str, str]:
        return {"commit": self.commit, "salt": self.salt} if self.commit and self.salt else {}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoundResult:
        return cls(
            game_id=data["game_id"],
            round=data["round"],
            moves=dict(data["moves"]),
            winner=data["winner"],
            score=dict(data["score"]),
            timeout=data["timeout"],
            commit=data.get("commit"),
            salt=data.get("salt"),
        )


@dataclass(frozen=True)
class GameOver:
    """How a match ended, players by user id. `winner` is None only when the match was
    abandoned."""

    game_id: str
    winner: str | None
    score: dict[str, int]
    reason: EndReason

    def wire(self, names: dict[str, str]) -> dict[str, Any]:
        """The `game_over` event payload: players by display name."""
        return {
            "game_id": self.game_id,
            "winner": names.get(self.winner, self.winner) if self.winner else None,
            "score": _named(names, self.score),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GameResult:
    """A finished game, as the results store (the leaderboard) records it."""

    winner: str | None
    loser: str | None
    players: tuple[str, str]
    reason: str
    best_of: int
    score: dict[str, int]
    game_id: str
    # name -> the user who played under it: a standing belongs to that user, never to whoever
    # holds the name later (a guest's row is started afresh under another user)
    user_ids: dict[str, str] = field(default_factory=dict)
    # guests who left for good before the game was recorded: no row (it would never be removed)
    gone: tuple[str, ...] = ()
    # against the computer: kept for its page, counted in nobody's standing
    computer: bool = False
    # every round as `round_result` showed it, without game_id (the game's page replays them)
    rounds: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ThrowOutcome:
    """What one throw or expiry changed: possibly a resolved round, possibly the end."""

    round_completed: bool
    round_result: RoundResult | None = None
    game_over: GameOver | None = None


@dataclass
class Match:
    game_id: str
    players: tuple[str, str]
    best_of: int
    round_seconds: float
    round: int = 1
    # Moves thrown in the current round, by player. Secret until the round resolves.
    moves: dict[str, str] = field(default_factory=dict)
    score: dict[str, int] = field(default_factory=dict)
    status: Status = PLAYING
    winner: str | None = None
    reason: EndReason | None = None
    # Absolute time at which the current round times out; None once the match is over.
    round_deadline: float | None = None
    history: list[RoundResult] = field(default_factory=list)
    # user id -> the display name they played under (what the wire shows); a player missing
    # here shows as its id
    names: dict[str, str] = field(default_factory=dict)
    # Players (user ids) who left the game (`leave_game`): no longer members, though they played.
    left: list[str] = field(default_factory=list)
    # Against the computer (players[1] is computer.COMPUTER): the human's rounds of earlier
    # games, [move, outcome], oldest first, as the game started; it decides from them and
    # this game's `history` (kept here so that any node can decide the next round).
    computer: bool = False
    computer_memory: list[list[str]] = field(default_factory=list)
    # Against the computer: the commitment to its move this round and the salt that opens it
    # (game/fairness.py); the salt is secret until the round resolves
    commit: str | None = None
    salt: str | None = None

    # ----- creation and persistence -----

    @classmethod
    def start(
        cls,
        game_id: str,
        player_a: str,
        player_b: str,
        best_of: int,
        now: float,
        round_seconds: float,
        names: dict[str, str] | None = None,
    ) -> Match:
        """`player_a`, `player_b`: user ids; `names`: their display names."""
        if player_a == player_b:
            raise Refused(Code.SELF_TARGET, "You cannot play against yourself.")
        if round_seconds <= 0:
            raise ValueError("round_seconds must be positive")
        return cls(
            game_id=game_id,
            players=(player_a, player_b),
            best_of=validate_best_of(best_of),
            round_seconds=round_seconds,
            score={player_a: 0, player_b: 0},
            round_deadline=now + round_seconds,
            names=dict(names or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """Full state, secret moves included: for storage, never for clients."""
        return {
            "game_id": self.game_id,
            "players": list(self.players),
            "best_of": self.best_of,
            "round_seconds": self.round_seconds,
            "round": self.round,
            "moves": dict(self.moves),
            "score": dict(self.score),
            "status": self.status,
            "winner": self.winner,
            "reason": self.reason,
            "round_deadline": self.round_deadline,
            "history": [result.to_dict() for result in self.history],
            "names": dict(self.names),
            "left": list(self.left),
            "computer": self.computer,
            "computer_memory": [list(entry) for entry in self.computer_memory],
            **({"commit": self.commit, "salt": self.salt} if self.commit else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Match:
        player_a, player_b = data["players"]
        return cls(
            game_id=data["game_id"],
            players=(player_a, player_b),
            best_of=data["best_of"],
            round_seconds=data["round_seconds"],
            round=data["round"],
            moves=dict(data["moves"]),
            score=dict(data["score"]),
            status=data["status"],
            winner=data["winner"],
            reason=data["reason"],
            round_deadline=data["round_deadline"],
            history=[RoundResult.from_dict(item) for item in data["history"]],
            names=dict(data.get("names", {})),
            left=list(data.get("left", [])),
            computer=bool(data.get("computer", False)),
            computer_memory=[list(entry) for entry in data.get("computer_memory", [])],
            commit=data.get("commit"),
            salt=data.get("salt"),
        )

    # ----- queries -----

    @property
    def is_over(self) -> bool:
        return self.status == OVER

    @property
    def wins_needed(self) -> int:
        return wins_needed(self.best_of)

    def opponent_of(self, player: str) -> str:
        self._require_player(player)
        player_a, player_b = self.players
        return player_b if player == player_a else player_a

    def is_member(self, player: str) -> bool:
        """The user `player` played this game and has not left it."""
        return player in self.players and player not in self.left

    def humans(self) -> tuple[str, ...]:
        """The players who are people (the computer plays many games)."""
        return self.players[:1] if self.computer else self.players

    def name_of(self, player: str) -> str:
        """The display name `player` (a user id) plays under."""
        return self.names.get(player, player)

    def human_names(self) -> tuple[str, ...]:
        """The people's display names (the stores index games by them, as the queue does)."""
        return tuple(self.name_of(player) for player in self.humans())

    def player_named(self, name: str) -> str | None:
        """The user id of the player who plays under `name`, if one does."""
        for player in self.players:
            if self.name_of(player) == name:
                return player
        return None

    def wire_round(self, result: RoundResult) -> dict[str, Any]:
        return result.wire(self.names)

    def wire_over(self, over: GameOver) -> dict[str, Any]:
        return over.wire(self.names)

    def has_thrown(self, player: str) -> bool:
        return player in self.moves

    def move_of(self, player: str) -> str | None:
        """`player`'s own pending move (for their resumed `game_state`); show it to no one else."""
        return self.moves.get(player)

    def time_left(self, now: float) -> float:
        """Seconds until the current round times out; 0 once it has, or when the match is over."""
        if self.round_deadline is None:
            return 0.0
        return max(0.0, self.round_deadline - now)

    def public_view(self) -> dict[str, Any]:
        """Safe for players and spectators: who has thrown, never what, until the round resolves.
        Players by display name."""
        names = self.names
        return {
            "game_id": self.game_id,
            "players": [self.name_of(player) for player in self.players],
            "best_of": self.best_of,
            "wins_needed": self.wins_needed,
            "round": self.round,
            "score": _named(names, self.score),
            "thrown": {self.name_of(p): self.has_thrown(p) for p in self.players},
            "status": self.status,
            "winner": self.name_of(self.winner) if self.winner else None,
            "reason": self.reason,
            "round_deadline": self.round_deadline,
            "history": [result.wire(names) for result in self.history],
            "computer": self.computer,
            **({"commit": self.commit} if self.commit and not self.is_over else {}),
        }

    # ----- commands -----

    def throw(self, player: str, move: object, now: float) -> ThrowOutcome:
        """Record `player`'s move; resolves the round once both have thrown.

        A throw at or after the deadline is refused: the round timer (`expire_round`) decides
        late rounds, so a slow timer cannot give one player extra time.
        """
        self._require_player(player)
        self._require_playing()
        if self.has_thrown(player):
            raise Refused(Code.ALREADY_THREW, ALREADY_THREW)
        if self.round_deadline is not None and now >= self.round_deadline:
            raise Refused(Code.TIME_IS_UP, TIME_IS_UP)
        self.moves[player] = parse_move(move)
        if len(self.moves) < 2:
            return ThrowOutcome(round_completed=False)
        return self._resolve_played_round(now)

    def expire_round(self, now: float) -> ThrowOutcome | None:
        """Settle a round whose deadline has passed; None when there is nothing to settle.

        Idempotent: a timer firing early, late or twice is harmless. A player who has not thrown
        loses the round; if neither threw, both are gone and the match is abandoned.
        """
        if self.is_over or self.round_deadline is None or now < self.round_deadline:
            return None
        throwers = [player for player in self.players if self.has_thrown(player)]
        if not throwers:
            return ThrowOutcome(round_completed=False, game_over=self._end(None, "abandoned"))
        # Both cannot have thrown here: the second throw resolves the round immediately.
        (round_winner_name,) = throwers
        moves: dict[str, str | None] = {p: self.moves.get(p) for p in self.players}
        return self._complete_round(moves, round_winner_name, True, now)

    def forfeit(self, player: str, reason: ForfeitReason) -> GameOver:
        """`player` left ('forfeit') or dropped past the grace period ('disconnect')."""
        if reason not in FORFEIT_REASONS:
            raise ValueError(f"forfeit reason must be one of {FORFEIT_REASONS}, not {reason!r}")
        self._require_player(player)
        self._require_playing()
        if reason == "forfeit" and not self.history:
            # Left before any round was played (often right after a rematch began): aborted,
            # not a "won 0-0 by forfeit" on the leaderboard (issue 23), as lichess aborts.
            return self._end(None, "aborted")
        return self._end(self.opponent_of(player), reason)

    def restart_round(self, now: float) -> None:
        """The round in progress starts again, from nobody having thrown, with a full round's
        time: the node that ran it is gone, and a move thrown there may be lost with it."""
        if self.is_over:
            return
        self.moves = {}
        self.round_deadline = now + self.round_seconds

    # ----- internals -----

    def _resolve_played_round(self, now: float) -> ThrowOutcome:
        player_a, player_b = self.players
        side = round_winner(self.moves[player_a], self.moves[player_b])
        winner = {"a": player_a, "b": player_b, None: None}[side]
        moves: dict[str, str | None] = {p: self.moves[p] for p in self.players}
        return self._complete_round(moves, winner, False, now)

    def _complete_round(
        self,
        moves: dict[str, str | None],
        winner: str | None,
        timeout: bool,
        now: float,
    ) -> ThrowOutcome:
        if winner is not None:
            self.score[winner] += 1
        result = RoundResult(
            self.game_id, self.round, moves, winner, dict(self.score), timeout,
            self.commit, self.salt,
        )  # fmt: skip
        self.history.append(result)
        self.moves = {}
        self.commit = self.salt = None
        if winner is not None and self.score[winner] >= self.wins_needed:
            return ThrowOutcome(True, result, self._end(winner, "timeout" if timeout else "won"))
        self.round += 1
        # From `now`, not the old deadline: a late timer must not shorten the next round.
        self.round_deadline = now + self.round_seconds
        return ThrowOutcome(True, result)

    def _end(self, winner: str | None, reason: EndReason) -> GameOver:
        self.status = OVER
        self.winner = winner
        self.reason = reason
        self.round_deadline = None
        self.moves = {}  # an unresolved move stays secret forever
        return GameOver(self.game_id, winner, dict(self.score), reason)

    def _require_player(self, player: str) -> None:
        if player not in self.players:
            raise Refused(Code.NOT_A_PLAYER, NOT_A_PLAYER)

    def _require_playing(self) -> None:
        if self.is_over:
            raise Refused(Code.GAME_OVER, GAME_OVER)

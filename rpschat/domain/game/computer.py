"""The computer opponent: a move chosen when the round starts, from what the player threw before.

Fair by construction: `Strategy.choose` sees only the player's finished rounds (this game's and
earlier games'), never the move of the round being played; the lifecycle records its choice in
`Match.moves` as the round starts, before the player can throw.

Worth playing: a few predictors each guess the player's next move from the rounds so far (how
often they throw each move, what they throw after a win, a loss or a draw, and after each move);
every predictor is scored on how well it would have guessed the past rounds, with recent rounds
counting more, and the best one's guess is beaten. A little noise keeps the computer from
being a deterministic function of the past. Against a player who always throws the same move it
wins nearly every round; against a uniformly random player nobody can do better than a third
of the rounds each (win, loss, draw), and neither can it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from rpschat.domain.game.rules import MOVES

COMPUTER = "Computer"  # a reserved name (domain/names.py): no user can take it
# Earlier rounds of a player the computer remembers at the start of a game (stored with the
# match: any node can decide the next move)
MEMORY_ROUNDS = 200
WIN, LOSS, DRAW = "win", "loss", "draw"  # a round's outcome for the player
OUTCOMES = (WIN, LOSS, DRAW)
NOISE = 0.1  # the share of rounds the computer throws at random
DECAY = 0.9  # how much a round's weight fades with each later round

_BEATEN_BY = {"rock": "paper", "paper": "scissors", "scissors": "rock"}

Round = tuple[str, str]  # (the player's move, the outcome for the player)


def beaten_by(move: str) -> str:
    return _BEATEN_BY[move]


class _Counts:
    """Decayed counts of the player's next move, per context (a previous outcome or move)."""

    def __init__(self) -> None:
        self._tables: dict[str | None, dict[str, float]] = {}

    def guess(self, context: str | None) -> dict[str, float] | None:
        return self._tables.get(context)

    def add(self, context: str | None, move: str) -> None:
        table = self._tables.setdefault(context, dict.fromkeys(MOVES, 0.0))
        for key in table:
            table[key] *= DECAY
        table[move] += 1.0


class Strategy:
    """Chooses the computer's move; `rng` is the only source of chance (seed it in tests)."""

    def __init__(self, rng: random.Random | None = None, noise: float = NOISE) -> None:
        self._rng = rng or random.SystemRandom()
        self._noise = noise

    def choose(self, past: Sequence[Round]) -> str:
        """The computer's move for the next round, given the player's rounds so far (oldest
        first: earlier games, then this one); only the last MEMORY_ROUNDS count."""
        past = past[-MEMORY_ROUNDS:]
        if not past or self._rng.random() < self._noise:
            return self._rng.choice(MOVES)
        guess = self._predict(past)
        if guess is None:
            return self._rng.choice(MOVES)
        return beaten_by(guess)

    def _predict(self, past: Sequence[Round]) -> str | None:
        # three predictors: overall frequency, next move after an outcome, next move after a move
        counts = [_Counts(), _Counts(), _Counts()]
        scores = [0.0, 0.0, 0.0]
        previous: Round | None = None
        for move, outcome in past:
            contexts = self._contexts(previous)
            for index, (table, context) in enumerate(zip(counts, contexts, strict=True)):
                scores[index] *= DECAY
                guessed = _top(table.guess(context))
                if guessed is not None:
                    scores[index] += 1.0 if guessed == move else -0.5
                table.add(context, move)
            previous = (move, outcome)
        contexts = self._contexts(previous)
        ranked = sorted(range(len(counts)), key=lambda index: -scores[index])
        for index in ranked:
            guesses = counts[index].guess(contexts[index])
            if guesses is not None:
                return self._pick(guesses)
        return None

    @staticmethod
    def _contexts(previous: Round | None) -> tuple[str | None, str | None, str | None]:
        if previous is None:
            return None, "start", "start"
        move, outcome = previous
        return None, outcome, move

    def _pick(self, table: dict[str, float]) -> str:
        best = max(table.values())
        return self._rng.choice([move for move in MOVES if table[move] == best])


def _top(table: dict[str, float] | None) -> str | None:
    if table is None:
        return None
    best = max(table.values())
    tops = [move for move in MOVES if table[move] == best]
    return tops[0] if len(tops) == 1 else None


def outcome_for(player: str, winner: str | None) -> str:
    if winner is None:
        return DRAW
    return WIN if winner == player else LOSS


def rounds_of(player: str, rounds: Sequence[dict[str, Any]]) -> list[Round]:
    """A player's (move, outcome) in stored rounds ({round, moves, winner}); a round they let
    time out is no choice of theirs and is left out."""
    played = []
    for entry in rounds:
        move = (entry.get("moves") or {}).get(player)
        if move in MOVES:
            played.append((move, outcome_for(player, entry.get("winner"))))
    return played

"""The computer opponent: a move chosen when the round starts, from what the player threw before.

Fair by construction: `Strategy.choose` sees only the player's finished rounds (this game's and
earlier games'), never the move of the round being played; the lifecycle records its choice in
`Match.moves` as the round starts, before the player can throw.

Worth playing: a few predictors each guess the player's next move from the rounds so far (how
often they throw each move, what they throw after a win, a loss or a draw, and after each move).
Each guess makes three candidate answers: the move that beats it, the one that beats a player who
expects that, and the one after (a player who second-guesses the computer is second-guessed in
turn). Every candidate is scored on how it would have done in the past rounds, recent ones
counting more.

Not to be copied: the code is public, and so is the player's history, so anyone can run this
module and compute what it computes (issue 21: a client that did won 85-96 % of its rounds when
the computer played its best guess nine times in ten). So what it computes is only the odds of
each move (`odds`), and the move is drawn from them with the operating system's randomness
(`random.SystemRandom`, as `secrets` uses), which no client can reproduce. The odds follow the
best-scoring candidates (weights `exp(eta * score)`), and only as sharply as the computer's own
recent results justify: `eta` grows with its winning margin over the last rounds and is 0 (even
odds) when it is not winning. Against a player who always throws rock the odds are nine in ten on
paper, and it wins nearly every round; a player who computes the same odds and plays the best
answer to them makes the computer lose, which brings the odds back to even at once: over many
rounds such a player wins about a third, as a random player does (tests/unit/test_computer.py).
"""

from __future__ import annotations

import math
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
NOISE = 0.1  # the share of the odds spread evenly over the three moves
DECAY = 0.9  # how much a round's weight fades with each later round
ETA = 2.0  # how sharply the odds follow the best candidates when the computer wins every round
EVEN_ODDS = dict.fromkeys(MOVES, 1 / 3)

_BEATEN_BY = {"rock": "paper", "paper": "scissors", "scissors": "rock"}
# the computer's result in a round, from the player's outcome
_COMPUTER_SCORE = {WIN: -1.0, LOSS: 1.0, DRAW: 0.0}

Round = tuple[str, str]  # (the player's move, the outcome for the player)


def beaten_by(move: str) -> str:
    return _BEATEN_BY[move]


def _score(computer: str, player: str) -> float:
    """+1 if `computer` beats `player`, -1 if it loses, 0 for a draw."""
    if computer == player:
        return 0.0
    return 1.0 if beaten_by(player) == computer else -1.0


class _Counts:
    """Decayed counts of the player's next move, per context (a previous outcome or move)."""

    def __init__(self) -> None:
        self._tables: dict[str | None, dict[str, float]] = {}

    def guess(self, context: str | None) -> str | None:
        """The move seen most in this context, if one was seen more than the others."""
        table = self._tables.get(context)
        if table is None:
            return None
        best = max(table.values())
        tops = [move for move in MOVES if table[move] == best]
        return tops[0] if len(tops) == 1 else None

    def add(self, context: str | None, move: str) -> None:
        table = self._tables.setdefault(context, dict.fromkeys(MOVES, 0.0))
        for key in table:
            table[key] *= DECAY
        table[move] += 1.0


def _answers(guess: str) -> tuple[str, str, str]:
    """The three candidates a guess makes: the move that beats it, then the move that beats
    that one, and the next."""
    first = beaten_by(guess)
    second = beaten_by(first)
    return first, second, beaten_by(second)


class Strategy:
    """Chooses the computer's move; `rng` is the only source of chance (seed it in tests)."""

    def __init__(
        self, rng: random.Random | None = None, noise: float = NOISE, eta: float = ETA
    ) -> None:
        self._rng = rng or random.SystemRandom()
        self._noise = noise
        self._eta = eta

    def choose(self, past: Sequence[Round]) -> str:
        """The computer's move for the next round, given the player's rounds so far (oldest
        first: earlier games, then this one); only the last MEMORY_ROUNDS count."""
        odds = self.odds(past)
        pick = self._rng.random()
        for move in MOVES:
            pick -= odds[move]
            if pick < 0:
                return move
        return MOVES[-1]

    def odds(self, past: Sequence[Round]) -> dict[str, float]:
        """The chance of each move next round: what anyone can compute from the player's
        rounds (this function is public); the draw from it is not."""
        past = past[-MEMORY_ROUNDS:]
        eta = self._eta * max(0.0, _margin(past))
        if eta <= 0:
            return dict(EVEN_ODDS)
        weights = dict.fromkeys(MOVES, 0.0)
        for candidate, score in _candidates(past):
            weights[candidate] += math.exp(eta * score)
        total = sum(weights.values())
        if not total:
            return dict(EVEN_ODDS)
        share = 1 - self._noise
        return {move: share * weights[move] / total + self._noise / 3 for move in MOVES}


def _margin(past: Sequence[Round]) -> float:
    """The computer's recent results, from -1 (lost every round) to 1 (won every round),
    recent rounds counting more."""
    total = weight = 0.0
    for _, outcome in past:
        total = total * DECAY + _COMPUTER_SCORE[outcome]
        weight = weight * DECAY + 1.0
    return total / weight if weight else 0.0


def _contexts(previous: Round | None) -> tuple[str | None, str | None, str | None]:
    """Each predictor's context: none (overall frequency), the last outcome, the last move."""
    if previous is None:
        return None, "start", "start"
    move, outcome = previous
    return None, outcome, move


def _candidates(past: Sequence[Round]) -> list[tuple[str, float]]:
    """(move, score) of every candidate for the next round: three per predictor that has a
    guess; a score is how the candidate would have done in the past rounds, decayed."""
    counts = [_Counts(), _Counts(), _Counts()]
    scores = [[0.0, 0.0, 0.0] for _ in counts]
    previous: Round | None = None
    for move, outcome in past:
        contexts = _contexts(previous)
        for table, context, candidate_scores in zip(counts, contexts, scores, strict=True):
            guess = table.guess(context)
            for index in range(3):
                candidate_scores[index] *= DECAY
                if guess is not None:
                    candidate_scores[index] += _score(_answers(guess)[index], move)
            table.add(context, move)
        previous = (move, outcome)
    contexts = _contexts(previous)
    found: list[tuple[str, float]] = []
    for table, context, candidate_scores in zip(counts, contexts, scores, strict=True):
        guess = table.guess(context)
        if guess is not None:
            found += zip(_answers(guess), candidate_scores, strict=True)
    return found


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

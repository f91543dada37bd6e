"""The computer opponent's strategy, in the pure domain: statistics with fixed seeds."""

import random

import pytest

from rpschat.domain.game.computer import DRAW, LOSS, WIN, Strategy, beaten_by, rounds_of
from rpschat.domain.game.rules import MOVES, round_winner


def play(strategy: Strategy, player, rounds: int) -> list[str]:
    """`player(past)` -> a move; the outcome of each round for the player."""
    past: list[tuple[str, str]] = []
    outcomes = []
    for _ in range(rounds):
        computer = strategy.choose(past)  # decided before the player's move exists
        move = player(past)
        side = round_winner(move, computer)
        outcome = {"a": WIN, "b": LOSS, None: DRAW}[side]
        past.append((move, outcome))
        outcomes.append(outcome)
    return outcomes


def share(outcomes: list[str], which: str) -> float:
    return outcomes.count(which) / len(outcomes)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("move", MOVES)
def test_a_player_who_always_throws_the_same_loses_over_80_percent_after_ten_rounds(seed, move):
    outcomes = play(Strategy(random.Random(seed)), lambda past: move, 400)
    assert share(outcomes[10:], LOSS) > 0.8


def test_a_uniformly_random_player_still_wins_about_a_third():
    player_rng = random.Random(7)
    outcomes = play(Strategy(random.Random(8)), lambda past: player_rng.choice(MOVES), 3000)
    # 3000 rounds: the standard deviation of a share is 0.0086; 0.30..0.37 is about 4 of them
    assert 0.30 < share(outcomes, WIN) < 0.37
    assert 0.30 < share(outcomes, LOSS) < 0.37


def test_a_cycling_player_is_found_out():
    cycle = ["rock", "paper", "scissors"]
    outcomes = play(Strategy(random.Random(4)), lambda past: cycle[len(past) % 3], 600)
    assert share(outcomes[20:], LOSS) > 0.7


def test_a_player_who_changes_after_a_loss_and_stays_after_a_win_is_found_out():
    def win_stay_lose_shift(past):
        if not past:
            return "rock"
        move, outcome = past[-1]
        return move if outcome == WIN else beaten_by(move)

    outcomes = play(Strategy(random.Random(5)), win_stay_lose_shift, 600)
    assert share(outcomes[20:], LOSS) > 0.6


def test_earlier_games_count_from_the_first_round():
    """Remembered rounds of earlier games: no learning period in the next game."""
    memory = [("scissors", LOSS)] * 50
    strategy = Strategy(random.Random(9))
    first_moves = [strategy.choose(memory) for _ in range(200)]
    assert first_moves.count("rock") / 200 > 0.85


def test_with_no_past_the_first_move_is_random():
    strategy = Strategy(random.Random(11))
    counts = {move: 0 for move in MOVES}
    for _ in range(900):
        counts[strategy.choose([])] += 1
    assert all(250 < count < 350 for count in counts.values()), counts


def copycat(past):
    """A client that runs the computer's public code on its own history (a Strategy of its
    own, its own randomness: 7 tries) and throws what beats the move it expects most
    (issue 21, item 16)."""
    copy = Strategy(random.Random(len(past)))
    tries = [copy.choose(past) for _ in range(7)]
    return beaten_by(max(MOVES, key=tries.count))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_copying_the_code_does_not_predict_the_computers_moves(seed):
    """Before, the computer played its best guess nine rounds in ten, and a client running the
    same code with its own history won 85-96 % of the rounds. Only the odds are public now."""
    outcomes = play(Strategy(random.Random(seed)), copycat, 600)
    assert share(outcomes, WIN) < 0.42, share(outcomes, WIN)
    assert share(outcomes, WIN) - share(outcomes, LOSS) < 0.1


def test_the_odds_are_even_while_the_computer_is_not_winning():
    even = {move: pytest.approx(1 / 3) for move in MOVES}
    assert Strategy().odds([]) == even
    assert Strategy().odds([("rock", WIN)] * 5 + [("rock", LOSS)] * 2) == even
    assert Strategy().odds([("rock", LOSS)] * 10)["paper"] > 0.9  # always rock: paper


def test_rounds_of_leaves_out_the_rounds_a_player_let_time_out():
    rounds = [
        {"round": 1, "moves": {"Ada": "rock", "Computer": "paper"}, "winner": "Computer"},
        {"round": 2, "moves": {"Ada": None, "Computer": "rock"}, "winner": "Computer"},
        {"round": 3, "moves": {"Ada": "paper", "Computer": "rock"}, "winner": "Ada"},
        {"round": 4, "moves": {"Ada": "rock", "Computer": "rock"}, "winner": None},
    ]
    assert rounds_of("Ada", rounds) == [("rock", LOSS), ("paper", WIN), ("rock", DRAW)]

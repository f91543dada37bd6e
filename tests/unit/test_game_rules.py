import pytest
from hypothesis import given
from hypothesis import strategies as st

from rpschat.domain.errors import Refused
from rpschat.domain.game.rules import (
    DEFAULT_BEST_OF,
    MOVES,
    PAPER,
    ROCK,
    SCISSORS,
    VALID_BEST_OF,
    beats,
    parse_best_of,
    parse_move,
    round_winner,
    validate_best_of,
    wins_needed,
)

moves = st.sampled_from(MOVES)


def test_the_classic_outcomes():
    assert beats(ROCK, SCISSORS)
    assert beats(SCISSORS, PAPER)
    assert beats(PAPER, ROCK)
    assert not beats(SCISSORS, ROCK)
    assert round_winner(ROCK, PAPER) == "b"
    assert round_winner(SCISSORS, PAPER) == "a"
    assert round_winner(PAPER, PAPER) is None


@pytest.mark.parametrize("move", MOVES)
def test_each_move_beats_exactly_one_and_loses_to_exactly_one(move):
    beaten = [other for other in MOVES if beats(move, other)]
    beaten_by = [other for other in MOVES if beats(other, move)]
    assert len(beaten) == 1
    assert len(beaten_by) == 1
    assert beaten != beaten_by
    assert move not in beaten + beaten_by
    assert not beats(move, move)


def test_following_beats_cycles_through_all_three_moves():
    seen = [ROCK]
    for _ in range(3):
        (beaten,) = [other for other in MOVES if beats(seen[-1], other)]
        seen.append(beaten)
    assert seen[-1] == ROCK
    assert set(seen) == set(MOVES)


@given(moves, moves)
def test_round_winner_is_antisymmetric(a, b):
    swapped = {"a": "b", "b": "a", None: None}
    assert round_winner(b, a) == swapped[round_winner(a, b)]
    assert (round_winner(a, b) is None) == (a == b)
    assert (round_winner(a, b) == "a") == beats(a, b)


@pytest.mark.parametrize(("best_of", "needed"), [(1, 1), (3, 2), (5, 3)])
def test_wins_needed_is_a_majority(best_of, needed):
    assert wins_needed(best_of) == needed
    assert needed > best_of - needed


def test_constants():
    assert VALID_BEST_OF == (1, 3, 5)
    assert DEFAULT_BEST_OF == 3


@pytest.mark.parametrize("raw", ["rock", "Rock", "  PAPER ", "scissors\n"])
def test_parse_move_normalises(raw):
    assert parse_move(raw) == raw.strip().lower()


def test_parse_move_refuses_unknown_moves_with_a_clear_reason():
    with pytest.raises(Refused) as refused:
        parse_move("lizard")
    assert refused.value.reason == "Unknown move 'lizard': choose rock, paper or scissors."


def test_parse_move_does_not_echo_huge_input():
    with pytest.raises(Refused) as refused:
        parse_move("x" * 10_000)
    assert len(refused.value.reason) < 100


@pytest.mark.parametrize("raw", [None, 1, ["rock"], {"move": "rock"}, b"rock", ""])
def test_parse_move_refuses_non_moves(raw):
    with pytest.raises(Refused):
        parse_move(raw)


@given(st.text())
def test_parse_move_accepts_only_the_three_moves(raw):
    try:
        move = parse_move(raw)
    except Refused as refused:
        assert refused.reason
        assert raw.strip().lower() not in MOVES
    else:
        assert move in MOVES


@pytest.mark.parametrize("best_of", VALID_BEST_OF)
def test_valid_best_of_accepted(best_of):
    assert validate_best_of(best_of) == best_of
    assert parse_best_of(best_of) == best_of
    assert parse_best_of(f" {best_of} ") == best_of
    assert parse_best_of(f"000{best_of}") == best_of


def test_a_best_of_of_thousands_of_digits_is_refused_not_a_failure():
    with pytest.raises(Refused) as refused:  # int() would raise ValueError past 4300 digits
        parse_best_of("3" * 5000)
    assert refused.value.reason == "best_of must be 1, 3 or 5."


@pytest.mark.parametrize(
    "bad", [True, False, 0, 2, 4, 7, -1, 3.0, "3.0", "three", "", [3], "٣", "103", "0"]
)
def test_bad_best_of_refused(bad):
    with pytest.raises(Refused) as refused:
        parse_best_of(bad)
    assert refused.value.reason == "best_of must be 1, 3 or 5."


def test_bool_is_not_a_best_of_even_though_it_is_an_int():
    for flag in (True, False):
        with pytest.raises(Refused):
            validate_best_of(flag)
        with pytest.raises(Refused):
            wins_needed(flag)


def test_missing_best_of_uses_the_default():
    assert parse_best_of(None) == DEFAULT_BEST_OF
    assert parse_best_of(None, default=5) == 5

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpschat.domain.errors import Refused
from rpschat.domain.game.match import GameOver, Match, ThrowOutcome
from rpschat.domain.game.rules import MOVES, VALID_BEST_OF, round_winner, wins_needed

ANN, BOB, EVE = "ann", "bob", "eve"  # eve is never a player
ROUND_SECONDS = 10.0
T0 = 1000.0


def new_match(best_of: int = 3) -> Match:
    return Match.start("g1", ANN, BOB, best_of, now=T0, round_seconds=ROUND_SECONDS)


def refusal(action) -> str:
    with pytest.raises(Refused) as refused:
        action()
    return refused.value.reason


def json_round_trip(match: Match) -> Match:
    return Match.from_dict(json.loads(json.dumps(match.to_dict())))


# ----------------------------------------------------------------- examples


def test_start_state():
    match = new_match()
    assert match.players == (ANN, BOB)
    assert match.round == 1
    assert match.score == {ANN: 0, BOB: 0}
    assert match.status == "playing"
    assert match.round_deadline == T0 + ROUND_SECONDS
    assert match.winner is None and match.reason is None


def test_start_refuses_bad_input():
    assert refusal(lambda: Match.start("g", ANN, ANN, 3, T0, 5)) == (
        "You cannot play against yourself."
    )
    assert refusal(lambda: Match.start("g", ANN, BOB, 2, T0, 5)) == "best_of must be 1, 3 or 5."
    assert refusal(lambda: Match.start("g", ANN, BOB, True, T0, 5)) == "best_of must be 1, 3 or 5."
    with pytest.raises(ValueError):
        Match.start("g", ANN, BOB, 3, T0, 0)


def test_first_throw_is_hidden_second_resolves_the_round():
    match = new_match()
    outcome = match.throw(ANN, "rock", T0 + 1)
    assert outcome == ThrowOutcome(round_completed=False)
    view = match.public_view()
    assert view["thrown"] == {ANN: True, BOB: False}
    assert "rock" not in json.dumps(view)

    outcome = match.throw(BOB, "Scissors", T0 + 2)
    assert outcome.round_completed
    assert outcome.game_over is None
    result = outcome.round_result
    assert result.round == 1
    assert result.moves == {ANN: "rock", BOB: "scissors"}
    assert result.winner == ANN
    assert result.score == {ANN: 1, BOB: 0}
    assert result.timeout is False
    assert match.round == 2
    assert match.round_deadline == T0 + 2 + ROUND_SECONDS
    assert match.public_view()["thrown"] == {ANN: False, BOB: False}


def test_draws_add_rounds_but_no_points():
    match = new_match(best_of=1)
    for i in range(4):
        match.throw(ANN, "paper", T0 + i)
        outcome = match.throw(BOB, "paper", T0 + i)
        assert outcome.round_result.winner is None
    assert match.round == 5
    assert match.score == {ANN: 0, BOB: 0}
    assert not match.is_over
    match.throw(ANN, "paper", T0 + 5)
    outcome = match.throw(BOB, "scissors", T0 + 5)
    assert outcome.game_over == GameOver("g1", BOB, {ANN: 0, BOB: 1}, "won")
    assert match.round == 5  # the deciding round stays the current one
    assert len(match.history) == 5


def test_best_of_three_ends_at_two_wins():
    match = new_match(best_of=3)
    match.throw(ANN, "rock", T0)
    assert match.throw(BOB, "scissors", T0).game_over is None
    match.throw(ANN, "rock", T0)
    assert match.throw(BOB, "paper", T0).game_over is None
    match.throw(BOB, "rock", T0)
    outcome = match.throw(ANN, "paper", T0)
    assert outcome.game_over.winner == ANN
    assert outcome.game_over.reason == "won"
    assert match.score == {ANN: 2, BOB: 1}
    assert (match.status, match.winner, match.reason) == ("over", ANN, "won")
    assert match.round_deadline is None


def test_throw_refusals():
    match = new_match()
    assert refusal(lambda: match.throw(EVE, "rock", T0)) == "You are not playing in this game."
    assert refusal(lambda: match.throw(ANN, "lizard", T0)) == (
        "Unknown move 'lizard': choose rock, paper or scissors."
    )
    match.throw(ANN, "rock", T0)
    assert refusal(lambda: match.throw(ANN, "paper", T0)) == "You already threw this round."
    assert refusal(lambda: match.throw(BOB, "paper", T0 + ROUND_SECONDS)) == (
        "Time is up for this round."
    )
    match.forfeit(BOB, "forfeit")
    assert refusal(lambda: match.throw(ANN, "rock", T0)) == "This game is over."
    assert refusal(lambda: match.forfeit(ANN, "forfeit")) == "This game is over."


def test_a_player_sees_their_own_pending_move_and_the_time_left():
    match = new_match()
    match.throw(ANN, "rock", T0 + 1)
    assert (match.move_of(ANN), match.move_of(BOB)) == ("rock", None)
    assert match.time_left(T0 + 4) == ROUND_SECONDS - 4
    assert match.time_left(T0 + 99) == 0
    match.forfeit(BOB, "disconnect")
    assert match.time_left(T0 + 4) == 0


def test_expiry_before_the_deadline_does_nothing():
    match = new_match()
    before = match.to_dict()
    assert match.expire_round(T0 + ROUND_SECONDS - 0.001) is None
    assert match.to_dict() == before


def test_expiry_gives_the_round_to_the_only_thrower_and_is_idempotent():
    match = new_match()
    match.throw(BOB, "paper", T0 + 1)
    outcome = match.expire_round(T0 + ROUND_SECONDS + 3)  # the timer fired late
    assert outcome.round_completed
    assert outcome.round_result.moves == {ANN: None, BOB: "paper"}
    assert outcome.round_result.winner == BOB
    assert outcome.round_result.timeout is True
    assert match.round == 2
    # The next round gets its full time from when the timer actually fired.
    assert match.round_deadline == T0 + 2 * ROUND_SECONDS + 3
    assert match.expire_round(T0 + ROUND_SECONDS + 3) is None  # the same timer, twice


def test_expiry_with_nobody_throwing_abandons_the_match():
    match = new_match()
    outcome = match.expire_round(T0 + ROUND_SECONDS)
    assert outcome.game_over == GameOver("g1", None, {ANN: 0, BOB: 0}, "abandoned")
    assert (match.status, match.winner, match.reason) == ("over", None, "abandoned")
    assert match.expire_round(T0 + 100) is None


def test_a_timeout_at_match_point_wins_the_match_with_reason_timeout():
    match = new_match(best_of=1)
    match.throw(ANN, "rock", T0)
    outcome = match.expire_round(T0 + ROUND_SECONDS)
    assert outcome.game_over == GameOver("g1", ANN, {ANN: 1, BOB: 0}, "timeout")
    assert match.reason == "timeout"


@pytest.mark.parametrize("reason", ["forfeit", "disconnect"])
def test_forfeit_gives_the_match_to_the_other_player(reason):
    match = new_match()
    match.throw(ANN, "rock", T0)
    match.throw(BOB, "rock", T0)  # round 1 played (a draw)
    match.throw(ANN, "paper", T0)
    over = match.forfeit(ANN, reason)
    assert over == GameOver("g1", BOB, {ANN: 0, BOB: 0}, reason)
    assert (match.winner, match.reason) == (BOB, reason)
    assert "paper" not in json.dumps(match.to_dict())  # the unresolved move is dropped


def test_leaving_before_any_round_was_played_aborts_the_match():
    """Issue 23: leaving right after a (re)match began gave the other "won 0-0 by forfeit"."""
    match = new_match()
    match.throw(BOB, "paper", T0)
    over = match.forfeit(ANN, "forfeit")
    assert over == GameOver("g1", None, {ANN: 0, BOB: 0}, "aborted")
    assert (match.winner, match.reason, match.is_over) == (None, "aborted", True)
    dropped = new_match()  # losing the connection for good still loses the match
    assert dropped.forfeit(ANN, "disconnect") == GameOver("g1", BOB, {ANN: 0, BOB: 0}, "disconnect")


def test_forfeit_refusals():
    match = new_match()
    assert refusal(lambda: match.forfeit(EVE, "forfeit")) == "You are not playing in this game."
    with pytest.raises(ValueError):
        match.forfeit(ANN, "bored")


def test_dict_shapes():
    match = new_match()
    match.throw(ANN, "rock", T0)
    assert match.to_dict() == {
        "game_id": "g1",
        "players": [ANN, BOB],
        "best_of": 3,
        "round_seconds": ROUND_SECONDS,
        "round": 1,
        "moves": {ANN: "rock"},
        "score": {ANN: 0, BOB: 0},
        "status": "playing",
        "winner": None,
        "reason": None,
        "round_deadline": T0 + ROUND_SECONDS,
        "history": [],
        "names": {},
        "left": [],
        "computer": False,
        "computer_memory": [],
    }
    assert match.public_view() == {
        "game_id": "g1",
        "players": [ANN, BOB],
        "best_of": 3,
        "wins_needed": 2,
        "round": 1,
        "score": {ANN: 0, BOB: 0},
        "thrown": {ANN: True, BOB: False},
        "status": "playing",
        "winner": None,
        "reason": None,
        "round_deadline": T0 + ROUND_SECONDS,
        "history": [],
        "computer": False,
    }
    outcome = match.throw(BOB, "paper", T0)
    assert outcome.round_completed and outcome.game_over is None
    assert outcome.round_result is not None
    assert outcome.round_result.to_dict() == {
        "game_id": "g1",
        "round": 1,
        "moves": {ANN: "rock", BOB: "paper"},
        "winner": BOB,
        "score": {ANN: 0, BOB: 1},
        "timeout": False,
    }
    assert json_round_trip(match) == match


# ----------------------------------------------------------------- properties

# Kinds weighted so that most generated games play several rounds before a forfeit ends them.
ACTION_KINDS = ["throw"] * 24 + ["wait"] * 4 + ["expire"] * 3 + ["forfeit"]


@st.composite
def actions(draw: st.DrawFn) -> tuple:
    kind = draw(st.sampled_from(ACTION_KINDS))
    player = draw(st.sampled_from([ANN, BOB, ANN, BOB, EVE]))
    if kind == "throw":
        return (kind, player, draw(st.sampled_from([*MOVES, *MOVES, "lizard", "ROCK"])))
    if kind == "wait":
        return (kind, draw(st.floats(0, ROUND_SECONDS * 1.2)))
    if kind == "forfeit":
        return (kind, player, draw(st.sampled_from(["forfeit", "disconnect"])))
    return (kind,)


def check_invariants(match: Match) -> None:
    needed = wins_needed(match.best_of)
    scores = match.score
    assert set(scores) == set(match.players)
    assert all(0 <= wins <= needed for wins in scores.values())
    someone_reached = max(scores.values()) == needed
    assert match.is_over == (
        someone_reached or match.reason in ("forfeit", "disconnect", "abandoned", "aborted")
    )
    if match.reason in ("won", "timeout"):
        assert scores[match.winner] == needed
        assert match.history[-1].winner == match.winner
        assert match.history[-1].timeout == (match.reason == "timeout")
    decided = [result for result in match.history if result.winner is not None]
    assert sum(scores.values()) == len(decided)
    assert [result.round for result in match.history] == list(range(1, len(match.history) + 1))
    if match.history:
        assert match.history[-1].score == scores
    if match.is_over:
        assert match.round_deadline is None and match.moves == {}
        assert match.reason is not None
        assert (match.winner is None) == (match.reason in ("abandoned", "aborted"))
    else:
        assert match.round == len(match.history) + 1
        assert match.round_deadline is not None
        assert match.winner is None and match.reason is None
    check_public_view_hides_moves(match)
    assert json_round_trip(match) == match


def check_public_view_hides_moves(match: Match) -> None:
    view = match.public_view()
    assert view["thrown"] == {player: player in match.moves for player in match.players}
    pending_part = {key: value for key, value in view.items() if key != "history"}
    text = json.dumps(pending_part)
    assert not any(move in text for move in MOVES)  # player names never contain a move name
    assert view["history"] == [match.wire_round(result) for result in match.history]


def apply(match: Match, action: tuple, now: float) -> None:
    """Perform one action and check that its visible effect is exactly the expected one."""
    before = match.to_dict()
    kind = action[0]
    if kind == "throw":
        _, player, move = action
        apply_throw(match, player, move, now, before)
    elif kind == "expire":
        apply_expire(match, now, before)
    elif kind == "forfeit":
        _, player, reason = action
        if match.is_over or player not in match.players:
            with pytest.raises(Refused):
                match.forfeit(player, reason)
            assert match.to_dict() == before
        else:
            played = bool(match.history)
            over = match.forfeit(player, reason)
            if reason == "forfeit" and not played:  # left before any round: aborted
                assert over.winner is None and over.reason == "aborted"
            else:
                assert over.winner == match.opponent_of(player) and over.reason == reason


def apply_throw(match: Match, player: str, move: str, now: float, before: dict) -> None:
    must_refuse = (
        match.is_over
        or player not in match.players
        or match.has_thrown(player)
        or now >= match.round_deadline
        or move.lower() not in MOVES
    )
    if must_refuse:
        with pytest.raises(Refused):
            match.throw(player, move, now)
        assert match.to_dict() == before
        return
    other_move = match.moves.get(match.opponent_of(player))
    outcome = match.throw(player, move, now)
    if other_move is None:
        assert not outcome.round_completed and outcome.round_result is None
        assert match.round == before["round"]
        return
    result = outcome.round_result
    assert outcome.round_completed and result.round == before["round"]
    assert result.moves == {player: move.lower(), match.opponent_of(player): other_move}
    a, b = match.players
    side = round_winner(result.moves[a], result.moves[b])
    assert result.winner == {"a": a, "b": b, None: None}[side]
    assert (outcome.game_over is not None) == match.is_over


def apply_expire(match: Match, now: float, before: dict) -> None:
    outcome = match.expire_round(now)
    if before["status"] == "over" or now < before["round_deadline"]:
        assert outcome is None
        assert match.to_dict() == before
        return
    throwers = list(before["moves"])
    if not throwers:
        assert outcome.game_over.reason == "abandoned"
        return
    assert outcome.round_result.winner == throwers[0]
    assert outcome.round_result.timeout is True
    if outcome.game_over is not None:
        assert outcome.game_over.reason == "timeout"
    assert match.expire_round(now) is None  # a second firing of the same timer is harmless


@settings(max_examples=120, deadline=None)
@given(st.sampled_from(VALID_BEST_OF), st.lists(actions(), min_size=20, max_size=60))
def test_any_sequence_of_actions_keeps_the_match_consistent(best_of, action_list):
    match = new_match(best_of)
    now = T0
    check_invariants(match)
    for action in action_list:
        if action[0] == "wait":
            now += action[1]
            continue
        was_over = match.is_over
        apply(match, action, now)
        check_invariants(match)
        if was_over:
            assert match.is_over


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(VALID_BEST_OF),
    st.lists(st.tuples(st.sampled_from(MOVES), st.sampled_from(MOVES))),
)
def test_a_match_ends_exactly_when_someone_reaches_the_needed_wins(best_of, rounds):
    match = new_match(best_of)
    needed = wins_needed(best_of)
    for move_a, move_b in rounds:
        if match.is_over:
            assert refusal(lambda m=move_a: match.throw(ANN, m, T0)) == "This game is over."
            continue
        match.throw(ANN, move_a, T0)
        outcome = match.throw(BOB, move_b, T0)
        reached = max(match.score.values()) == needed
        assert (outcome.game_over is not None) == reached
        if reached:
            assert outcome.game_over.winner == max(match.score, key=match.score.get)
    check_invariants(match)


def test_membership_follows_the_user_who_played_and_ends_when_they_leave():
    match = Match.start("g1", "u1", "u2", 3, T0, ROUND_SECONDS, names={"u1": ANN, "u2": BOB})
    assert match.is_member("u1") and match.is_member("u2")
    assert not match.is_member(ANN)  # a name is no seat: another user may hold it since
    match.left.append("u1")
    assert not match.is_member("u1") and match.is_member("u2")
    assert json_round_trip(match).is_member("u2")
    assert not json_round_trip(match).is_member("u1")


def test_players_are_user_ids_inside_and_names_on_the_wire():
    match = Match.start("g1", "u1", "u2", 1, T0, ROUND_SECONDS, names={"u1": ANN, "u2": BOB})
    match.throw("u1", "rock", T0)
    outcome = match.throw("u2", "scissors", T0)
    assert outcome.round_result is not None and outcome.game_over is not None
    assert outcome.round_result.to_dict()["moves"] == {"u1": "rock", "u2": "scissors"}
    assert outcome.game_over.winner == "u1"
    snapshot = match.to_dict()  # what another node rebuilds the game from: ids only
    assert snapshot["players"] == ["u1", "u2"] and snapshot["score"] == {"u1": 1, "u2": 0}
    assert snapshot["winner"] == "u1" and snapshot["names"] == {"u1": ANN, "u2": BOB}
    assert match.wire_round(outcome.round_result) == {
        "game_id": "g1",
        "round": 1,
        "moves": {ANN: "rock", BOB: "scissors"},
        "winner": ANN,
        "score": {ANN: 1, BOB: 0},
        "timeout": False,
    }
    assert match.wire_over(outcome.game_over) == {
        "game_id": "g1",
        "winner": ANN,
        "score": {ANN: 1, BOB: 0},
        "reason": "won",
    }
    view = json_round_trip(match).public_view()
    assert view["players"] == [ANN, BOB] and view["winner"] == ANN
    assert view["score"] == {ANN: 1, BOB: 0} and view["thrown"] == {ANN: False, BOB: False}
    assert match.player_named(BOB) == "u2" and match.player_named(EVE) is None

"""Glicko-2 against Glickman's worked example, and the rules built on it."""

import pytest

from rpschat.domain.game.glicko import (
    SCALE,
    Glicko,
    deviation_after,
    is_provisional,
    rate,
)


def test_glickmans_worked_example_to_two_decimals():
    """ "Example of the Glicko-2 system": 1500 / 200 / 0.06 against 1400 / 30, 1550 / 100 and
    1700 / 300, scoring 1, 0, 0, tau 0.5: r' = 1464.06, RD' = 151.52, sigma' = 0.05999."""
    player = Glicko(1500, 200, 0.06)
    games = [(Glicko(1400, 30), 1.0), (Glicko(1550, 100), 0.0), (Glicko(1700, 300), 0.0)]
    after = rate(player, games, tau=0.5, bounded=False)
    assert after.rating == pytest.approx(1464.06, abs=0.01)
    assert after.deviation == pytest.approx(151.52, abs=0.01)
    assert after.volatility == pytest.approx(0.05999, abs=0.00001)
    # the paper's intermediate figures on the Glicko-2 scale: mu' = -0.2069, phi' = 0.8722
    assert (after.rating - 1500) / SCALE == pytest.approx(-0.2069, abs=0.00005)
    assert after.deviation / SCALE == pytest.approx(0.8722, abs=0.00005)


def test_a_player_who_did_not_play_only_grows_uncertain():
    after = rate(Glicko(1500, 200, 0.06), [], tau=0.5, bounded=False)
    assert after.rating == 1500
    assert after.deviation == pytest.approx(200.27, abs=0.01)  # the paper: phi* = 1.1527


def test_a_newcomer_moves_far_and_an_established_player_little():
    newcomer, established = Glicko(), Glicko(1500, 60, 0.06)
    gained = rate(newcomer, [(established, 1.0)]).rating - 1500
    lost = 1500 - rate(established, [(newcomer, 0.0)]).rating
    assert gained > 150 and 0 < lost < 10
    assert rate(established, [(newcomer, 0.5)]).rating == pytest.approx(1500)


def test_bounds_keep_the_deviation_at_least_45_and_the_volatility_at_most_0_1():
    settled = Glicko(1500, 45.2, 0.0001)
    assert rate(settled, [(Glicko(1500, 45), 0.5)], bounded=False).deviation < 45
    assert rate(settled, [(Glicko(1500, 45), 0.5)]).deviation == 45
    erratic = Glicko(1500, 60, 0.2)
    assert rate(erratic, [(Glicko(1500, 45), 1.0)]).volatility == 0.1


def test_provisional_above_110():
    assert Glicko().provisional and is_provisional(110.01)
    assert not is_provisional(110) and not Glicko(1500, 60).provisional


def test_a_migrated_deviation_falls_with_the_games_played():
    assert deviation_after(0) == 350
    figures = [deviation_after(n) for n in (1, 5, 10, 12, 50, 1000)]
    assert figures == sorted(figures, reverse=True)
    assert is_provisional(deviation_after(10)) and not is_provisional(deviation_after(12))
    assert deviation_after(1000) == 45


def test_an_idle_rating_grows_uncertain_day_by_day():
    from rpschat.domain.game.glicko import aged

    settled = Glicko(1700, 45, 0.06)
    assert aged(settled, 0) == settled
    month, year = aged(settled, 30), aged(settled, 365)
    assert month.rating == 1700 and 70 < month.deviation < 76
    assert not month.provisional and year.provisional
    assert aged(settled, 100_000).deviation == 350


def test_a_rated_game_after_a_break_starts_from_the_aged_deviation():
    from rpschat.domain.game.match import GameResult
    from rpschat.domain.game.standings import apply_result, new_row

    day = 86_400_000
    rows = {
        "ada": new_row("Ada", "u1") | {"rating": 1700.0, "deviation": 45.0, "rated_at": 0},
        "bea": new_row("Bea", "u2") | {"rating": 1700.0, "deviation": 45.0, "rated_at": 0},
    }
    result = GameResult("Ada", "Bea", ("Ada", "Bea"), "won", 1, {}, "g1",
                        user_ids={"Ada": "u1", "Bea": "u2"})  # fmt: skip
    changes = apply_result(rows, result, {"u1", "u2"}, True, now_ms=365 * day)
    before, after = changes["Ada"]
    assert before.deviation > 110  # a year idle: provisional again, so the game moves it far
    assert after.rating - 1700 > 50 and rows["ada"]["rated_at"] == 365 * day
    fresh = {k: v | {"rated_at": 365 * day} for k, v in rows.items()}
    moved = apply_result(
        fresh,
        GameResult(
            "Ada", "Bea", ("Ada", "Bea"), "won", 1, {}, "g2", user_ids={"Ada": "u1", "Bea": "u2"}
        ),
        {"u1", "u2"},
        True,
        365 * day,
    )
    assert moved["Ada"][0].deviation == rows["ada"]["deviation"]  # no time passed: no aging

"""Glicko-2 ratings, from Mark Glickman's "Example of the Glicko-2 system" (2012), step by step.

A rating is (rating, deviation, volatility) on the Glicko scale (1500 / 350 / 0.06 to start).
Each finished rated game is one rating period with one opponent, as lichess rates (every game
at once, not in monthly batches). The worked example of the paper (1500 / 200 / 0.06 against
1400 / 30, 1550 / 100 and 1700 / 300, scoring 1, 0, 0, tau 0.5: 1464.06 / 151.52 / 0.05999)
is tests/unit/test_glicko.py.

The PyPI `glicko2` package (2.1.0, January 2024) was not taken: untyped, one rating period per
call with list arguments, and no lower bound on the deviation; the algorithm is fifty lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCALE = 173.7178  # the paper's step 2: Glicko-2's mu = (r - 1500) / 173.7178
START_RATING = 1500.0
START_DEVIATION = 350.0
START_VOLATILITY = 0.06
# lichess's system constant and bounds: tau 0.75, a deviation kept within 45..350 (so that an
# old established rating still moves), a volatility at most 0.1
TAU = 0.75
MIN_DEVIATION = 45.0
MAX_VOLATILITY = 0.1
PROVISIONAL_DEVIATION = 110.0  # lichess: a rating is provisional while its deviation is above
EPSILON = 0.000001  # the paper's convergence tolerance for the volatility (step 5)


@dataclass(frozen=True)
class Glicko:
    rating: float = START_RATING
    deviation: float = START_DEVIATION
    volatility: float = START_VOLATILITY

    @property
    def provisional(self) -> bool:
        return is_provisional(self.deviation)


def is_provisional(deviation: float) -> bool:
    return deviation > PROVISIONAL_DEVIATION


def _g(phi: float) -> float:
    return 1 / math.sqrt(1 + 3 * phi * phi / (math.pi * math.pi))


def _e(mu: float, mu_j: float, phi_j: float) -> float:
    return 1 / (1 + math.exp(-_g(phi_j) * (mu - mu_j)))


def rate(
    player: Glicko,
    games: list[tuple[Glicko, float]],
    tau: float = TAU,
    bounded: bool = True,
) -> Glicko:
    """The player's rating after one rating period of `games` (opponent, score: 1 a win, 0.5 a
    draw, 0 a loss). `bounded`: lichess's bounds on the deviation and volatility (off for the
    paper's example)."""
    mu = (player.rating - START_RATING) / SCALE
    phi = player.deviation / SCALE
    sigma = player.volatility
    if not games:  # the paper's step 6 alone: the deviation grows
        phi_idle = math.sqrt(phi * phi + sigma * sigma)
        return _bounded(Glicko(player.rating, phi_idle * SCALE, sigma), bounded)
    # step 3 and 4: the estimated variance v and improvement delta
    inverse_v = 0.0
    improvement = 0.0
    for opponent, score in games:
        mu_j = (opponent.rating - START_RATING) / SCALE
        phi_j = opponent.deviation / SCALE
        expected = _e(mu, mu_j, phi_j)
        inverse_v += _g(phi_j) ** 2 * expected * (1 - expected)
        improvement += _g(phi_j) * (score - expected)
    v = 1 / inverse_v
    delta = v * improvement
    sigma_new = _volatility(delta, phi, v, sigma, tau)
    # steps 6 to 8
    phi_star = math.sqrt(phi * phi + sigma_new * sigma_new)
    phi_new = 1 / math.sqrt(1 / (phi_star * phi_star) + 1 / v)
    mu_new = mu + phi_new * phi_new * improvement
    return _bounded(Glicko(mu_new * SCALE + START_RATING, phi_new * SCALE, sigma_new), bounded)


def _volatility(delta: float, phi: float, v: float, sigma: float, tau: float) -> float:
    """Step 5: the new volatility, by the Illinois algorithm."""
    a = math.log(sigma * sigma)

    def f(x: float) -> float:
        ex = math.exp(x)
        top = ex * (delta * delta - phi * phi - v - ex)
        bottom = 2 * (phi * phi + v + ex) ** 2
        return top / bottom - (x - a) / (tau * tau)

    big_a = a
    if delta * delta > phi * phi + v:
        big_b = math.log(delta * delta - phi * phi - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > EPSILON:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2)


def _bounded(rating: Glicko, bounded: bool) -> Glicko:
    if not bounded:
        return rating
    deviation = min(max(rating.deviation, MIN_DEVIATION), START_DEVIATION)
    return Glicko(rating.rating, deviation, min(rating.volatility, MAX_VOLATILITY))


def aged(rating: Glicko, days: float) -> Glicko:
    """The rating after `days` without a rated game: the paper's step 6 once per day (each day
    a rating period in which the player did not compete), its deviation growing with its
    volatility, to 350 at most. 45 grows to about 73 in a month, to provisional again (above
    110) in about four months."""
    if days <= 0:
        return rating
    phi = rating.deviation / SCALE
    grown = math.sqrt(phi * phi + days * rating.volatility * rating.volatility) * SCALE
    return Glicko(rating.rating, min(grown, START_DEVIATION), rating.volatility)


def deviation_after(games: int) -> float:
    """A deviation for a rating that `games` games made (the Elo ratings before Glicko-2):
    what Glicko-2 gives a player who started at 350 and played that many games against
    established opponents of an equal rating (each adds about 0.2 to 1 / phi squared: g(phi)
    squared times E(1 - E) with E near 1/2), within 45..350. 10 games: 116, provisional still;
    12: 107."""
    phi0 = START_DEVIATION / SCALE
    phi = 1 / math.sqrt(1 / (phi0 * phi0) + 0.2 * max(games, 0))
    return min(max(phi * SCALE, MIN_DEVIATION), START_DEVIATION)

"""Finished games kept for good and the players behind them: every game's record (its page
/game/<id> and `game_record`) and a claimed name's profile (/u/<name> and `profile`).

Read from the results store (game/ports.py's ResultsStore: the games it counted, people's and
the computer's, with their rounds and the ratings before and after); pure shaping here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.callers import player_calling
from rpschat.domain.game.computer import COMPUTER
from rpschat.domain.game.context import NO_SUCH_GAME
from rpschat.domain.game.fairness import verified
from rpschat.domain.game.glicko import is_provisional
from rpschat.domain.game.ports import ResultsStore, Standing, StoredGame
from rpschat.domain.game.rules import MOVES
from rpschat.domain.ports import AccountStore, Callers, Limits

PROFILE_GAMES = 200  # the games a profile's streaks and favourite throws are computed over
PROFILE_LAST_GAMES = 10  # the games a profile lists
NO_SUCH_PLAYER = "No claimed name '{name}': profiles are for claimed names."


class NameKeys(Protocol):
    def key(self, name: str) -> str: ...


def public_game(game: StoredGame) -> dict[str, Any]:
    """A finished game for anyone (`game_record`, its page): no user ids. Against the computer
    each round says whether its move opens the commitment sent before it (`verified`)."""
    players = list(game["players"])
    rounds = []
    for entry in game["rounds"]:
        entry = dict(entry)
        if "commit" in entry:
            move = (entry.get("moves") or {}).get(COMPUTER)
            entry["verified"] = verified(entry["commit"], move, entry.get("salt"))
        rounds.append(entry)
    record: dict[str, Any] = {
        "game_id": game["game_id"],
        "players": players,
        "computer": bool(game["computer"]),
        "best_of": game["best_of"],
        "winner": game["winner"],
        "score": dict(game["score"]),
        "reason": game["reason"],
        "ended_at": game["ended_at"],
        "rounds": rounds,
    }
    ratings = game.get("ratings")
    record["rated"] = bool(ratings and ratings.get("rated"))
    record["ratings"] = {
        name: {"before": _shown(change["before"]), "after": _shown(change["after"])}
        for name, change in ((ratings or {}).get("players") or {}).items()
    }
    if record["computer"]:
        record["verified"] = bool(rounds) and all(r.get("verified") is True for r in rounds)
    return record


def _shown(rating: dict[str, float]) -> dict[str, Any]:
    return {
        "rating": round(rating["rating"]),
        "deviation": round(rating["deviation"]),
        "provisional": is_provisional(rating["deviation"]),
    }


def outcome_of(game: StoredGame, name: str) -> str:
    """ "won", "lost", "abandoned" or "drawn" for the player `name` of the game."""
    if game["winner"] is None:
        return "abandoned" if game["reason"] == "abandoned" else "drawn"
    return "won" if game["winner"] == name else "lost"


def _name_in(game: StoredGame, user_id: str) -> str | None:
    for name, user in game["user_ids"].items():
        if user == user_id:
            return str(name)
    return None


def profile_of(
    name: str, user_id: str, standing: Standing | None, games: list[StoredGame]
) -> dict[str, Any]:
    """The profile of the claimed `name` (its user `user_id`): `games` newest first."""
    standing = standing or {"rating": 1500, "deviation": 350, "provisional": True,
                            "wins": 0, "losses": 0, "draws": 0}  # fmt: skip
    outcomes = []  # oldest first: (game, the name played under, outcome)
    throws: Counter[str] = Counter()
    for game in reversed(games):
        played_as = _name_in(game, user_id)
        if played_as is None:
            continue
        outcomes.append((game, played_as, outcome_of(game, played_as)))
        for entry in game["rounds"]:
            move = (entry.get("moves") or {}).get(played_as)
            if move in MOVES:
                throws[move] += 1
    people = [outcome for game, _, outcome in outcomes if not game["computer"]]
    current = best = 0
    for outcome in people:
        current = current + 1 if outcome == "won" else 0
        best = max(best, current)
    thrown = sum(throws.values())
    last = [
        {
            "game_id": game["game_id"],
            "opponent": next((p for p in game["players"] if p != played_as), COMPUTER),
            "computer": bool(game["computer"]),
            "result": outcome,
            "score": dict(game["score"]),
            "reason": game["reason"],
            "ended_at": game["ended_at"],
        }
        for game, played_as, outcome in reversed(outcomes[-PROFILE_LAST_GAMES:])
    ]
    return {
        "name": name,
        "rating": standing["rating"],
        "deviation": standing["deviation"],
        "provisional": standing["provisional"],
        # games between people, all of them (the standings'): a match without a winner was
        # abandoned (neither player threw before a deadline); none ends drawn today
        "record": {
            "won": standing["wins"],
            "lost": standing["losses"],
            "drawn": 0,
            "abandoned": standing["draws"],
        },  # fmt: skip
        "streak": {"current": current, "best": best},
        "throws": {move: round(100 * throws[move] / thrown) if thrown else 0 for move in MOVES},
        "last_games": last,
        "games_counted": len(outcomes),
    }


class GameBook:
    """`game_record` and `profile`, for programs and for the pages."""

    def __init__(
        self,
        callers: Callers,
        limits: Limits,
        results: ResultsStore,
        accounts: AccountStore,
        names: NameKeys,
    ) -> None:
        self._callers = callers
        self._limits = limits
        self._results = results
        self._accounts = accounts
        self._names = names

    def _checked(self, sid: str) -> None:
        player_calling(self._callers, self._limits, sid)

    def check_game_record(self, sid: str, game_id: str) -> Callable[[], dict[str, Any]]:
        """Validate now; the slow part reads the database and refuses an unknown id."""
        self._checked(sid)

        def read() -> dict[str, Any]:
            game = self.game_record(game_id)
            if game is None:
                raise Refused(Code.NO_SUCH_GAME, NO_SUCH_GAME)
            return game

        return read

    def game_record(self, game_id: str) -> dict[str, Any] | None:
        game = self._results.game(game_id)
        return None if game is None else public_game(game)

    def check_profile(self, sid: str, name: str) -> Callable[[], dict[str, Any]]:
        self._checked(sid)

        def read() -> dict[str, Any]:
            found = self.profile(name)
            if found is None:
                raise Refused(Code.NO_SUCH_PLAYER, NO_SUCH_PLAYER.format(name=name))
            return found

        return read

    def profile(self, name: str) -> dict[str, Any] | None:
        """The profile of a claimed name (None: nobody claimed it)."""
        account = self._accounts.get(self._names.key(name))
        if account is None:
            return None
        standing = self._results.standing(account.name)
        if standing is not None and not standing.get("claimed"):
            standing = None  # the row of a guest who played under the name before the claim
        games = self._results.games_of(account.user_id, PROFILE_GAMES)
        return profile_of(account.name, account.user_id, standing, games)

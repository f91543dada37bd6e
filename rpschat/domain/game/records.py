"""Each player's finished games: what is kept of a game once it ends (`GameRecord`), the
`my_games` pages, and what the computer remembers of a player from them."""

from __future__ import annotations

from collections.abc import Callable

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.computer import MEMORY_ROUNDS, rounds_of
from rpschat.domain.game.context import GameContext, GamesPage, log
from rpschat.domain.game.match import GameOver, Match
from rpschat.domain.ports import GameRecord

MAX_GAMES_PAGE = 50
DEFAULT_GAMES_PAGE = 20
LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_GAMES_PAGE}."
# Earlier games read for the computer's memory of a player (their rounds, up to MEMORY_ROUNDS)
MEMORY_GAMES = 40


def records_of(match: Match, over: GameOver, ended_at: int) -> list[GameRecord]:
    """One record per person who played (the computer keeps none)."""
    rounds = [
        {"round": result.round, "moves": dict(result.moves), "winner": result.winner}
        for result in match.history
    ]
    records = []
    for player in match.humans():
        user_id = match.user_ids.get(player)
        if user_id is None:
            continue
        records.append(
            GameRecord(
                game_id=match.game_id,
                user_id=user_id,
                name=player,
                opponent=match.opponent_of(player),
                computer=match.computer,
                best_of=match.best_of,
                winner=over.winner,
                score=dict(over.score),
                rounds=rounds,
                reason=over.reason,
                ended_at=ended_at,
            )
        )
    return records


class GameRecords:
    def __init__(self, ctx: GameContext) -> None:
        self._ctx = ctx

    def check_my_games(
        self, sid: str, before: int | None, limit: int | None
    ) -> Callable[[], GamesPage]:
        """Validate now; the slow part reads the archive (the database). `before`: a record
        id, the page holds older ones."""
        ctx = self._ctx
        conn = ctx.caller(sid)
        limit = DEFAULT_GAMES_PAGE if limit is None else limit
        if not 1 <= limit <= MAX_GAMES_PAGE:
            raise Refused(Code.BAD_REQUEST, LIMIT_REFUSAL, field="limit")
        ctx.limit(conn, "other")
        user_id = conn.user_id
        return lambda: self._page(user_id, before, limit)

    def _page(self, user_id: str, before: int | None, limit: int) -> GamesPage:
        records, has_more = self._ctx.archive.page(user_id, before=before, limit=limit)
        games, cut = self._ctx.chat.fit_answer([r.to_wire() for r in records], keep_newest=False)
        return GamesPage(games, has_more or cut)

    def memory_of(self, user_id: str, name: str) -> list[list[str]]:
        """The player's rounds in their last games, oldest first, for the computer. Read before
        any lock is taken; a failed read leaves the computer with this game's rounds only."""
        try:
            records, _ = self._ctx.archive.page(user_id, limit=MEMORY_GAMES)
        except Exception:
            log.warning("reading %s's earlier games failed: the computer starts afresh", name)
            return []
        rounds = [r for record in reversed(records) for r in rounds_of(record.name, record.rounds)]
        return [list(entry) for entry in rounds[-MEMORY_ROUNDS:]]

    def forget_guest(self, user_id: str) -> None:
        """A guest gone for good: its games go with it (a claimed name's are kept)."""
        ctx = self._ctx
        try:
            accounts = ctx.chat.accounts
            if accounts is not None and accounts.of_user(user_id) is not None:
                return
            ctx.archive.forget_user(user_id)
        except Exception:
            log.exception("forgetting a guest's games failed")

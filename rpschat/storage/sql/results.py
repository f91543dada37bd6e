"""Game results and the leaderboard in SQLite or PostgreSQL (the rules: game/standings.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select

from rpschat.domain.game.glicko import PROVISIONAL_DEVIATION
from rpschat.domain.game.match import GameResult
from rpschat.domain.game.ports import Leaderboard, Standing, StoredGame
from rpschat.domain.game.standings import (
    RatedPairs,
    apply_result,
    day_of,
    is_rated,
    pair_of,
    player_outcomes,
    public_standing,
    ratings_entry,
    stored_game,
)
from rpschat.domain.ports import Runtime
from rpschat.domain.text import name_key
from rpschat.storage.sql.database import (
    Database,
    accounts,
    arena_records,
    games,
    rated_pairs,
    standings,
)


class SqlResults:
    """Results in SQLite or PostgreSQL: one transaction per batch of finished games. Ratings
    are read and written in it under the write lock (PostgreSQL's advisory lock too), so
    batches from several nodes apply one after another."""

    def __init__(self, database: Database, runtime: Runtime, rated_per_pair: int | None = None):
        self.database = database
        self._now = runtime.now
        self._rated_per_pair = rated_per_pair  # rated games of two accounts a day

    def record(
        self,
        winner: str | None,
        loser: str | None,
        players: tuple[str, str],
        reason: str,
        best_of: int,
        score: dict[str, int],
        game_id: str,
        user_ids: dict[str, str] | None = None,
    ) -> bool:
        result = GameResult(
            winner, loser, players, reason, best_of, score, game_id, user_ids=user_ids or {}
        )
        return self.record_many([result])[0]

    def record_many(self, results: list[GameResult]) -> list[bool]:
        if not results:
            return []
        for result in results:
            player_outcomes(result.winner, result.loser, result.players)
        return self.database.write(
            self._store_all, results, int(self._now() * 1000), serialize=True
        )

    def forget_guest(self, name: str, user_id: str) -> bool:
        return self.database.write(_delete_guest_row, name_key(name), user_id)

    def leaderboard(self, limit: int = 50) -> Leaderboard:
        return self.database.read(_select_leaderboard, limit)

    def standing(self, name: str) -> Standing | None:
        return self.database.read(_select_standing, name_key(name))

    def game(self, game_id: str) -> StoredGame | None:
        return self.database.read(_select_game, game_id)

    def games_of(self, user_id: str, limit: int) -> list[StoredGame]:
        return self.database.read(_select_games_of, user_id, limit)

    def record_arena(self, arena_id: str, ends_at_ms: int, record: dict[str, Any]) -> None:
        row = {"arena_id": arena_id, "ends_at": ends_at_ms, "record": record}
        insert = self.database.insert(arena_records).on_conflict_do_nothing()
        self.database.write(lambda conn: conn.execute(insert, row))

    def arena(self, arena_id: str) -> dict[str, Any] | None:
        return self.database.read(_select_arena, arena_id)

    def close(self) -> None:  # the database is closed once, by its opener
        pass

    def _store_all(self, conn: Connection, results: list[GameResult], ts: int) -> list[bool]:
        ids = [result.game_id for result in results]
        known = set(conn.execute(select(games.c.game_id).where(games.c.game_id.in_(ids))).scalars())
        new: list[bool] = []
        fresh: list[GameResult] = []
        for result in results:
            is_new = result.game_id not in known
            new.append(is_new)
            if is_new:
                known.add(result.game_id)  # twice in one batch counts once
                fresh.append(result)
        if not fresh:
            return new
        people = [result for result in fresh if not result.computer]
        keys = {name_key(name) for result in people for name in result.players}
        c = standings.c
        query = select(*(c[column] for column in ("key", *_ROW_COLUMNS)))
        rows = {
            row.key: {k: v for k, v in row._mapping.items() if k != "key"}
            for row in conn.execute(query.where(c.key.in_(keys)))
        }
        before = {key: dict(row) for key, row in rows.items()}
        user_ids = {u for r in people for u in r.user_ids.values()} | {
            row["user_id"] for row in rows.values() if row["user_id"]
        }
        claimed = _claimed(conn, user_ids)
        day = day_of(ts)
        pairs = RatedPairs(self._rated_per_pair, _pair_counts(conn, people, claimed, day))
        counted_before = dict(pairs.counts)
        ratings: dict[str, dict[str, Any]] = {}
        for result in people:  # the computer's games count for nobody's standing
            rated = pairs.allow(result, claimed, day)
            changes = apply_result(rows, result, claimed, rated, ts)
            ratings[result.game_id] = ratings_entry(changes, rated)
        self._save_pair_counts(conn, pairs.counts, counted_before, day)
        rows_of_games = [_game_row(r, ratings.get(r.game_id), ts) for r in fresh]
        conn.execute(self.database.insert(games), rows_of_games)
        changed = [{"key": k, **row} for k, row in rows.items() if before.get(k) != row]
        if changed:
            insert = self.database.insert(standings)
            added = insert.excluded
            upsert = insert.on_conflict_do_update(
                index_elements=[c.key],
                set_={column: added[column] for column in _ROW_COLUMNS},
            )
            conn.execute(upsert, changed)
        return new

    def _save_pair_counts(
        self,
        conn: Connection,
        counts: dict[tuple[int, str], int],
        before: dict[tuple[int, str], int],
        day: int,
    ) -> None:
        changed = [
            {"day": d, "pair": pair, "games": played}
            for (d, pair), played in counts.items()
            if before.get((d, pair)) != played
        ]
        if changed:
            insert = self.database.insert(rated_pairs)
            upsert = insert.on_conflict_do_update(
                index_elements=[rated_pairs.c.day, rated_pairs.c.pair],
                set_={"games": insert.excluded.games},
            )
            conn.execute(upsert, changed)
            conn.execute(delete(rated_pairs).where(rated_pairs.c.day < day))


def _pair_counts(
    conn: Connection, results: list[GameResult], claimed: set[str], day: int
) -> dict[tuple[int, str], int]:
    pairs = {pair_of(r) for r in results if is_rated(r, claimed)}
    if not pairs:
        return {}
    c = rated_pairs.c
    query = select(c.pair, c.games).where(c.day == day, c.pair.in_(pairs))
    return {(day, pair): played for pair, played in conn.execute(query)}


def _claimed(conn: Connection, user_ids: set[str]) -> set[str]:
    if not user_ids:
        return set()
    query = select(accounts.c.user_id).where(accounts.c.user_id.in_(user_ids))
    return set(conn.execute(query).scalars())


def _delete_guest_row(conn: Connection, key: str, user_id: str) -> bool:
    if _claimed(conn, {user_id}):
        return False
    statement = delete(standings).where(standings.c.key == key, standings.c.user_id == user_id)
    return conn.execute(statement.returning(standings.c.key)).first() is not None


def _game_row(result: GameResult, ratings: dict[str, Any] | None, ts: int) -> dict[str, Any]:
    stored = stored_game(result, ratings, ts)
    user_of = stored["user_ids"]
    return {
        "game_id": result.game_id,
        "player_a": result.players[0],
        "player_b": result.players[1],
        "winner": result.winner,
        "loser": result.loser,
        "reason": result.reason,
        "best_of": result.best_of,
        "score": result.score,
        "ts": ts,
        "computer": result.computer,
        "user_a": user_of.get(result.players[0]),
        "user_b": user_of.get(result.players[1]),
        "rounds": stored["rounds"],
        "ratings": ratings,
    }


def _stored(row: Any) -> StoredGame:
    """A games row as the domain keeps it (game/ports.py's StoredGame)."""
    players = [row.player_a, row.player_b]
    users = {name: user for name, user in zip(players, (row.user_a, row.user_b), strict=True)}
    return {
        "game_id": row.game_id,
        "players": players,
        "user_ids": {name: user for name, user in users.items() if user},
        "computer": bool(row.computer),
        "best_of": row.best_of,
        "winner": row.winner,
        "score": dict(row.score),
        "reason": row.reason,
        "ended_at": row.ts,
        "rounds": list(row.rounds or []),
        "ratings": row.ratings,
    }


def _select_arena(conn: Connection, arena_id: str) -> dict[str, Any] | None:
    c = arena_records.c
    return conn.execute(select(c.record).where(c.arena_id == arena_id)).scalar()


def _select_game(conn: Connection, game_id: str) -> StoredGame | None:
    row = conn.execute(select(games).where(games.c.game_id == game_id)).first()
    return None if row is None else _stored(row)


def _select_games_of(conn: Connection, user_id: str, limit: int) -> list[StoredGame]:
    c = games.c
    # one index range per column (ix_games_user_a, ix_games_user_b), then the newest of both
    found: list[Any] = []
    for column in (c.user_a, c.user_b):
        query = select(games).where(column == user_id).order_by(c.ts.desc()).limit(limit)
        found += conn.execute(query).all()
    found.sort(key=lambda row: (row.ts, row.game_id), reverse=True)
    return [_stored(row) for row in found[:limit]]


_ROW_COLUMNS = (
    "name", "user_id", "wins", "losses", "draws", "rating", "deviation", "volatility", "rated_at"
)  # fmt: skip


def _select_leaderboard(conn: Connection, limit: int) -> Leaderboard:
    c = standings.c
    claimed = accounts.c.user_id.is_not(None).label("claimed")
    query = (
        select(c.name, c.wins, c.losses, c.draws, c.rating, c.deviation, claimed)
        .select_from(standings.outerjoin(accounts, accounts.c.user_id == c.user_id))
        .where(c.deviation <= PROVISIONAL_DEVIATION)
        .order_by(c.rating.desc(), c.wins.desc(), c.losses, c.key)
        .limit(limit)
    )
    rows = conn.execute(query)
    players = [public_standing(dict(row._mapping), bool(row.claimed)) for row in rows]
    provisional = select(func.count()).where(c.deviation > PROVISIONAL_DEVIATION)
    return Leaderboard(players, conn.scalar(provisional) or 0)


def _select_standing(conn: Connection, key: str) -> Standing | None:
    c = standings.c
    claimed = accounts.c.user_id.is_not(None).label("claimed")
    query = (
        select(c.name, c.wins, c.losses, c.draws, c.rating, c.deviation, claimed)
        .select_from(standings.outerjoin(accounts, accounts.c.user_id == c.user_id))
        .where(c.key == key)
    )
    row = conn.execute(query).first()
    return None if row is None else public_standing(dict(row._mapping), bool(row.claimed))

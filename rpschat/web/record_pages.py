"""The pages of finished games and players: /game/<id> and /u/<name>, rendered on the server
from what `game_record` and `profile` return (docs/protocol.md, "Finished games and
profiles"); static/js/replay.js replays a game round by round and checks the computer's
commitments in the browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, render_template

from rpschat.domain.game.arenas import Arenas
from rpschat.domain.game.book import GameBook

MOVES = {"rock": "✊ Rock", "paper": "✋ Paper", "scissors": "✌️ Scissors"}
HOW = {
    "won": "",
    "timeout": " on a round timeout",
    "forfeit": " by forfeit: {loser} left the game",
    "disconnect": " by disconnection: {loser} did not come back",
}


def install(flask_app: Flask, book: GameBook, arenas: Arenas) -> None:
    pages = Blueprint("record_pages", __name__)

    @pages.get("/arena/<arena_id>")
    def arena_page(arena_id: str):
        found = arenas.page(arena_id)
        if found is None:
            return _not_found("No arena has that id."), 404
        return render_template("arena.html", a=arena_view(found))

    @pages.get("/game/<game_id>")
    def game_page(game_id: str):
        game = book.game_record(game_id) if len(game_id) <= 64 else None
        if game is None:
            return _not_found("No finished game has that id."), 404
        return render_template("game_record.html", view=game_view(game))

    @pages.get("/u/<name>")
    def profile_page(name: str):
        found = book.profile(name) if len(name) <= 64 else None
        if found is None:
            return _not_found("Nobody claimed that name: profiles are for claimed names."), 404
        return render_template("profile.html", p=profile_view(found))

    flask_app.register_blueprint(pages)


def _not_found(message: str) -> str:
    return render_template("not_found.html", message=message)


def _when(ms: int) -> tuple[str, str]:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M UTC")


def rating_text(shown: dict[str, Any]) -> str:
    return f"{shown['rating']}{'?' if shown['provisional'] else ''}"


def ending_text(game: dict[str, Any]) -> str:
    a, b = game["players"]
    score = f"{game['score'].get(a, 0)}–{game['score'].get(b, 0)}"
    winner = game["winner"]
    if winner is None:
        return f"Abandoned at {score}: neither player threw before a round's time ran out."
    loser = b if winner == a else a
    return f"{winner} won {score}{HOW.get(game['reason'], '').format(loser=loser)}."


def game_view(game: dict[str, Any]) -> dict[str, Any]:
    a, b = game["players"]
    ended_iso, ended_text = _when(game["ended_at"])
    rounds = []
    for entry in game["rounds"]:
        moves = entry.get("moves") or {}
        score = entry.get("score") or {}
        winner = entry.get("winner")
        result = "Draw" if winner is None else f"{winner} wins"
        if entry.get("timeout"):
            result += " (time ran out)"
        verdict = ""
        if "verified" in entry:
            verdict = "verified" if entry["verified"] else "NOT verified"
        rounds.append({
            "round": entry["round"], "winner": winner, "timeout": entry.get("timeout"),
            "move_a": moves.get(a), "move_b": moves.get(b),
            "shown_a": MOVES.get(moves.get(a) or "", "no move"),
            "shown_b": MOVES.get(moves.get(b) or "", "no move"),
            "score_a": score.get(a, 0), "score_b": score.get(b, 0),
            "result": result, "commit": entry.get("commit"), "salt": entry.get("salt"),
            "verdict": verdict,
        })  # fmt: skip
    ratings = []
    for name in (a, b):
        change = game["ratings"].get(name)
        if change is None:
            continue
        delta = change["after"]["rating"] - change["before"]["rating"]
        ratings.append({
            "name": name, "before": rating_text(change["before"]),
            "after": rating_text(change["after"]),
            "change": f"{delta:+d}" if game["rated"] else "unrated",
        })  # fmt: skip
    return {
        "title": f"{a} vs {b}",
        "players": [a, b],
        "players_json": json.dumps([a, b]),
        "best_of": game["best_of"],
        "computer": game["computer"],
        "rated": game["rated"],
        "ended_iso": ended_iso,
        "ended_text": ended_text,
        "ending": ending_text(game),
        "final_score": f"{a} {game['score'].get(a, 0)} – {game['score'].get(b, 0)} {b}",
        "ratings": ratings,
        "rounds": rounds,
        "profiles": [name for name in (a, b) if name in game["ratings"] and not game["computer"]],
    }


ARENA_STATUS = {
    "upcoming": "Not started yet.",
    "running": "Running: standings update live.",
    "finished": "Finished.",
}


def arena_view(arena: dict[str, Any]) -> dict[str, Any]:
    starts_iso, starts_text = _when(arena["starts_at"])
    ends_iso, ends_text = _when(arena["ends_at"])
    return {**arena, "starts_iso": starts_iso, "starts_text": starts_text, "ends_iso": ends_iso,
            "ends_text": ends_text, "status_text": ARENA_STATUS[arena["status"]]}  # fmt: skip


RESULT_WORDS = {"won": "Won", "lost": "Lost", "abandoned": "Abandoned", "drawn": "Drawn"}


def profile_view(profile: dict[str, Any]) -> dict[str, Any]:
    last = []
    for game in profile["last_games"]:
        iso, text = _when(game["ended_at"])
        score = game["score"]
        mine = sum(score.values()) - score.get(game["opponent"], 0)
        words = f"{RESULT_WORDS[game['result']]} {mine}–{score.get(game['opponent'], 0)}"
        last.append({"game_id": game["game_id"], "text": f"{words} against {game['opponent']}",
                     "ended_iso": iso, "ended_text": text})  # fmt: skip
    throws = [
        {"label": MOVES[move], "percent": percent} for move, percent in profile["throws"].items()
    ]
    return {
        **profile,
        "rating_text": rating_text(profile),
        "throws_shown": throws,
        "last_games": last,
    }

"""The operator's commands: `flask --app app grant NAME` and `flask --app app revoke NAME`;
`announce TEXT`, `ban NAME --for 1d`, `unban NAME`, `purge NAME --minutes 30` and `stats`
(issue 25, point 8: domain/room_tools.py), each in the audit log as "operator". With
REDIS_URL, what they send (an announcement, a ban's notice and disconnect) goes through the
message queue to every node's clients; without it, they reach the database only (the
announcement is in the history; a ban holds from the banned user's next connection).

Moderator powers belong to an account the operator designated (domain/roles.py). `grant`
designates the account of NAME, claiming NAME for a new account first (with a password the
operator types) when nobody has claimed it; `revoke` takes the role back. Both write the audit
log as "operator". They work on the database DATABASE_URL names, which the running nodes read:
there is nothing to restart. With `DATABASE_URL=memory://` accounts live inside the server's
process, so there is nothing these commands can reach.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask

from rpschat.domain.errors import Refused
from rpschat.domain.roles import MODERATOR, OWNER
from rpschat.domain.room_tools import OPERATOR
from rpschat.domain.sanctions import until_text
from rpschat.storage.sql.database import is_memory_url


def add_commands(flask_app: Flask, services: Any) -> None:
    @flask_app.cli.command("grant")
    @click.argument("name")
    @click.option(
        "--password-stdin",
        is_flag=True,
        help="Read the new account's password from standard input (one line) instead of "
        "asking for it twice.",
    )
    @click.option("--owner", is_flag=True, help="Make it an owner (who grants moderators).")
    def grant(name: str, password_stdin: bool, owner: bool) -> None:
        """Make NAME's account a moderator, or an owner (claiming NAME for it first if nobody
        has)."""

        def password() -> str:
            if password_stdin:
                return sys.stdin.readline().rstrip("\r\n")
            return click.prompt(
                f"'{name}' is not claimed: a password for its new account",
                hide_input=True,
                confirmation_prompt=True,
            )

        with _operating(services):
            roles = services.roles
            role = OWNER if owner else MODERATOR
            account = roles.designate(name, password, services.claims.passwords, role)
            click.echo(
                f"'{account.name}' is a{'n' if owner else ''} {role} (user {account.user_id})."
            )

    @flask_app.cli.command("revoke")
    @click.argument("name")
    @click.option("--owner", is_flag=True, help="Take the owner role instead.")
    def revoke(name: str, owner: bool) -> None:
        """Take the moderator (or owner) role from NAME's account."""
        role = OWNER if owner else MODERATOR
        with _operating(services):
            account = services.roles.revoke_from(name, role)
            click.echo(f"'{account.name}' is no {role} any more.")

    tools = services.room_tools

    @flask_app.cli.command("announce")
    @click.argument("text")
    def announce(text: str) -> None:
        """Post TEXT to the lobby as "Announcement"."""
        with _operating(services):
            message_id = tools.announce(text)
            click.echo(f"Announced (message {message_id}).")

    @flask_app.cli.command("ban")
    @click.argument("name")
    @click.option("--for", "duration", required=True, help="How long: 30m, 12h, 1d, 2w.")
    @click.option("--reason", default=None, help="Shown to the banned user.")
    def ban(name: str, duration: str, reason: str | None) -> None:
        """Ban NAME (its name and address) for a while."""
        seconds = parse_duration(duration)
        with _operating(services):
            until = tools.ban(OPERATOR, name, seconds, reason)
            click.echo(f"'{name}' is banned until {until_text(until)} UTC.")

    @flask_app.cli.command("unban")
    @click.argument("name")
    def unban(name: str) -> None:
        """Lift NAME's ban."""
        with _operating(services):
            click.echo(f"'{tools.unban(OPERATOR, name)}' is no longer banned.")

    @flask_app.cli.command("purge")
    @click.argument("name")
    @click.option("--minutes", type=int, required=True, help="How far back (at most 10080).")
    def purge(name: str, minutes: int) -> None:
        """Delete what NAME posted in the last MINUTES (lobby and game chat)."""
        with _operating(services):
            click.echo(f"Deleted {tools.purge(OPERATOR, name, minutes)} messages of '{name}'.")

    @flask_app.cli.command("stats")
    def stats() -> None:
        """Users online, games live, lobby messages today (UTC)."""
        with _operating(services):
            numbers = tools.stats(services.games.live_count())
            for key, value in numbers.items():
                click.echo(f"{key}: {value}")


_UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> int:
    """'30m', '12h', '1d', '2w' in seconds (at most a year)."""
    number, unit = text[:-1], text[-1:].lower()
    if (
        not number.isdigit()
        or unit not in _UNITS
        or not 0 < int(number) * _UNITS[unit] <= 31_536_000
    ):
        raise click.BadParameter("a number and a unit: 30m, 12h, 1d or 2w (a year at most)")
    return int(number) * _UNITS[unit]


class _operating:
    """Refuses memory://, turns a refusal into an error message, and closes the services."""

    def __init__(self, services: Any):
        self._services = services

    def __enter__(self) -> None:
        if is_memory_url(self._services.settings.database_url):
            raise click.ClickException(
                "DATABASE_URL is memory://: accounts live inside the server's process, where "
                "this command can't reach them. Use a database (sqlite:/// or postgresql://)."
            )

    def __exit__(self, kind: Any, error: Any, _traceback: Any) -> None:
        self._services.close()
        if isinstance(error, Refused):
            raise click.ClickException(error.reason) from None

"""The operator's commands: `flask --app app grant NAME` and `flask --app app revoke NAME`.

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
from rpschat.domain.roles import MODERATOR
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
    def grant(name: str, password_stdin: bool) -> None:
        """Make NAME's account a moderator (claiming NAME for it first if nobody has)."""

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
            account = roles.designate(name, password, services.claims.passwords, MODERATOR)
            click.echo(f"'{account.name}' is a moderator (user {account.user_id}).")

    @flask_app.cli.command("revoke")
    @click.argument("name")
    def revoke(name: str) -> None:
        """Take the moderator role from NAME's account."""
        with _operating(services):
            account = services.roles.revoke_from(name, MODERATOR)
            click.echo(f"'{account.name}' is no moderator any more.")


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

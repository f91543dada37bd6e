"""Invite links and open challenges (issue 26, point 1).

`invite {best_of}` makes a single-use code with a link, `/play/<code>`; whoever opens it and
sends `accept_invite {code}` plays the inviter at once (both get `match_found`, as from the
queue). `invite {best_of, open: true}` is an open challenge: listed to everyone in the lobby
(`open_challenges`, pushed as `open_challenge` when one comes or goes) until someone takes it.
An invite expires after INVITE_TTL_SECONDS, can be cancelled, and ends when its inviter leaves;
a code that ended is remembered for a day so that its refusal says why (expired, used,
cancelled, inviter gone).

Invites live in an `InviteStore`: in this process, or in Redis (storage/redis/invites.py) so
that a link made on one node is accepted on any.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, Protocol

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.callers import player_calling
from rpschat.domain.game.rules import validate_best_of
from rpschat.domain.ports import (
    LOBBY,
    Callers,
    Directory,
    Limits,
    NamedConnection,
    Outbox,
    Runtime,
    user_room,
)

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud, typed by hand
CODE_LENGTH = 10  # 31^10: about 8e14 codes, guessed by nobody within an invite's life
ENDED_KEPT_SECONDS = 86_400  # how long a finished code's refusal still says why
MAX_INVITES = 5  # pending invites of one user
NO_SUCH_INVITE = "No such invite: check the link."
ENDED = {
    "expired": (Code.INVITE_EXPIRED, "This invite has expired: ask for a new link."),
    "used": (Code.INVITE_USED, "This invite was already used: ask for a new link."),
    "cancelled": (Code.INVITE_CANCELLED, "This invite was cancelled."),
    "gone": (Code.INVITER_GONE, "{inviter} has left: the invite ended with them."),
}
TOO_MANY = f"You have {MAX_INVITES} invites waiting: cancel one first."
OWN_INVITE = "This is your own invite: send the link to someone else."


@dataclass(frozen=True)
class Invite:
    code: str
    inviter_id: str
    inviter: str  # the name the inviter had when inviting
    best_of: int
    open: bool  # an open challenge: listed in the lobby
    expires_at: float  # runtime clock (wall time: every node compares the same)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Invite:
        return cls(**data)

    def wire(self, now: float) -> dict[str, Any]:
        return {
            "code": self.code,
            "from": self.inviter,
            "best_of": self.best_of,
            "open": self.open,
            "expires_in_ms": max(0, int((self.expires_at - now) * 1000)),
        }


class InviteStore(Protocol):
    def add(self, invite: Invite) -> None: ...
    def get(self, code: str) -> Invite | None: ...
    def take(self, code: str) -> Invite | None:
        """Removes and returns the invite: of two takers, one gets it."""

    def all(self) -> list[Invite]: ...
    def end(self, code: str, reason: str, keep_seconds: float) -> None:
        """Remembers why a code ended, for `keep_seconds`."""

    def ended(self, code: str) -> str | None: ...


class Matches(Protocol):
    """What invites need of the game (GameService)."""

    def start_invited(self, inviter: str, guest: str, best_of: int) -> None:
        """A match between the two names at once; refused if either is in a game."""

    def is_playing(self, name: str) -> bool: ...


class Invites:
    def __init__(
        self,
        callers: Callers,
        limits: Limits,
        directory: Directory,
        outbox: Outbox,
        runtime: Runtime,
        store: InviteStore,
        matches: Matches,
        ttl_seconds: float = 600,
        url_of: Callable[[str], str] = lambda code: f"/play/{code}",
    ) -> None:
        self._callers = callers
        self._limits = limits
        self._directory = directory
        self._outbox = outbox
        self._runtime = runtime
        self._store = store
        self._matches = matches
        self._ttl = ttl_seconds
        self._url_of = url_of

    def _caller(self, sid: str) -> NamedConnection:
        return player_calling(self._callers, self._limits, sid)

    # ---- events ------------------------------------------------------------------------------

    def invite(self, sid: str, best_of: int, open_: bool) -> dict[str, Any]:
        conn = self._caller(sid)
        best_of = validate_best_of(best_of)
        now = self._runtime.now()
        self.expire(now)
        mine = [i for i in self._store.all() if i.inviter_id == conn.user_id]
        if len(mine) >= MAX_INVITES:
            raise Refused(Code.TOO_MANY_INVITES, TOO_MANY)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        invite = Invite(code, conn.user_id, conn.name, best_of, open_, now + self._ttl)
        self._store.add(invite)
        if open_:
            self._outbox.emit("open_challenge", {"action": "add", **invite.wire(now)}, to=LOBBY)
        self._runtime.call_later(self._ttl + 0.05, self.expire_now)
        return {**invite.wire(now), "url": self._url_of(code)}

    def accept(self, sid: str, code: str) -> None:
        conn = self._caller(sid)
        now = self._runtime.now()
        self.expire(now)
        invite = self._store.get(code)
        if invite is None:
            self._refuse_ended(code)
        if invite.inviter_id == conn.user_id:
            raise Refused(Code.SELF_TARGET, OWN_INVITE)
        inviter = self._directory.name_of(invite.inviter_id)
        if inviter is None:  # gone meanwhile (user_gone ends its invites; a dead node's too)
            self._finish(invite, "gone", now)
            self._refuse_ended(code)
        if self._matches.is_playing(inviter):
            raise Refused(Code.OPPONENT_BUSY, f"{inviter} is in a game: try again when it ends.")
        taken = self._store.take(code)
        if taken is None:  # another guest took it a moment ago
            self._refuse_ended(code)
        try:
            self._matches.start_invited(inviter, conn.name, invite.best_of)
        except Refused:
            self._store.add(invite)  # not used after all: the link still works
            raise
        self._finish(invite, "used", now)
        answer = {"code": code, "by": conn.name, "best_of": invite.best_of}
        self._outbox.emit("invite_accepted", answer, to=user_room(invite.inviter_id))

    def cancel(self, sid: str, code: str) -> None:
        conn = self._caller(sid)
        invite = self._store.get(code)
        if invite is None or invite.inviter_id != conn.user_id:
            raise Refused(Code.NO_SUCH_INVITE, NO_SUCH_INVITE)
        if self._store.take(code) is not None:
            self._finish(invite, "cancelled", self._runtime.now())

    def list_open(self, sid: str) -> list[dict[str, Any]]:
        self._caller(sid)
        now = self._runtime.now()
        self.expire(now)
        waiting = sorted((i for i in self._store.all() if i.open), key=lambda i: i.expires_at)
        return [invite.wire(now) for invite in waiting]

    def mine(self, sid: str) -> list[dict[str, Any]]:
        conn = self._caller(sid)
        now = self._runtime.now()
        self.expire(now)
        return [
            {**invite.wire(now), "url": self._url_of(invite.code)}
            for invite in self._store.all()
            if invite.inviter_id == conn.user_id
        ]

    # ---- endings -----------------------------------------------------------------------------

    def _refuse_ended(self, code: str) -> NoReturn:
        ended = self._store.ended(code)
        if ended is None or ended.partition(":")[0] not in ENDED:
            raise Refused(Code.NO_SUCH_INVITE, NO_SUCH_INVITE)
        reason, _, inviter = ended.partition(":")
        sentence = ENDED[reason][1].format(inviter=inviter)
        if reason == "expired":
            raise Refused(Code.INVITE_EXPIRED, sentence)
        if reason == "used":
            raise Refused(Code.INVITE_USED, sentence)
        if reason == "cancelled":
            raise Refused(Code.INVITE_CANCELLED, sentence)
        raise Refused(Code.INVITER_GONE, sentence)

    def _finish(self, invite: Invite, reason: str, now: float) -> None:
        self._store.end(invite.code, f"{reason}:{invite.inviter}", ENDED_KEPT_SECONDS)
        if invite.open:
            gone = {"action": "remove", "code": invite.code, "reason": reason}
            self._outbox.emit("open_challenge", gone, to=LOBBY)
        if reason in ("expired", "gone"):
            told = {"code": invite.code, "reason": reason}
            self._outbox.emit("invite_ended", told, to=user_room(invite.inviter_id))

    def expire_now(self) -> None:
        self.expire(self._runtime.now())

    def expire(self, now: float) -> None:
        for invite in self._store.all():
            if invite.expires_at <= now and self._store.take(invite.code) is not None:
                self._finish(invite, "expired", now)

    # ---- presence (a PresenceListener of the hub) -------------------------------------------

    def user_dropped(self, user_id: str, name: str) -> None:
        pass  # within the grace period the invites stay

    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        pass

    def user_gone(self, user_id: str, name: str, removed: bool) -> None:
        now = self._runtime.now()
        for invite in self._store.all():
            if invite.inviter_id == user_id and self._store.take(invite.code) is not None:
                self._finish(invite, "gone", now)

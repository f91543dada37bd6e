"""Moderation: moderators' events (deleting messages, muting, kicking and banning, the audit
log), and ignoring other users.

Moderators are the accounts holding the moderator role (domain/roles.py: designated by the
operator, checked by user id). The sanctions in force, and the checks every other service makes
against them, are in domain/sanctions.py; reports in domain/reports.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    LOBBY,
    AccountStore,
    Callers,
    Directory,
    HistoryStore,
    Limits,
    ModerationStore,
    NamedConnection,
    Outbox,
    Removal,
    Runtime,
    Sanction,
    Sanctioning,
)
from rpschat.domain.sanctions import until_text
from rpschat.domain.text import clean_name

log = logging.getLogger("rpschat.moderation")

KICK_SECONDS = 60.0  # a kicked user's tokens and log-ins are refused this long
MAX_MINUTES = 525_600  # a year
MAX_REASON_CHARS = 200
MAX_LOG = 200
NOT_A_MODERATOR = "Only moderators can do that."
REASON_REFUSAL = f"reason must be a string of 1 to {MAX_REASON_CHARS} characters."
MINUTES_REFUSAL = f"minutes must be a whole number from 1 to {MAX_MINUTES}."
# What a removed user's connections are told before they close (docs/protocol.md, mod_kick)
REMOVED_EVENTS = {"kick": "kicked", "ban": "banned"}
LOG_LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_LOG}."


def _optional_reason(reason: str | None) -> str | None:
    return None if reason is None else clean_reason(reason)


def clean_reason(reason: str) -> str:
    if not reason.strip() or len(reason) > MAX_REASON_CHARS:
        raise Refused(Code.BAD_REQUEST, REASON_REFUSAL, field="reason")
    if "\x00" in reason or any("\ud800" <= ch <= "\udfff" for ch in reason):
        raise Refused(
            Code.BAD_REQUEST,
            "reason can't contain NUL or lone surrogate characters.",
            field="reason",
        )
    return reason.strip()


def _minutes(minutes: int) -> int:
    if not 1 <= minutes <= MAX_MINUTES:
        raise Refused(Code.BAD_REQUEST, MINUTES_REFUSAL, field="minutes")
    return minutes


@dataclass
class Target:
    name: str
    user_id: str | None  # None: nobody holds or claimed the name
    name_key: str | None  # set when the name is claimed (bans hold it)
    online: bool


@dataclass
class ModerationService:
    callers: Callers
    limits: Limits
    sanctions: Sanctioning
    store: ModerationStore  # the audit log, reports, ignores
    directory: Directory
    accounts: AccountStore | None
    names: NameRules
    history: HistoryStore
    removal: Removal  # a kicked or banned user leaves at once
    outbox: Outbox
    runtime: Runtime

    def _moderator(self, sid: str) -> NamedConnection:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        if not self.sanctions.is_moderator(conn.user_id):
            raise Refused(Code.NOT_MODERATOR, NOT_A_MODERATOR)
        return conn

    # ---- moderators' events ------------------------------------------------------------------

    def mod_delete(self, sid: str, message_id: int) -> None:
        conn = self._moderator(sid)
        deleted = self.history.delete(message_id)
        if deleted is None:
            raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
        self._audit(conn, "delete", f"#{message_id} by {deleted.message.name}", None)
        self.outbox.emit("message_deleted", {"id": message_id, "seq": deleted.seq})

    def mod_mute(self, sid: str, name: str, minutes: int, reason: str | None) -> int:
        """Mute the user called `name`; return until when (ms since the epoch)."""
        minutes, reason = _minutes(minutes), _optional_reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name))
        until = self._now_ms() + minutes * 60_000
        # the address too: the user's new guests from there are muted as long (an account is
        # muted by its user id only); the name's key to lift it once a guest has left
        address = self.directory.address_of(target.user_id) if target.user_id else None
        mute = Sanction("mute", until, reason, user_id=target.user_id,
                        name_key=self.names.key(target.name), address=address)  # fmt: skip
        self.sanctions.impose(mute)
        self._audit(conn, "mute", target.name, reason, until)
        self.outbox.emit(
            "message",
            {
                "name": None,
                "txt": f"{target.name} was muted by a moderator until {until_text(until)}.",
            },  # fmt: skip
            to=LOBBY,
        )
        return until

    def mod_unmute(self, sid: str, name: str) -> None:
        conn = self._moderator(sid)
        name = clean_name(name)
        try:
            target = self._target(name)
        except Refused as refused:  # a guest who left: its mute (and its address's) by name
            if refused.code is not Code.NOT_ONLINE:
                raise
            target = Target(name, None, None, False)
        if not self.sanctions.lift("mute", target.user_id, self.names.key(target.name)):
            raise Refused(Code.NOT_MUTED, f"{target.name} is not muted.")
        self._audit(conn, "unmute", target.name, None)

    def mod_kick(self, sid: str, name: str, reason: str | None) -> None:
        reason = _optional_reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name), online=True)
        until = self._now_ms() + int(KICK_SECONDS * 1000)
        kick = Sanction("kick", until, reason, user_id=target.user_id)
        self.sanctions.impose(kick)
        self._audit(conn, "kick", target.name, reason, until)
        self._remove(target, kick)

    def mod_ban(self, sid: str, name: str, minutes: int, reason: str | None) -> int:
        """Ban the user called `name`; return until when (ms since the epoch)."""
        minutes, reason = _minutes(minutes), _optional_reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name))
        until = self._now_ms() + minutes * 60_000
        address = self.directory.address_of(target.user_id) if target.user_id else None
        # the name is held whether claimed or not: a banned guest can't come back under it, or
        # under a look-alike, from another address
        ban = Sanction("ban", until, reason, user_id=target.user_id,
                       name_key=self.names.key(target.name), address=address)  # fmt: skip
        self.sanctions.impose(ban)
        self._audit(conn, "ban", target.name, reason, until)
        if target.online:
            self._remove(target, ban)
        return until

    def mod_log(self, sid: str, limit: int | None) -> list[dict[str, Any]]:
        """The audit log's newest `limit` actions (default 50), newest first."""
        if limit is not None and not 1 <= limit <= MAX_LOG:
            raise Refused(Code.BAD_REQUEST, LOG_LIMIT_REFUSAL, field="limit")
        self._moderator(sid)
        return self.store.log(limit or 50)

    # ---- everyone's events -------------------------------------------------------------------

    def ignore(self, sid: str, name: str) -> str:
        """Ignore the user called `name`; return the name as shown."""
        conn, other_id, other = self._other(sid, name)
        if other_id == conn.user_id:
            raise Refused(Code.SELF_TARGET, "You can't ignore yourself.")
        self.store.ignore(conn.user_id, other_id)
        return other

    def unignore(self, sid: str, name: str) -> str:
        conn, other_id, other = self._other(sid, name)
        self.store.unignore(conn.user_id, other_id)
        return other

    # ---- helpers -----------------------------------------------------------------------------

    def _other(self, sid: str, name: str) -> tuple[NamedConnection, str, str]:
        name = clean_name(name)
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        target = self._target(name)
        if target.user_id is None:
            raise Refused(Code.NOT_ONLINE, f"{name} is not online.")
        return conn, target.user_id, target.name

    def _target(self, name: str, online: bool = False) -> Target:
        """The user called `name` (cleaned): online, or a claimed name unless `online`."""
        directory = self.directory
        user_id = directory.user_of(name)
        held = directory.name_of(user_id) if user_id else None
        account = None
        if self.accounts is not None:
            account = self.accounts.get(self.names.key(name))
        if held is None and account is not None:
            user_id = account.user_id
        if user_id is None or (online and held is None):
            raise Refused(Code.NOT_ONLINE, f"{name} is not online.")
        shown = held or (account.name if account else name)
        if account is not None and account.user_id == user_id:
            if self.sanctions.is_moderator(user_id):
                raise Refused(Code.TARGET_IS_MODERATOR, "Moderators can't act on each other.")
            return Target(shown, user_id, account.key, held is not None)
        return Target(shown, user_id, None, held is not None)

    def _remove(self, target: Target, sanction: Sanction) -> None:
        """Every connection of the user is told why (`kicked` or `banned`), then closed, and
        the user leaves at once."""
        assert target.user_id is not None  # online
        sids = self.directory.connections_of(target.user_id)
        wait = sanction.until_ms / 1000 - self.runtime.now()
        notice = {"reason": sanction.reason, "until": sanction.until_ms,
                  "retry_after": retry_after(wait)}  # fmt: skip
        for sid in sids:  # before the disconnect, which follows it on the same connection
            self.outbox.emit(REMOVED_EVENTS[sanction.kind], notice, to=sid)
        self.outbox.emit(
            "message", {"name": None, "txt": f"{target.name} was removed by a moderator."},
            to=LOBBY,
        )  # fmt: skip
        self.removal.remove_user(target.user_id)
        for sid in sids:
            self.outbox.disconnect(sid)

    def _audit(
        self, conn: NamedConnection, action: str, target: str, reason: str | None, until: int = 0
    ) -> None:
        self.store.audit(conn.name, action, target, reason, until or None, self._now_ms())
        log.info("moderator %s: %s %s", conn.name, action, target, extra={"user_id": conn.user_id})

    def _now_ms(self) -> int:
        return int(self.runtime.now() * 1000)

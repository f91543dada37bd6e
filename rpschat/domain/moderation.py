"""Moderation: deleting messages, muting, kicking and banning, the audit log, reports, and
ignoring other users.

Moderators are the claimed names listed in MODERATORS. Sanctions are stored in the database
(they outlive restarts, and every node reads them); each node caches what it read for
`SANCTION_CACHE_SECONDS`, so a sanction set on one node holds on every other within that time
(at once on the node that set it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from rpschat.domain.chat import ChatService, Connection
from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.ports import LOBBY, ModerationStore, Sanction
from rpschat.domain.text import clean_name

log = logging.getLogger("rpschat.moderation")

MODERATORS_ROOM = "moderators"
SANCTION_CACHE_SECONDS = 1.0
KICK_SECONDS = 60.0  # a kicked user's tokens and log-ins are refused this long
MAX_MINUTES = 525_600  # a year
MAX_REASON_CHARS = 200
MAX_LOG = 200
NOT_A_MODERATOR = "Only moderators can do that."
REASON_REFUSAL = f"reason must be a string of 1 to {MAX_REASON_CHARS} characters."
MINUTES_REFUSAL = f"minutes must be a whole number from 1 to {MAX_MINUTES}."
LOG_LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_LOG}."


def until_text(until_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until_ms / 1000))


def _reason(reason: str | None) -> str | None:
    if reason is None:
        return None
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
    chat: ChatService
    store: ModerationStore
    moderators: tuple[str, ...] = ()  # claimed names, as configured
    _cache: dict[tuple, tuple[float, Sanction | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._moderator_keys = {self.chat.names.key(name) for name in self.moderators}

    # ---- who may, and who is sanctioned ------------------------------------------------------

    def is_moderator(self, user_id: str | None) -> bool:
        if not self._moderator_keys or user_id is None or self.chat.accounts is None:
            return False
        account = self.chat.accounts.of_user(user_id)
        return account is not None and account.key in self._moderator_keys

    def _moderator(self, sid: str) -> Connection:
        conn = self.chat.named(sid)
        self.chat.limit(conn, "other")
        if not self.is_moderator(conn.user_id):
            raise Refused(Code.NOT_MODERATOR, NOT_A_MODERATOR)
        return conn

    def on_named(self, conn: Connection) -> None:
        """A connection got its user (a name, a log-in, a resume): moderators hear reports."""
        try:
            moderator = self.is_moderator(conn.user_id)
        except Refused:  # the database is down: naming goes on; reports miss this moderator
            log.warning("could not tell whether %s moderates", conn.name)
            return
        if moderator:
            self.chat.outbox.join(conn.sid, MODERATORS_ROOM)

    def _active(self, kind: str, **where: str | None) -> Sanction | None:
        key = (kind, *sorted(where.items()))
        now = self.chat.runtime.now()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < SANCTION_CACHE_SECONDS:
            sanction = cached[1]
        else:
            sanction = self.store.active(kind, int(now * 1000), **where)
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, sanction)
        if sanction is not None and sanction.until_ms <= now * 1000:
            return None
        return sanction

    def _sanctioned(self, code: Code, sanction: Sanction, reason: str) -> Refused:
        """A sanction's refusal, saying how long to wait and until when."""
        wait = sanction.until_ms / 1000 - self.chat.runtime.now()
        return Refused(code, reason, retry_after=retry_after(wait), until=sanction.until_ms)

    def _forget_cached(self) -> None:
        self._cache.clear()

    def check_can_post(self, conn: Connection) -> None:
        """Raised for a muted user's message, game chat or direct message."""
        if conn.user_id is None:
            return
        mute = self._active("mute", user_id=conn.user_id)
        if mute is not None:
            raise self._sanctioned(
                Code.MUTED, mute, f"You are muted until {until_text(mute.until_ms)}."
            )

    def check_can_connect(self, address: str) -> None:
        try:
            ban = self._active("ban", address=address)
        except Refused:  # the database is down: connecting worked without it before, so it does
            log.warning("could not check %s against bans: let in", address)
            return
        if ban is not None:
            raise self._sanctioned(
                Code.BANNED, ban, f"You are banned until {until_text(ban.until_ms)}."
            )

    def check_can_take(self, conn: Connection, user_id: str | None, name: str) -> None:
        """Before a connection becomes `user_id` (a log-in or resume) or takes `name`."""
        self.check_can_connect(conn.address)
        for key in self.chat.names.keys(name):
            ban = self._active("ban", name_key=key)
            if ban is not None:
                until = until_text(ban.until_ms)
                raise self._sanctioned(Code.BANNED, ban, f"'{name}' is banned until {until}.")
        if user_id is not None:
            for kind in ("ban", "kick"):
                sanction = self._active(kind, user_id=user_id)
                if sanction is not None:
                    code = Code.BANNED if kind == "ban" else Code.KICKED
                    until = until_text(sanction.until_ms)
                    reason = f"You were removed by a moderator: wait until {until}."
                    raise self._sanctioned(code, sanction, reason)

    # ---- moderators' events ------------------------------------------------------------------

    def mod_delete(self, sid: str, message_id: int) -> None:
        conn = self._moderator(sid)
        deleted = self.chat.history.delete(message_id)
        if deleted is None:
            raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
        self._audit(conn, "delete", f"#{message_id} by {deleted.name}", None)
        self.chat.outbox.emit("message_deleted", {"id": message_id})

    def mod_mute(self, sid: str, name: str, minutes: int, reason: str | None) -> int:
        """Mute the user called `name`; return until when (ms since the epoch)."""
        minutes, reason = _minutes(minutes), _reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name))
        until = self._now_ms() + minutes * 60_000
        self.store.add(Sanction("mute", until, reason, user_id=target.user_id))
        self._forget_cached()
        self._audit(conn, "mute", target.name, reason, until)
        self.chat.outbox.emit(
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
        target = self._target(clean_name(name))
        if not self.store.remove("mute", user_id=target.user_id):
            raise Refused(Code.NOT_MUTED, f"{target.name} is not muted.")
        self._forget_cached()
        self._audit(conn, "unmute", target.name, None)

    def mod_kick(self, sid: str, name: str, reason: str | None) -> None:
        reason = _reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name), online=True)
        until = self._now_ms() + int(KICK_SECONDS * 1000)
        self.store.add(Sanction("kick", until, reason, user_id=target.user_id))
        self._forget_cached()
        self._audit(conn, "kick", target.name, reason, until)
        self._remove(target)

    def mod_ban(self, sid: str, name: str, minutes: int, reason: str | None) -> int:
        """Ban the user called `name`; return until when (ms since the epoch)."""
        minutes, reason = _minutes(minutes), _reason(reason)
        conn = self._moderator(sid)
        target = self._target(clean_name(name))
        until = self._now_ms() + minutes * 60_000
        address = self.chat.directory.address_of(target.user_id) if target.user_id else None
        self.store.add(Sanction("ban", until, reason, user_id=target.user_id,
                                name_key=target.name_key, address=address))  # fmt: skip
        self._forget_cached()
        self._audit(conn, "ban", target.name, reason, until)
        if target.online:
            self._remove(target)
        return until

    def mod_log(self, sid: str, limit: int | None) -> list[dict[str, Any]]:
        """The audit log's newest `limit` actions (default 50), newest first."""
        if limit is not None and not 1 <= limit <= MAX_LOG:
            raise Refused(Code.BAD_REQUEST, LOG_LIMIT_REFUSAL, field="limit")
        self._moderator(sid)
        return self.store.log(limit or 50)

    # ---- everyone's events -------------------------------------------------------------------

    def report(self, sid: str, message_id: int, reason: str) -> None:
        reason = _reason(reason)
        conn = self.chat.named(sid)
        self.chat.limit(conn, "other")
        message = self.chat.history.get(message_id)
        if message is None:
            raise Refused(Code.NO_SUCH_MESSAGE, "No such message.")
        report = {"id": self.store.report(conn.user_id, conn.name, message_id, reason,
                                          self._now_ms()),  # fmt: skip
                  "message_id": message_id, "name": message.name, "txt": message.text,
                  "reporter": conn.name, "reason": reason}  # fmt: skip
        self.chat.outbox.emit("report_filed", report, to=MODERATORS_ROOM)

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

    def ignores(self, user_id: str, other_id: str) -> bool:
        return self.store.ignores(user_id, other_id)

    # ---- helpers -----------------------------------------------------------------------------

    def _other(self, sid: str, name: str) -> tuple[Connection, str, str]:
        name = clean_name(name)
        conn = self.chat.named(sid)
        self.chat.limit(conn, "other")
        target = self._target(name)
        if target.user_id is None:
            raise Refused(Code.NOT_ONLINE, f"{name} is not online.")
        return conn, target.user_id, target.name

    def _target(self, name: str, online: bool = False) -> Target:
        """The user called `name` (cleaned): online, or a claimed name unless `online`."""
        directory = self.chat.directory
        user_id = directory.user_of(name)
        held = directory.name_of(user_id) if user_id else None
        account = None
        if self.chat.accounts is not None:
            account = self.chat.accounts.get(self.chat.names.key(name))
        if held is None and account is not None:
            user_id = account.user_id
        if user_id is None or (online and held is None):
            raise Refused(Code.NOT_ONLINE, f"{name} is not online.")
        shown = held or (account.name if account else name)
        if account is not None and account.user_id == user_id:
            if self.is_moderator(user_id):
                raise Refused(Code.TARGET_IS_MODERATOR, "Moderators can't act on each other.")
            return Target(shown, user_id, account.key, held is not None)
        return Target(shown, user_id, None, held is not None)

    def _remove(self, target: Target) -> None:
        """Every connection of the user is closed, and the user leaves at once."""
        chat = self.chat
        sids = chat.directory.connections_of(target.user_id)
        chat.outbox.emit(
            "message", {"name": None, "txt": f"{target.name} was removed by a moderator."},
            to=LOBBY,
        )  # fmt: skip
        chat.remove_user(target.user_id)
        for sid in sids:
            chat.outbox.disconnect(sid)

    def _audit(
        self, conn: Connection, action: str, target: str, reason: str | None, until: int = 0
    ) -> None:
        self.store.audit(conn.name, action, target, reason, until or None, self._now_ms())
        log.info("moderator %s: %s %s", conn.name, action, target, extra={"user_id": conn.user_id})

    def _now_ms(self) -> int:
        return int(self.chat.runtime.now() * 1000)

"""Tools for a busy room (issue 25, point 7), for moderators and for the operator's command
line (ops/cli.py, as "operator"): lifting a ban (`mod_unban`) and removing everything a user
posted in the last minutes (`mod_purge`: lobby and game chat, from every page, the history
and replays). Each action goes to the audit log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from rpschat.domain.errors import Code, Refused
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    LOBBY,
    Account,
    AccountStore,
    Callers,
    Directory,
    HistoryStore,
    Limits,
    ModerationStore,
    NamedConnection,
    Outbox,
    Runtime,
    Sanction,
    Sanctioning,
    StoredMessage,
)
from rpschat.domain.text import clean_message, clean_name

log = logging.getLogger("rpschat.moderation")

OPERATOR = "operator"  # the audit log's name for the command line
MODERATOR_ROLE = "moderator"  # domain/roles.py's MODERATOR and OWNER
OWNER_ROLE = "owner"
MAX_SLOW_SECONDS = 3600
SLOW_REFUSAL = f"seconds must be a whole number from 0 (off) to {MAX_SLOW_SECONDS}."
ANNOUNCER = "Announcement"  # the name the operator's announcements are posted under
ANNOUNCER_ID = "operator"  # their user id (a user's ids are random, never this)
MAX_PURGE_MINUTES = 10_080  # a week
MAX_PURGED = 1000  # messages one purge removes at most
PURGE_MINUTES_REFUSAL = f"minutes must be a whole number from 1 to {MAX_PURGE_MINUTES}."


class SlowSetting(Protocol):
    def set(self, seconds: int) -> None: ...


class ModeratorRoles(Protocol):
    """Who holds which role, and an owner's grants (domain/roles.py)."""

    def has(self, user_id: str | None, role: str) -> bool: ...
    def grant_by_name(self, name: str, role: str, by: str) -> tuple[Account, bool]: ...
    def revoke_from(self, name: str, role: str, by: str) -> Account: ...


@dataclass
class RoomTools:
    roles: ModeratorRoles  # owners grant and revoke moderators
    callers: Callers
    limits: Limits
    sanctions: Sanctioning
    store: ModerationStore  # the audit log
    directory: Directory
    accounts: AccountStore | None
    names: NameRules
    history: HistoryStore
    outbox: Outbox
    runtime: Runtime
    max_message_chars: int = 2000
    slow: SlowSetting | None = None

    # ---- moderators' events ------------------------------------------------------------------

    def mod_unban(self, sid: str, name: str) -> str:
        return self.unban(self._moderator(sid).name, name)

    def mod_purge(self, sid: str, name: str, minutes: int) -> int:
        return self.purge(self._moderator(sid).name, name, minutes)

    # ---- owners' events ----------------------------------------------------------------------

    def mod_grant(self, sid: str, name: str) -> tuple[str, bool]:
        """An owner makes the claimed account of `name` a moderator: (its name, granted now)."""
        conn = self._owner(sid)
        account, granted = self.roles.grant_by_name(name, MODERATOR_ROLE, conn.name)
        self._tell_role(account.user_id, True)
        return account.name, granted

    def mod_revoke(self, sid: str, name: str) -> str:
        conn = self._owner(sid)
        account = self.roles.revoke_from(name, MODERATOR_ROLE, conn.name)
        self._tell_role(account.user_id, False)
        return account.name

    def mod_slow(self, sid: str, seconds: int) -> None:
        """Slow mode for everyone (0: off), told to everyone online."""
        if not 0 <= seconds <= MAX_SLOW_SECONDS:
            raise Refused(Code.BAD_REQUEST, SLOW_REFUSAL, field="seconds")
        conn = self._moderator(sid)
        if self.slow is None:
            raise Refused(Code.INTERNAL_ERROR, "Slow mode is not available.")
        self.slow.set(seconds)
        self._audit(conn.name, "slow", f"{seconds} s" if seconds else "off")
        self.outbox.emit("slow_mode", {"seconds": seconds}, to=LOBBY)
        txt = (f"A moderator turned slow mode on: one message every {seconds} s."
               if seconds else "A moderator turned slow mode off.")  # fmt: skip
        self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY)

    def my_roles(self, sid: str) -> list[str]:
        """The caller's roles ("moderator", "owner"), read now: what its page shows."""
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        return [role for role in (MODERATOR_ROLE, OWNER_ROLE) if self.roles.has(conn.user_id, role)]

    def _owner(self, sid: str) -> NamedConnection:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        if not self.roles.has(conn.user_id, OWNER_ROLE):
            raise Refused(Code.NOT_OWNER, "Only owners can do that.")
        return conn

    def _tell_role(self, user_id: str, moderator: bool) -> None:
        """The account's pages (on every node) learn it at once; its powers are read from the
        database at each use, so they change at once on every node too."""
        owner = self.roles.has(user_id, OWNER_ROLE)
        for sid in self.directory.connections_of(user_id):
            self.outbox.emit("role_changed", {"moderator": moderator, "owner": owner}, to=sid)

    # ---- the same, for any actor (a moderator's name, or OPERATOR) ---------------------------

    def unban(self, actor: str, name: str) -> str:
        """Lifts the ban of the user called `name` (a guest who left: by its name); returns
        the name as shown."""
        name = clean_name(name)
        user_id, shown = self._user(name)
        if not self.sanctions.lift("ban", user_id, self.names.key(shown)):
            raise Refused(Code.NOT_BANNED, f"{shown} is not banned.")
        self._audit(actor, "unban", shown)
        return shown

    def purge(self, actor: str, name: str, minutes: int) -> int:
        """Deletes what the user called `name` posted in the last `minutes` (lobby and game
        chat); everyone online is told of each (`message_deleted`). Returns how many."""
        if not 1 <= minutes <= MAX_PURGE_MINUTES:
            raise Refused(Code.BAD_REQUEST, PURGE_MINUTES_REFUSAL, field="minutes")
        name = clean_name(name)
        user_id, shown = self._user(name)
        since = int(self.runtime.now() * 1000) - minutes * 60_000
        posted = self.history.posted_since(user_id, shown, since, MAX_PURGED)
        removed = 0
        for message in posted:
            gone = self.history.delete(message.id)
            if gone is not None:
                removed += 1
                self.outbox.emit("message_deleted", {"id": message.id, "seq": gone.seq})
        self._audit(actor, "purge", f"{shown}: {removed} messages of the last {minutes} min")
        return removed

    def ban(self, actor: str, name: str, seconds: int, reason: str | None) -> int:
        """Bans the user called `name` (its name, its address) for `seconds`; its connections,
        on every node, are told (`banned`) and closed. Returns until when (ms)."""
        name = clean_name(name)
        user_id, shown = self._user(name)
        until = int(self.runtime.now() * 1000) + seconds * 1000
        address = self.directory.address_of(user_id) if user_id else None
        ban = Sanction("ban", until, reason, user_id=user_id, name_key=self.names.key(shown),
                       address=address)  # fmt: skip
        self.sanctions.impose(ban)
        self.store.audit(actor, "ban", shown, reason, until, int(self.runtime.now() * 1000))
        if user_id is not None:
            notice = {"reason": reason, "until": until, "retry_after": seconds}
            for sid in self.directory.connections_of(user_id):
                self.outbox.emit("banned", notice, to=sid)
                self.outbox.disconnect(sid)
        return until

    def announce(self, text: str) -> int:
        """The operator's announcement: a lobby message from "Announcement" (stored, in the
        history and replays), sent to every node's clients through the outbox (with
        REDIS_URL, the message queue); returns its id."""
        text = clean_message(text, self.max_message_chars)

        def broadcast(message: StoredMessage) -> None:
            self.outbox.emit("message", message.to_wire(), to=LOBBY)

        message, _ = self.history.append(LOBBY, ANNOUNCER_ID, ANNOUNCER, text, on_commit=broadcast)
        self._audit(OPERATOR, "announce", f"#{message.id}")
        return message.id

    def stats(self, live_games: int) -> dict[str, int]:
        """What `flask stats` prints: users online, games live, lobby messages today (UTC)."""
        now_ms = int(self.runtime.now() * 1000)
        today = now_ms - now_ms % 86_400_000
        return {
            "online": self.directory.count(),
            "games_live": live_games,
            "messages_today": self.history.count_since(LOBBY, today),
        }

    # ---- helpers -----------------------------------------------------------------------------

    def _moderator(self, sid: str) -> NamedConnection:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        if not self.sanctions.is_moderator(conn.user_id):
            raise Refused(Code.NOT_MODERATOR, "Only moderators can do that.")
        return conn

    def _user(self, name: str) -> tuple[str | None, str]:
        """(user id, name shown) of `name`: online, a claimed name, or (None, name): a guest
        who left, known by the name its messages and sanctions carry."""
        user_id = self.directory.user_of(name)
        held = self.directory.name_of(user_id) if user_id else None
        if held is not None:
            return user_id, held
        account = self.accounts.get(self.names.key(name)) if self.accounts else None
        if account is not None:
            return account.user_id, account.name
        return None, name

    def _audit(self, actor: str, action: str, target: str) -> None:
        self.store.audit(actor, action, target, None, None, int(self.runtime.now() * 1000))
        log.info("%s: %s %s", actor, action, target)

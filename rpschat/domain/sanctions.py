"""The sanctions in force (mutes, kicks, bans), who moderates, and who ignores whom: what every
other service checks before it lets a user in, or lets it post.

Sanctions are stored in the database (they outlive restarts, and every node reads them); each
node caches what it read for `SANCTION_CACHE_SECONDS`, so a sanction set on one node holds on
every other within that time (at once on the node that set it). Moderators' events are in
domain/moderation.py.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    AccountStore,
    Connection,
    ModerationStore,
    Outbox,
    Runtime,
    Sanction,
)

log = logging.getLogger("rpschat.moderation")

MODERATORS_ROOM = "moderators"
SANCTION_CACHE_SECONDS = 1.0
CACHE_ENTRIES = 10_000

CacheKey = tuple[str, tuple[tuple[str, str | None], ...]]


def until_text(until_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until_ms / 1000))


@dataclass
class Sanctions:
    store: ModerationStore
    names: NameRules
    accounts: AccountStore | None  # moderators are claimed names
    outbox: Outbox
    runtime: Runtime
    moderators: tuple[str, ...] = ()  # claimed names, as configured
    _cache: dict[CacheKey, tuple[float, Sanction | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._moderator_keys = {self.names.key(name) for name in self.moderators}

    # ---- who moderates -----------------------------------------------------------------------

    def is_moderator(self, user_id: str | None) -> bool:
        if not self._moderator_keys or user_id is None or self.accounts is None:
            return False
        account = self.accounts.of_user(user_id)
        return account is not None and account.key in self._moderator_keys

    def on_named(self, conn: Connection) -> None:
        """A connection got its user (a name, a log-in, a resume): moderators hear reports."""
        try:
            moderator = self.is_moderator(conn.user_id)
        except Refused:  # the database is down: naming goes on; reports miss this moderator
            log.warning("could not tell whether %s moderates", conn.name)
            return
        if moderator:
            self.outbox.join(conn.sid, MODERATORS_ROOM)

    # ---- the checks --------------------------------------------------------------------------

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
        for key in self.names.keys(name):
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

    def ignores(self, user_id: str, other_id: str) -> bool:
        return self.store.ignores(user_id, other_id)

    # ---- changing them (domain/moderation.py) ------------------------------------------------

    def impose(self, sanction: Sanction) -> None:
        self.store.add(sanction)
        self._cache.clear()

    def lift(self, kind: str, user_id: str | None) -> bool:
        lifted = self.store.remove(kind, user_id=user_id)
        self._cache.clear()
        return lifted

    def _sanctioned(self, code: Code, sanction: Sanction, reason: str) -> Refused:
        """A sanction's refusal, saying how long to wait and until when."""
        wait = sanction.until_ms / 1000 - self.runtime.now()
        return Refused(code, reason, retry_after=retry_after(wait), until=sanction.until_ms)

    def _active(self, kind: str, **where: str | None) -> Sanction | None:
        key = (kind, tuple(sorted(where.items())))
        now = self.runtime.now()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < SANCTION_CACHE_SECONDS:
            sanction = cached[1]
        else:
            sanction = self.store.active(kind, int(now * 1000), **where)
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = (now, sanction)
        if sanction is not None and sanction.until_ms <= now * 1000:
            return None
        return sanction

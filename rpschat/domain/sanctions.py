"""The sanctions in force (mutes, kicks, bans), who moderates, and who ignores whom: what every
other service checks before it lets a user in, or lets it post.

Who moderates is the accounts holding the moderator role (domain/roles.py), by user id. A mute
holds the address the user last connected from too: a guest from there is muted as long (a new
connection, a new name, issue 21); an account is muted by its own user only.

Sanctions are stored in the database (they outlive restarts, and every node reads them); each
node caches what it read for `SANCTION_CACHE_SECONDS`, so a sanction set on one node holds on
every other within that time (at once on the node that set it). Moderators' events are in
domain/moderation.py.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.names import NameRules
from rpschat.domain.ports import (
    AccountStore,
    Connection,
    ModerationStore,
    RoleChecks,
    Runtime,
    Sanction,
)
from rpschat.domain.roles import MODERATOR

log = logging.getLogger("rpschat.moderation")

SANCTION_CACHE_SECONDS = 1.0
CACHE_ENTRIES = 10_000  # a bound for a burst within one SANCTION_CACHE_SECONDS

CacheKey = tuple[str, tuple[tuple[str, str | None], ...]]


def until_text(until_ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(until_ms / 1000))


@dataclass
class Sanctions:
    store: ModerationStore
    names: NameRules
    accounts: AccountStore | None  # an account is muted by its user only, never its address
    roles: RoleChecks  # who moderates
    runtime: Runtime
    # oldest read first: what was read over SANCTION_CACHE_SECONDS ago leaves at the next read
    _cache: OrderedDict[CacheKey, tuple[float, Sanction | None]] = field(
        default_factory=OrderedDict
    )

    # ---- who moderates -----------------------------------------------------------------------

    def is_moderator(self, user_id: str | None) -> bool:
        """By user id and role, never by name: an account the operator designated."""
        return self.roles.has(user_id, MODERATOR)

    # ---- the checks --------------------------------------------------------------------------

    def check_can_post(self, conn: Connection) -> None:
        """Raised for a muted user's message, game chat, direct message, report, challenge,
        rename, and for a guest's name from a muted user's address."""
        mute = self._mute_of(conn)
        if mute is not None:
            raise self._sanctioned(
                Code.MUTED, mute, f"You are muted until {until_text(mute.until_ms)}."
            )

    def _mute_of(self, conn: Connection) -> Sanction | None:
        """The user's mute; for a guest, also a mute of the address it comes from."""
        if conn.user_id is not None:
            mute = self._active("mute", user_id=conn.user_id)
            if mute is not None:
                return mute
        mute = self._active("mute", address=conn.address)
        if mute is None or self._is_claimed(conn.user_id):  # an account: by its user id only
            return None
        return mute

    def _is_claimed(self, user_id: str | None) -> bool:
        accounts = self.accounts
        return (
            user_id is not None and accounts is not None and accounts.of_user(user_id) is not None
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
        """Before a connection becomes `user_id` (a log-in or resume) or takes `name` as a
        guest (`user_id` None: a first name or a rename, a line to everyone, which a muted
        user or a guest of a muted address may not send)."""
        self.check_can_connect(conn.address)
        if user_id is None and name != conn.name:
            self.check_can_post(conn)
        if user_id is not None and not self._is_claimed(user_id):
            self._check_user(user_id)  # a guest's own ban (which holds its name) says it first
        for key in self.names.keys(name):
            ban = self._active("ban", name_key=key)
            if ban is not None:
                until = until_text(ban.until_ms)
                raise self._sanctioned(Code.BANNED, ban, f"'{name}' is banned until {until}.")
        if user_id is not None:
            self._check_user(user_id)

    def _check_user(self, user_id: str) -> None:
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

    def lift(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        lifted = self.store.remove(kind, user_id=user_id, name_key=name_key)
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
            self._remember(key, now, sanction)
        if sanction is not None and sanction.until_ms <= now * 1000:
            return None
        return sanction

    def _remember(self, key: CacheKey, now: float, sanction: Sanction | None) -> None:
        """Cache a read, and forget those too old to be used again. Kept until the cache was
        full (CACHE_ENTRIES), a read for every address and name seen stayed for good: about
        250 bytes for each client that connected and took a name."""
        cache = self._cache
        cache.pop(key, None)
        while cache:
            oldest_key, (read_at, _) = next(iter(cache.items()))
            if now - read_at < SANCTION_CACHE_SECONDS:
                break
            del cache[oldest_key]
        if len(cache) >= CACHE_ENTRIES:
            cache.clear()
        cache[key] = (now, sanction)

"""The chat: names, messages, presence, typing, history and resuming after a reconnect.

Plain Python: every effect on clients goes through an `Outbox`, storage through small interfaces,
so the whole chat can be tested and reused without a server.
"""

from __future__ import annotations

import json
import logging
import secrets
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rpschat.domain.errors import Code, Refused, retry_after
from rpschat.domain.names import (
    PASSWORD_MAX_CHARS,
    NameRules,
    clean_password,
    look_alike_refusal,
)
from rpschat.domain.ports import (
    LOBBY,
    Account,
    AccountStore,
    Directory,
    HistoryStore,
    Outbox,
    PasswordHasher,
    PresenceListener,
    RateLimiter,
    Runtime,
    StoredMessage,
    TokenStore,
    name_taken,
    token_slot,
    user_room,
)
from rpschat.domain.ratelimit import Bucket, RateSpec, take_token
from rpschat.domain.text import clean_client_id, clean_message, clean_name, name_key

log = logging.getLogger("rpschat.chat")

MAX_REPLAY = 1000
MAX_PAGE = 200
PAGE_LIMIT_REFUSAL = f"limit must be a whole number from 1 to {MAX_PAGE}."
RENAME_WHILE_PLAYING = "You can't change your name during a game or while looking for one."


def new_user_id() -> str:
    """A user's id: random, so it reveals nothing and cannot be guessed from another's."""
    return secrets.token_hex(8)


def wire_bytes(value: Any) -> int:
    """The size of `value` in a frame, as python-socketio encodes it (compact JSON, non-ASCII
    escaped: an emoji is 12 bytes)."""
    return len(json.dumps(value, separators=(",", ":")))


@dataclass(frozen=True)
class UsersPage:
    """One page of the names online (`users`)."""

    names: list[str]
    count: int  # everyone online, not only this page
    has_more: bool


@dataclass(frozen=True)
class Auth:
    """What a client connects with (docs/protocol.md, "Resuming"): all None for a new user."""

    token: str | None = None
    last_id: int | None = None  # the highest message id it has seen
    dm_last_id: int | None = None  # the highest direct message id it has seen


@dataclass(frozen=True)
class Named:
    """The name a connection holds now, and the token that resumes it."""

    username: str
    token: str


@dataclass(frozen=True)
class Stored:
    """A chat or direct message once committed (or the first one with its client id)."""

    id: int
    ts: int
    duplicate: bool = False


@dataclass(frozen=True)
class MessagePage:
    """Messages as sent on the wire, oldest first, and whether older (or newer) ones remain."""

    messages: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class ChatLimits:
    max_message_chars: int = 2000
    chat_rate: RateSpec | None = RateSpec(20, 10.0)
    other_rate: RateSpec | None = RateSpec(60, 10.0)
    resume_grace_seconds: float = 10.0
    unnamed_idle_seconds: float = 120.0
    history_on_join: int = 50
    # Names taken (joins, renames, resumes that announce an entry) per client address: each is
    # a line to everyone, and a new connection is a new user with a fresh per-user bucket.
    join_rate: RateSpec | None = RateSpec(30, 60.0)
    # The largest answer one event gets (join-time history, a history page, the users list,
    # a resume's replay): a quarter of MAX_BACKLOG_BYTES, so that no legal state of the server
    # makes a frame that drops its reader as a slow consumer. None: no limit.
    max_answer_bytes: int | None = 256 * 1024
    # Password attempts (log-ins to a claimed name, releases), per claimed name and per address
    login_rate_per_name: RateSpec | None = RateSpec(5, 60.0)
    login_rate_per_address: RateSpec | None = RateSpec(20, 60.0)


@dataclass
class Connection:
    sid: str
    address: str
    connected_at: float
    user_id: str | None = None
    name: str | None = None
    token: str | None = None
    replaced: bool = False
    dm_cursor: int | None = None  # auth.dm_last_id: the direct messages a resume replays


@dataclass
class _NoGame:
    """Stands in until the game registers itself."""

    def is_busy(self, user_id: str) -> bool:
        return False

    def user_dropped(self, user_id: str, name: str) -> None:
        pass

    def user_back(self, user_id: str, name: str, sid: str) -> None:
        pass

    def replay_game_chat(self, user_id: str, name: str, sid: str, last_id: int) -> None:
        pass

    def user_gone(self, user_id: str, name: str) -> None:
        pass


def _who(conn: Connection | None) -> dict[str, Any]:
    """A log line's structured fields (JSON logs show the user id hashed)."""
    if conn is None:
        return {}
    return {"sid": conn.sid, "user_id": conn.user_id, "address": conn.address}


@dataclass
class ChatService:
    directory: Directory
    tokens: TokenStore
    history: HistoryStore
    limiter: RateLimiter
    outbox: Outbox
    runtime: Runtime
    limits: ChatLimits = field(default_factory=ChatLimits)
    # Look-alike keys: with no skeleton function given, only case and width are folded
    names: NameRules = field(default_factory=lambda: NameRules(lambda text: text))
    accounts: AccountStore | None = None  # claimed names; None: claiming is off
    passwords: PasswordHasher | None = None
    # Moderation (domain/moderation.py): mutes, bans, kicks; None: no moderation
    guard: Any = None
    # Direct messages (domain/dms.py): told when a connection becomes a user's; None: no DMs
    dms: Any = None
    listener: PresenceListener = field(default_factory=_NoGame)
    connections: dict[str, Connection] = field(default_factory=dict)
    # The highest lobby message id delivered to this node's sockets (see _replay).
    broadcast_watermark: int = 0
    _drop_generation: dict[str, int] = field(default_factory=dict)
    _per_address: Counter = field(default_factory=Counter)
    _joins: dict[str, Bucket] = field(default_factory=dict)  # per address, see _take_join
    _joins_prune_at: int = 1024

    # ---- connections -------------------------------------------------------------------------

    def connect(self, sid: str, address: str, auth: Auth) -> Callable[[], None] | None:
        """Register a connection. Raises Refused (a ban) before taking anything.

        With a token, return the resume: it sends `session` and the replay, so the caller runs
        it once the client has been told it is connected, before the connection's next event.
        If the resume fails, it releases all the connection took (its slot in the per-address
        count, the name) and raises: the caller then ends the connection."""
        if self.guard is not None:
            self.guard.check_can_connect(address)
        now = self.runtime.now()
        self.connections[sid] = Connection(sid, address, now, dm_cursor=auth.dm_last_id)
        self._per_address[address] += 1
        token = auth.token
        if token is None:
            self.outbox.join(sid, LOBBY)
            return None
        return lambda: self._resume_or_join(sid, token, auth.last_id)

    def _resume_or_join(self, sid: str, token: str, last_id: int | None) -> None:
        if sid not in self.connections:
            return  # gone before its resume ran
        try:
            if not self._resume(sid, token, last_id):
                self.outbox.join(sid, LOBBY)
        except BaseException:
            self.disconnect(sid, voluntary=False)
            raise

    def connections_from(self, address: str) -> int:
        return self._per_address[address]

    def disconnect(self, sid: str, voluntary: bool) -> None:
        conn = self.connections.pop(sid, None)
        if conn is None:
            return
        self._per_address[conn.address] -= 1
        if not self._per_address[conn.address]:
            del self._per_address[conn.address]
        self.limiter.forget(sid)
        if conn.user_id is None:
            log.info("disconnect %s (unnamed)", sid, extra=_who(conn))
            return
        if conn.replaced:
            return
        if not self.directory.detach(conn.user_id, sid):
            return  # a newer connection of the same user took over
        log.info(
            "disconnect %s (%s)", conn.name, "left" if voluntary else "dropped", extra=_who(conn)
        )
        if voluntary:
            self._release(conn.user_id)
            return
        self._drop(conn.user_id, conn.name)

    def _drop(self, user_id: str, name: str) -> None:
        """The user's connection is lost: hold the name for the grace period, then release."""
        if self.limits.resume_grace_seconds <= 0:
            self._release(user_id)
            return
        generation = self._drop_generation.get(user_id, 0) + 1
        self._drop_generation[user_id] = generation
        self.listener.user_dropped(user_id, name)
        self.runtime.spawn(self._release_after_grace, user_id, generation)

    def _release_after_grace(self, user_id: str, generation: int) -> None:
        self.runtime.sleep(self.limits.resume_grace_seconds)
        if self._drop_generation.get(user_id) != generation:
            return
        del self._drop_generation[user_id]
        if self.directory.sid_of(user_id) is None:
            self._release(user_id)

    def _release(self, user_id: str) -> None:
        name = self.directory.release(user_id)
        if name is None:
            return
        self.limiter.forget(user_id)
        self.outbox.emit("message", {"name": None, "txt": f"{name} has left the chat!"}, to=LOBBY)
        self._push_presence("leave", name)
        self.listener.user_gone(user_id, name)

    # ---- for the cluster keeper (rpschat/cluster.py) -------------------------------------------

    def drop_orphan(self, user_id: str) -> None:
        """A user taken over from a dead node: dropped, as if its connection had been lost."""
        name = self.directory.name_of(user_id)
        if name is None:
            return
        sid = self.directory.sid_of(user_id)
        if sid is not None and not self.directory.detach(user_id, sid):
            return  # it resumed somewhere meanwhile
        self._drop(user_id, name)

    def release_user(self, user_id: str) -> None:
        self._release(user_id)

    def remove_user(self, user_id: str) -> None:
        """A moderator removed the user: it leaves at once, without a "has left" line (the
        moderation says why), and its connections here close without a grace period."""
        for conn in list(self.connections.values()):
            if conn.user_id == user_id:
                conn.replaced = True
        self._drop_generation.pop(user_id, None)
        name = self.directory.release(user_id)
        if name is None:
            return
        self.limiter.forget(user_id)
        self._push_presence("leave", name)
        self.listener.user_gone(user_id, name)

    def local_users(self) -> set[str]:
        """Users this node answers for: connected here, or in their grace period here."""
        connected = {c.user_id for c in list(self.connections.values()) if c.user_id}
        return connected | set(self._drop_generation)

    def note_delivered(self, message_id: int) -> None:
        """A lobby message reached this node's sockets (with Redis: sent from any node)."""
        self.broadcast_watermark = max(self.broadcast_watermark, message_id)

    def kick_idle_unnamed(self) -> int:
        """Disconnect connections that never picked a name in time; return how many."""
        deadline = self.runtime.now() - self.limits.unnamed_idle_seconds
        idle = [
            c.sid
            for c in self.connections.values()
            if c.user_id is None and c.connected_at < deadline
        ]
        for sid in idle:
            self.outbox.disconnect(sid)
        return len(idle)

    # ---- resuming ----------------------------------------------------------------------------

    def _resume(self, sid: str, token: str, last_id: int | None) -> bool:
        grant = self.tokens.resolve(token)
        if grant is None:
            self._resume_failed(
                sid, Refused(Code.SESSION_EXPIRED, "Your session has expired: pick a name again.")
            )
            return False
        name = self.directory.name_of(grant.user_id)
        announce = name is None
        if not announce and self.guard is not None:
            try:
                self.guard.check_can_take(self.connections[sid], grant.user_id, name)
            except Refused as refusal:
                self._resume_failed(sid, refusal)
                return False
        if announce:  # the grace period ran out: take the name again if still free
            try:
                self._take_join(self.connections[sid].address)
                self._check_not_claimed_by_another(grant.user_id, grant.name)
                if self.guard is not None:
                    self.guard.check_can_take(self.connections[sid], grant.user_id, grant.name)
                self.directory.claim(grant.user_id, grant.name)
            except Refused as refusal:
                self._resume_failed(sid, refusal)
                return False
            name = grant.name
        try:
            self._adopt(sid, grant.user_id, name, token)
        except BaseException:
            if announce and self.connections[sid].user_id is None:
                self.directory.release(grant.user_id)  # not ours yet: connect() can't see it
            raise
        self._drop_generation.pop(grant.user_id, None)
        log.info("resume %s", name, extra=_who(self.connections.get(sid)))
        self.outbox.emit("session", {"resumed": True, "username": name, "token": token}, to=sid)
        if announce:
            self._announce_entry(sid, name)
        if last_id is not None:
            self._replay(sid, last_id)
        else:
            self.outbox.join(sid, LOBBY)
            self._send_recent(sid)
        self.listener.user_back(grant.user_id, name, sid)
        if last_id is not None:
            self.listener.replay_game_chat(grant.user_id, name, sid, last_id)
        if self.dms is not None:
            self.dms.attach(sid, grant.user_id, self.connections[sid].dm_cursor, new_user=False)
        return True

    def _resume_failed(self, sid: str, refusal: Refused) -> None:
        self.outbox.emit("session", {"resumed": False, **refusal.to_wire()}, to=sid)

    def _adopt(self, sid: str, user_id: str, name: str, token: str) -> None:
        old_sid = self.directory.attach(user_id, sid, token_slot(token))
        conn = self.connections[sid]
        conn.user_id, conn.name, conn.token = user_id, name, token  # from here disconnect() frees
        self.outbox.join(sid, user_room(user_id))
        if old_sid is not None:
            old = self.connections.get(old_sid)
            if old is not None:
                old.replaced = True
            self.outbox.disconnect(old_sid)
        self.directory.note_address(user_id, conn.address)  # for a ban by address
        if self.guard is not None:
            self.guard.on_named(conn)

    def _replay(self, sid: str, last_id: int) -> None:
        """Send what the client missed, in order, then let live messages flow.

        Messages up to the watermark were delivered here before this connection joined the
        lobby, so they are replayed; later ones reach it live. Joining right after seeing the
        watermark unchanged (no yield in between) leaves no gap and sends nothing twice. A node
        that has delivered nothing yet replays everything stored (docs/protocol.md, "Resume")."""
        sent = sent_bytes = 0
        budget = self.limits.max_answer_bytes
        cut_after = None  # the last id replayed, when the replay stopped short of the watermark
        while True:
            watermark = self.broadcast_watermark
            if (watermark == 0 or watermark > last_id) and cut_after is None:
                for message in self.history.after(LOBBY, last_id, MAX_REPLAY - sent):
                    if watermark and message.id > watermark:
                        break
                    wire = {**message.to_wire(), "replayed": True}
                    sent_bytes += wire_bytes(wire)
                    if sent and budget is not None and sent_bytes > budget:
                        cut_after = last_id
                        break
                    self.outbox.emit("message", wire, to=sid)
                    sent += 1
                    last_id = message.id
                    if sent >= MAX_REPLAY:
                        cut_after = last_id
                        break
                last_id = max(last_id, watermark)
            if self.broadcast_watermark == watermark:
                if cut_after is not None:
                    self.outbox.emit("replay_truncated", {"last_id": cut_after}, to=sid)
                self.outbox.join(sid, LOBBY)
                return

    # ---- events ------------------------------------------------------------------------------

    def set_username(self, sid: str, username: str, password: str | None) -> Named:
        """Name the connection, rename it, or log it in to a claimed name (with `password`)."""
        name = clean_name(username)
        conn = self.connections[sid]
        self._limit(conn, "other")
        self.names.check_allowed(name)
        account = self._account_like(name)
        if account is not None:
            return self._log_in(conn, name, account, password)
        if password is not None:
            raise Refused(
                Code.NOT_CLAIMED,
                f"'{name}' is not claimed: take it without a password, then claim it.",
            )
        if self.guard is not None:
            self.guard.check_can_take(conn, None, name)
        self._check_look_alike_online(conn, name)
        if name != conn.name:
            self._take_join(conn.address)
        if conn.user_id is None:
            return self._name_new_user(conn, name)
        return self._rename(conn, name)

    # ---- claimed names -----------------------------------------------------------------------

    def _account_like(self, name: str) -> Account | None:
        """The claimed name that `name` is or looks like, if any."""
        if self.accounts is None:
            return None
        for key in self.names.keys(name):
            account = self.accounts.get(key)
            if account is not None:
                return account
        return None

    def _check_look_alike_online(self, conn: Connection, name: str) -> None:
        """A name that looks like one online is refused, saying so (the directory would refuse
        it as taken anyway: its names are unique by look-alike key)."""
        for key_name in (name, *self.names.keys(name)[1:]):
            holder = self.directory.user_of(key_name)
            if holder is None or holder == conn.user_id:
                continue
            other = self.directory.name_of(holder)
            if other is not None and name_key(other) != name_key(name):
                raise look_alike_refusal(name, other, claimed=False)

    def _check_not_claimed_by_another(self, user_id: str, name: str) -> None:
        account = self._account_like(name)
        if account is not None and account.user_id != user_id:
            raise Refused(
                Code.NAME_CLAIMED, f"The name '{account.name}' has been claimed: pick a name again."
            )

    def _log_in(self, conn: Connection, name: str, account: Account, password: str | None) -> Named:
        if conn.user_id == account.user_id:
            return Named(conn.name, conn.token)
        if name_key(name) != name_key(account.name):
            raise look_alike_refusal(name, account.name, claimed=True)
        if password is None:
            raise Refused(
                Code.NAME_CLAIMED,
                f"The name '{account.name}' is claimed: log in with its password.",
            )
        if conn.user_id is not None and self.listener.is_busy(conn.user_id):
            raise Refused(Code.RENAME_WHILE_PLAYING, RENAME_WHILE_PLAYING)
        self._limit_password_attempts(conn, account)
        if not self._password_matches(account, password):
            raise Refused(
                Code.WRONG_PASSWORD, f"Wrong password: the name '{account.name}' is claimed."
            )
        if self.guard is not None:
            self.guard.check_can_take(conn, account.user_id, account.name)
        self._take_join(conn.address)
        guest = conn.user_id, conn.name, conn.token
        answer = self._enter_account(conn, account, guest)
        if guest[0] is not None:
            self._leave_as_guest(conn, guest[0], guest[1])
        return answer

    def _limit_password_attempts(self, conn: Connection, account: Account) -> None:
        now = self.runtime.now()
        try:
            limits = self.limits
            self.limiter.check(f"login:{account.key}", "login", limits.login_rate_per_name, now)
            self.limiter.check(f"login@{conn.address}", "login", limits.login_rate_per_address, now)
        except Refused as refused:
            if refused.code is not Code.RATE_LIMITED:  # Redis is down, say: not the caller's
                raise
            wait = refused.details["retry_after"]
            raise Refused(
                Code.TOO_MANY_ATTEMPTS,
                f"Too many password attempts: wait {wait:.1f} s.",
                retry_after=wait,
            ) from None

    def _password_matches(self, account: Account, password: str) -> bool:
        if not 0 < len(password) <= PASSWORD_MAX_CHARS:
            return False
        return bool(
            self.runtime.run_blocking(self.passwords.verify, account.password_hash, password)
        )

    def _leave_as_guest(self, conn: Connection, user_id: str, name: str) -> None:
        """A guest logged in to a claimed name: once the connection is the account's, the guest
        leaves (unless another connection of it is still here)."""
        self.outbox.leave(conn.sid, user_room(user_id))
        if self.dms is not None:
            self.dms.detach(conn.sid, user_id)
        if self.directory.detach(user_id, conn.sid):
            log.info("leave %s (logged in as %s)", name, conn.name, extra=_who(conn))
            self._release(user_id)

    def _enter_account(self, conn: Connection, account: Account, guest: tuple) -> Named:
        """This connection becomes the account's user: a new entry if the user is away, one
        more connection of it (another tab or device) if it is online. All or nothing: if it
        fails, the connection is still the guest it was (`guest`: user id, name, token)."""
        user_id, name = account.user_id, account.name
        announce = self.directory.name_of(user_id) is None
        if announce:
            self.directory.claim(user_id, name)
        try:
            token = self.tokens.issue(f"{user_id}_{secrets.token_hex(4)}", name)
            self._adopt(conn.sid, user_id, name, token)
        except BaseException:
            conn.user_id, conn.name, conn.token = guest
            self.directory.detach(user_id, conn.sid)
            if announce:
                self.directory.release(user_id)
            raise
        self._drop_generation.pop(user_id, None)
        log.info("log-in %s", name, extra=_who(conn))
        if announce:
            self._announce_entry(conn.sid, name)
        self._send_recent(conn.sid)
        self.listener.user_back(user_id, name, conn.sid)
        if self.dms is not None:  # the DMs it received while away, as unread
            self.dms.attach(conn.sid, user_id, None, new_user=False)
        return Named(name, token)

    def claim_name(self, sid: str, password: str) -> str:
        """Claim the connection's name for good; return it."""
        conn = self.named(sid)
        password = clean_password(password)
        self._limit(conn, "other")
        if self.accounts is None or self.passwords is None:
            raise Refused(Code.CLAIMS_DISABLED, "Names can't be claimed on this server.")
        key = self.names.key(conn.name)
        existing = self.accounts.get(key)
        if existing is not None:
            if existing.user_id == conn.user_id:
                raise Refused(Code.ALREADY_CLAIMED, f"You have already claimed '{existing.name}'.")
            raise Refused(Code.NAME_CLAIMED, f"'{existing.name}' is claimed already.")
        password_hash = self.runtime.run_blocking(self.passwords.hash, password)
        account = Account(key, conn.name, conn.user_id, password_hash, self._now_ms())
        if not self.accounts.create(account):
            raise Refused(
                Code.NAME_CLAIMED, f"'{conn.name}' has just been claimed by someone else."
            )
        log.info("claim %s", conn.name, extra=_who(conn))
        if self.guard is not None:
            self.guard.on_named(conn)  # a moderator's name: reports reach it from now on
        return conn.name

    def release_name(self, sid: str, password: str) -> None:
        conn = self.named(sid)
        self._limit(conn, "other")
        account = None if self.accounts is None else self.accounts.of_user(conn.user_id)
        if account is None:
            raise Refused(Code.NOT_CLAIMED, "Your name is not claimed.")
        self._limit_password_attempts(conn, account)
        if not self._password_matches(account, password):
            raise Refused(Code.WRONG_PASSWORD, f"Wrong password for '{account.name}'.")
        self.accounts.delete(account.key, conn.user_id)
        log.info("release %s", account.name, extra=_who(conn))

    def _now_ms(self) -> int:
        return int(self.runtime.now() * 1000)

    def _take_join(self, address: str) -> None:
        """One name taken from `address`, or a refusal once it took too many, too fast."""
        spec = self.limits.join_rate
        if spec is None:
            return
        now = self.runtime.now()
        bucket = self._joins.get(address)
        if bucket is None:
            if len(self._joins) >= self._joins_prune_at:
                self._prune_joins(spec, now)
            bucket = self._joins[address] = Bucket(float(spec.capacity), now)
        wait = take_token(bucket, spec, now)
        if wait:
            wait = retry_after(wait)
            raise Refused(
                Code.TOO_MANY_NAMES,
                f"Too many names taken from your address: wait {wait:.1f} s.",
                retry_after=wait,
            )

    def _prune_joins(self, spec: RateSpec, now: float) -> None:
        """Forget the buckets that have refilled (as good as none): memory stays bounded by
        the addresses seen within one refill period, amortized O(1) per join."""
        self._joins = {
            address: bucket
            for address, bucket in self._joins.items()
            if bucket.tokens + (now - bucket.updated) * spec.refill_per_second < spec.capacity
        }
        self._joins_prune_at = max(1024, 2 * len(self._joins))

    def _name_new_user(self, conn: Connection, name: str) -> Named:
        user_id = new_user_id()
        self.directory.claim(user_id, name)
        try:
            token = self.tokens.issue(user_id, name)
            self._adopt(conn.sid, user_id, name, token)
        except BaseException:  # all or nothing: no ghost user holding the name
            conn.user_id = conn.name = conn.token = None
            self.directory.release(user_id)
            raise
        log.info("name %s", name, extra=_who(conn))
        if self.dms is not None:
            self.dms.attach(conn.sid, user_id, None, new_user=True)
        self._announce_entry(conn.sid, name)
        self._send_recent(conn.sid)
        return Named(name, token)

    def _rename(self, conn: Connection, name: str) -> Named:
        if name == conn.name:
            return Named(name, conn.token)
        if self.listener.is_busy(conn.user_id):
            raise Refused(Code.RENAME_WHILE_PLAYING, RENAME_WHILE_PLAYING)
        if self.accounts is not None and self.accounts.of_user(conn.user_id) is not None:
            raise Refused(
                Code.RELEASE_FIRST,
                f"'{conn.name}' is your claimed name: release it (release_name) to change it.",
            )
        if self.directory.user_of(name) not in (None, conn.user_id):
            raise name_taken(name)
        # The token first: if storing it fails, nothing anyone can see has changed, and the old
        # name stays this user's (freeing it first let another user take it while this
        # connection kept posting under it).
        self.tokens.rename(conn.user_id, name)
        try:
            old = self.directory.claim(conn.user_id, name)
        except BaseException:
            self._restore_token_name(conn)
            raise
        conn.name = name
        log.info("rename %s -> %s", old, name, extra=_who(conn))
        txt = f"{old} is now known as {name}."
        self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY, skip_sid=conn.sid)
        self._push_presence("rename", name, old_name=old)
        return Named(name, conn.token)

    def _restore_token_name(self, conn: Connection) -> None:
        try:
            self.tokens.rename(conn.user_id, conn.name)
        except Exception:  # the token keeps the new name: a late resume may then fail to claim
            log.exception("could not restore the token's name after a failed rename")

    def _announce_entry(self, sid: str, name: str) -> None:
        txt = f"{name} has entered the chat!"
        self.outbox.emit("message", {"name": None, "txt": txt}, to=LOBBY, skip_sid=sid)
        self._push_presence("join", name)

    def _send_recent(self, sid: str) -> None:
        if self.limits.history_on_join <= 0:
            return
        messages, has_more = self.history.page(LOBBY, limit=self.limits.history_on_join)
        wire, cut = self.fit_answer([m.to_wire() for m in messages], keep_newest=True)
        self.outbox.emit("history", {"messages": wire, "has_more": has_more or cut}, to=sid)

    def fit_answer(self, items: list, keep_newest: bool) -> tuple[list, bool]:
        """The items (oldest first) that fit in one answer: the newest or the oldest ones, at
        least one; and whether some were cut."""
        budget = self.limits.max_answer_bytes
        if budget is None:
            return items, False
        total = kept = 0
        for item in reversed(items) if keep_newest else items:
            total += wire_bytes(item) + 1
            if kept and total > budget:
                break
            kept += 1
        if kept == len(items):
            return items, False
        return (items[len(items) - kept :] if keep_newest else items[:kept]), True

    def _push_presence(self, action: str, name: str, **extra: Any) -> None:
        update = {"action": action, "name": name, **extra, "count": self.directory.count()}
        self.outbox.emit("presence", update, to=LOBBY)

    def check_message(self, sid: str, text: str, client_id: str | None) -> Callable[[], Stored]:
        """Validate a chat message now, in arrival order; return the (blocking) store.

        The split lets the web layer keep each client's messages in order while the storing
        waits for its group commit off the connection's reader."""
        conn = self.named(sid)
        text = clean_message(text, self.limits.max_message_chars)
        client_id = clean_client_id(client_id)
        self._limit(conn, "chat")
        return lambda: self._store_message(conn, text, client_id)

    def _store_message(self, conn: Connection, text: str, client_id: str | None) -> Stored:
        sender_sid = conn.sid

        def broadcast(message: StoredMessage) -> None:
            self.broadcast_watermark = max(self.broadcast_watermark, message.id)
            self.outbox.emit("message", message.to_wire(), to=LOBBY, skip_sid=sender_sid)

        message, duplicate = self.history.append(
            LOBBY, conn.user_id, conn.name, text, client_id=client_id, on_commit=broadcast
        )
        return Stored(message.id, message.ts, duplicate)

    def users(self, sid: str, after: str | None) -> UsersPage:
        """Names online, sorted; in pages when they don't fit in one answer (`after`)."""
        self._limit(self.connections[sid], "other")
        names = self.directory.names()
        count = len(names)
        if after is not None:
            key = name_key(after)
            names = names[bisect_right(names, key, key=name_key) :]
        names, has_more = self.fit_answer(names, keep_newest=False)
        return UsersPage(names, count, has_more)

    def typing(self, sid: str, typing: bool) -> None:
        conn = self.named(sid)
        self._limit(conn, "other")
        update = {"name": conn.name, "typing": typing}
        self.outbox.emit("typing", update, to=LOBBY, skip_sid=sid)

    def history_page(
        self, sid: str, before: int | None, after: int | None, limit: int | None
    ) -> MessagePage:
        """A page of the lobby's messages older than `before`, or newer than `after`."""
        conn = self.named(sid)
        if limit is None:
            limit = 50
        if not 1 <= limit <= MAX_PAGE:
            raise Refused(Code.BAD_REQUEST, PAGE_LIMIT_REFUSAL, field="limit")
        self._limit(conn, "other")
        messages, has_more = self.history.page(LOBBY, before=before, after=after, limit=limit)
        # older pages keep the newest of theirs, newer pages (`after`) the oldest: either way
        # the next request continues where this one stopped
        wire, cut = self.fit_answer([m.to_wire() for m in messages], keep_newest=after is None)
        return MessagePage(wire, has_more or cut)

    # ---- helpers -----------------------------------------------------------------------------

    def named(self, sid: str) -> Connection:
        conn = self.connections.get(sid)
        if conn is None or conn.user_id is None:
            raise Refused(Code.NAME_REQUIRED, "Pick a name before you chat.")
        return conn

    def limit(self, conn: Connection, kind: str) -> None:
        """The same per-user rate limit for other services' events ('chat' or 'other')."""
        self._limit(conn, kind)

    def _limit(self, conn: Connection, kind: str) -> None:
        if kind == "chat" and self.guard is not None:
            self.guard.check_can_post(conn)
        spec = self.limits.chat_rate if kind == "chat" else self.limits.other_rate
        self.limiter.check(conn.user_id or conn.sid, kind, spec, self.runtime.now())

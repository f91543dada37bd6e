"""What the domain needs, as small interfaces: from the outside world, and from each other.

Every collaborator the domain is handed (storage, the event loop, the web layer) is typed with a
Protocol from here; the implementations live in `rpschat.storage`, `rpschat.runtime` and
`rpschat.web`, which import this module, never the other way round (tests/unit/test_layers.py).
The chat's services receive one another through the Protocols of "The services' roles" below:
each depends on what it uses, never on another service's class (rpschat/composition.py wires
them). The game's stores are in domain/game/ports.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from rpschat.domain.errors import Code, Refused
from rpschat.domain.replies import Reaction, excerpt

# Ids and cursors are 64-bit in storage (SQLite INTEGER, PostgreSQL BIGINT): a larger number
# can't even be compared there, so the web layer refuses it rather than the database failing.
MAX_ID = 2**63 - 1

if TYPE_CHECKING:
    from types import TracebackType

    from rpschat.domain.ratelimit import RateSpec

LOBBY = "lobby"


def user_room(user_id: str) -> str:
    """Every connection of a user is in this room: emits reach the user across reconnects."""
    return f"user:{user_id}"


# ---------------------------------------------------------------- clients


class Outbox(Protocol):
    """Sends events to connections and rooms; the web layer implements it with Socket.IO."""

    def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str] | None = None,
        skip_sid: str | None = None,
    ) -> None:
        """`to` is a connection id or a room (or a list of them); None means everyone."""

    def join(self, sid: str, room: str) -> None: ...
    def leave(self, sid: str, room: str) -> None: ...
    def disconnect(self, sid: str) -> None: ...


# ---------------------------------------------------------------- the event loop


class Event(Protocol):
    def set(self) -> None: ...
    def wait(self, timeout: float | None = None) -> bool: ...
    def is_set(self) -> bool: ...


class Queue(Protocol):
    def put(self, item: Any) -> None: ...
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        """Raises queue.Empty when nothing came within `timeout`."""

    def get_nowait(self) -> Any: ...


class Cancellable(Protocol):
    def cancel(self) -> Any: ...


class Runtime(Protocol):
    """What code needs from the event loop: tasks, sleeping, events, queues, blocking calls.

    Implemented by `rpschat.runtime` (eventlet or plain threads), so the domain and storage never
    import eventlet and unit tests run on threads."""

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def call_later(self, seconds: float, fn: Callable[..., Any], *args: Any) -> Cancellable:
        """Run `fn` in a task of its own after `seconds`, unless cancelled first. Costs no
        task (and no stack) while it waits, so a timer per round or challenge is cheap."""

    def defer(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` without holding up the caller (a green thread), or at once where the
        caller may block (threads: the test client expects acks before `emit` returns)."""

    def sleep(self, seconds: float) -> None: ...
    def event(self) -> Event: ...
    def queue(self) -> Queue: ...
    def run_blocking(self, fn: Callable[..., Any], *args: Any) -> Any: ...
    def now(self) -> float: ...


class Lock(Protocol):
    """A reentrant lock: `threading.RLock`, or one shared by every node (Redis)."""

    def __enter__(self) -> Any: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


class Locks(Protocol):
    """Reentrant locks by key (a game, the lobby): in this process, or shared by every node."""

    def hold(self, key: str, make: Callable[[], Lock] | None = None) -> Lock:
        """The lock of `key`; `make` makes it when nobody holds or waits for it (default: the
        Locks' own kind)."""


# ---------------------------------------------------------------- the services' roles


@dataclass(slots=True)
class Connection:
    """One client connection; `user_id`, `name` and `token` once it has a name. Slotted: one
    is held for every client for as long as it is connected (no per-instance __dict__)."""

    sid: str
    address: str
    connected_at: float
    user_id: str | None = None
    name: str | None = None
    token: str | None = None
    replaced: bool = False  # another connection took its slot: it leaves without a trace
    dm_cursor: int | None = None  # auth.dm_last_id: the direct messages a resume replays

    def log_fields(self) -> dict[str, Any]:
        """A log line's structured fields (JSON logs show the user id hashed)."""
        return {"sid": self.sid, "user_id": self.user_id, "address": self.address}


class NamedConnection(Connection):
    """A connection that has its user: what `Callers.named` returns. The same object, typed so
    that its user id, name and token are known to be there."""

    __slots__ = ()
    user_id: str
    name: str
    token: str


class Callers(Protocol):
    """Who is behind a connection: every service's first question (domain/connections.py)."""

    def connection(self, sid: str) -> Connection: ...
    def named(self, sid: str) -> NamedConnection:
        """The connection once it has a name; refused before ("Pick a name ...")."""


class Limits(Protocol):
    """The per-user rate limits (domain/limits.py)."""

    def limit(self, conn: Connection, kind: str) -> None:
        """Refused when the caller sends too fast: `kind` "chat" (what it posts) or "other"."""


class Admission(Protocol):
    """Who may connect, and as whom (domain/sanctions.py)."""

    def check_can_connect(self, address: str) -> None:
        """Refused for a banned address."""

    def check_can_take(self, conn: Connection, user_id: str | None, name: str) -> None:
        """Refused before a connection becomes `user_id` (a log-in, a resume) or takes `name`
        as a guest (`user_id` None: a first name or a rename; a muted user's is refused)."""


class Posting(Protocol):
    """Whether a user may post (domain/sanctions.py): lobby, game chat, DMs, reports and
    challenges ask first."""

    def check_can_post(self, conn: Connection) -> None:
        """Refused for a muted user (or a guest of a muted user's address)."""


class Ignores(Protocol):
    def ignores(self, user_id: str, other_id: str) -> bool:
        """`user_id` takes no DMs or challenges from `other_id`."""


class Busy(Protocol):
    """The game's answer to "may this user change its name now?" (domain/game/busy.py)."""

    def is_busy(self, user_id: str) -> bool:
        """In a game, looking for one or in a pending challenge."""


class PresenceListener(Protocol):
    """Told when users drop, come back or leave for good (the lobby and the game listen, through
    the hub in domain/presence.py)."""

    def user_dropped(self, user_id: str, name: str) -> None: ...
    def user_back(self, user_id: str, name: str, sid: str, last_id: int | None) -> None:
        """A connection is the user's again; with `last_id`, it resumed after that message (the
        game replays its chat above it: one id sequence with the lobby)."""

    def user_gone(self, user_id: str, name: str, removed: bool) -> None:
        """The name is free: the user left, or (`removed`) left unannounced: a moderator
        removed it (and says why), or a guest logged in to a claimed name."""


class UserConnections(Protocol):
    """The connection table as connecting, naming and resuming change it (connections.py)."""

    def connect(self, sid: str, address: str, dm_cursor: int | None = None) -> None:
        """Register a connection; refused (a ban) before it takes anything."""

    def connection(self, sid: str) -> Connection: ...
    def adopt(self, sid: str, user_id: str, name: str, token: str) -> None:
        """The connection becomes the user's (its room, its slot, the one it replaces)."""

    def end_grace(self, user_id: str) -> None:
        """The user is back: its grace period no longer releases it."""

    def release(self, user_id: str, quiet: bool = False) -> None:
        """The user leaves for good: its name is free, and everyone is told (`quiet`: with no
        "has left" line)."""

    def disconnect(self, sid: str, voluntary: bool) -> None: ...


class Removal(Protocol):
    def remove_user(self, user_id: str) -> None:
        """A moderator removed the user: it leaves at once, its connections here close."""


class LobbyEntry(Protocol):
    """What the lobby does as a connection gets its name (domain/lobby.py)."""

    def announce_entry(self, sid: str, name: str) -> None: ...
    def announce_rename(self, sid: str, old: str, new: str) -> None: ...
    def send_recent(self, sid: str) -> None:
        """The recent history, to a connection that just got its name; it is in the lobby."""

    def replay(self, sid: str, last_id: int) -> None:
        """What a resuming connection missed after `last_id`; then it joins the lobby."""


class SlowPace(Protocol):
    """The lobby's slow mode (domain/slow_mode.py)."""

    def seconds(self) -> int: ...
    def check(self, conn: Connection) -> None:
        """Refused for a lobby message sooner than slow mode allows."""


class ChangeReplay(Protocol):
    """The edits and deletes a resuming connection missed (domain/edits.py)."""

    def replay_changes(self, sid: str, user_id: str, last_change: int) -> None: ...


class DmInbox(Protocol):
    """Direct messages follow a user's connections (domain/dms.py)."""

    def attach(self, sid: str, user_id: str, dm_last_id: int | None, new_user: bool) -> None: ...
    def detach(self, sid: str, user_id: str) -> None: ...


class Claims(Protocol):
    """Claimed names, as naming and resuming consult them (domain/claims.py)."""

    def account_like(self, name: str) -> Account | None:
        """The claimed name that `name` is or looks like, if any."""

    def check_not_claimed_by_another(self, user_id: str, name: str) -> None:
        """Refused for a name another user claimed, or one kept for a moderator's account."""

    def check_not_reserved(self, name: str) -> None:
        """Refused for a name kept for a moderator's account (domain/roles.py)."""

    def password_matches(
        self, conn: Connection, account: Account, password: str, device: str | None = None
    ) -> bool:
        """Checks the password, within the limits on attempts (refused past them); `device`,
        a device token the account gave, exempts the device from the per-name limits. A wrong
        one is logged."""

    def device_token(self, user_id: str) -> str | None:
        """A token that marks this device as the account's (domain/devices.py)."""


class ReservedNames(Protocol):
    """Names kept for a moderator's account until the operator designates it (roles.py)."""

    def check_not_reserved(self, name: str) -> None:
        """Refused for such a name, in any case or look-alike."""


class RoleChecks(Protocol):
    """Who holds which role (domain/roles.py): powers are checked by user id, never by name."""

    def has(self, user_id: str | None, role: str) -> bool: ...
    def holders(self, role: str) -> list[str]:
        """The user ids holding the role, on every node (read when asked)."""


class AccountEnd(Protocol):
    """What goes with a released account (its roles; its standing, domain/game/service.py)."""

    def account_released(self, user_id: str, name: str) -> None: ...


class SessionEnding(Protocol):
    """Ends every other session of a user (domain/signout.py)."""

    def end_other_sessions(self, conn: NamedConnection, reason: str) -> str:
        """Every token of the user revoked, its other connections told and closed; returns
        the caller's new token."""


class Sanctioning(Protocol):
    """The sanctions in force, as moderators change them (domain/sanctions.py)."""

    def is_moderator(self, user_id: str | None) -> bool: ...
    def impose(self, sanction: Sanction) -> None: ...
    def lift(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        """True if the user (or someone under the name: a guest who left) had a sanction of
        that kind running."""


# ---------------------------------------------------------------- names, users and tokens


def name_taken(name: str) -> Refused:
    """What `Directory.claim` raises when another user holds the name."""
    return Refused(Code.NAME_TAKEN, f"The name '{name}' is taken: pick another.")


class Directory(Protocol):
    """Names online, unique case-insensitively, and the connection each user is on."""

    def claim(self, user_id: str, name: str) -> str | None:
        """Give `user_id` the name (renaming it if it had one); return the old name.

        Raises `name_taken(name)` when another user holds the name."""

    def release(self, user_id: str) -> str | None:
        """Free the user's name; return it (None if it had none)."""

    def name_of(self, user_id: str) -> str | None: ...
    def user_of(self, name: str) -> str | None: ...
    def names(self) -> list[str]: ...
    def count(self) -> int: ...
    def attach(self, user_id: str, sid: str, slot: str | None = None) -> str | None:
        """Make `sid` the user's connection in `slot` (one per resume token; None: the user
        id's own); return the one it replaces there, if any. A user logged in with a password
        on several devices has one slot each."""

    def detach(self, user_id: str, sid: str) -> bool:
        """Forget `sid`; True if it was the user's last connection (the user is now away)."""

    def sid_of(self, user_id: str) -> str | None:
        """One of the user's connections (the latest attached that is still there)."""

    def is_home(self, user_id: str) -> bool:
        """Whether this node answers for the user: its latest connection was attached here,
        its last one was lost here, or this node took it over from a dead node. A grace period
        releases the user only from its home. Always true on one node."""

    def connections_of(self, user_id: str) -> list[str]:
        """Every connection of the user, on every node."""

    def note_address(self, user_id: str, address: str) -> None:
        """The client address the user last connected from (a ban holds it)."""

    def address_of(self, user_id: str) -> str | None: ...


@dataclass(frozen=True)
class TokenGrant:
    user_id: str
    name: str


def token_slot(token: str) -> str:
    """The part of a token `<id>.<secret>` that names the connection slot it resumes; a
    password log-in's tokens are `<user_id>_<login>.<secret>`, so each device keeps its own."""
    return token.partition(".")[0]


def token_user(token_id: str) -> str:
    """The user id a token's id stands for (see `token_slot`)."""
    return token_id.partition("_")[0]


class TokenStore(Protocol):
    def issue(self, user_id: str, name: str) -> str: ...
    def resolve(self, token: object) -> TokenGrant | None:
        """The grant for a valid, unexpired token (and its expiry pushed back), else None."""

    def rename(self, user_id: str, name: str) -> None: ...
    def revoke_user(self, user_id: str) -> None:
        """Forget every token of the user: its own and its log-ins' (`token_user` of their id
        is `user_id`), on every node."""


class RateLimiter(Protocol):
    def check(self, subject: str, kind: str, spec: RateSpec | None, now: float) -> None:
        """Raise Refused when `subject` is over `spec` for this kind; None means no limit."""

    def forget(self, subject: str) -> None: ...


@dataclass(frozen=True)
class Account:
    """A claimed name: only its password (kept as an Argon2id hash) takes it."""

    key: str  # domain.names.look_alike_key(name): one claim per look-alike group
    name: str
    user_id: str  # the user behind the name on every device, for good
    password_hash: str
    created_at: int  # ms since the epoch


class AccountStore(Protocol):
    def get(self, key: str) -> Account | None: ...
    def of_user(self, user_id: str) -> Account | None: ...
    def create(self, account: Account) -> bool:
        """Stores it; False (nothing stored) if its key is claimed already."""

    def delete(self, key: str, user_id: str) -> bool:
        """Forgets the claim if it is still `user_id`'s; True if it was."""

    def set_password(self, key: str, user_id: str, password_hash: str) -> bool:
        """A new password hash, if the claim is still `user_id`'s; True if it was."""


@dataclass(frozen=True)
class Sanction:
    """A mute, kick or ban until `until_ms`, of a user, a claimed name or an address."""

    kind: str  # "mute", "kick" or "ban"
    until_ms: int
    reason: str | None = None
    user_id: str | None = None
    name_key: str | None = None
    address: str | None = None


class ModerationStore(Protocol):
    def setting(self, key: str) -> str | None:
        """A room setting moderators change ("slow_seconds"), shared by every node."""

    def set_setting(self, key: str, value: str) -> None: ...
    def add(self, sanction: Sanction) -> None: ...
    def remove(self, kind: str, user_id: str | None, name_key: str | None = None) -> bool:
        """Lifts the sanctions of that kind still running of the user, or given under the
        name (`name_key`: a guest's, who may have left); True if there was one."""

    def active(
        self,
        kind: str,
        now_ms: int,
        user_id: str | None = None,
        name_key: str | None = None,
        address: str | None = None,
    ) -> Sanction | None:
        """The longest-running sanction of that kind matching the one field given."""

    def audit(
        self,
        moderator: str,
        action: str,
        target: str,
        reason: str | None,
        until_ms: int | None,
        ts: int,
    ) -> None: ...
    def log(self, limit: int) -> list[dict[str, Any]]:
        """The audit log, newest first."""

    def report(
        self, user_id: str, name: str, message_id: int, reason: str, ts: int
    ) -> tuple[int, int] | None:
        """Stores a report: (its id, how many users have reported the message now), or None
        (nothing stored) if this user has reported the message already."""

    def open_reports(self, limit: int) -> list[dict[str, Any]]:
        """Reports not resolved, newest first: {message_id, name (the reporter), reason, ts}."""

    def resolve_reports(self, message_id: int, ts: int) -> int:
        """Resolves the open reports of the message; how many there were."""

    def ignore(self, user_id: str, other_id: str) -> None: ...
    def unignore(self, user_id: str, other_id: str) -> None: ...
    def ignores(self, user_id: str, other_id: str) -> bool: ...


@dataclass(frozen=True)
class Grant:
    """A role held by a user (an account), and who gave it when (domain/roles.py)."""

    user_id: str
    role: str  # "moderator"
    granted_by: str  # "operator" (the command line), "MODERATORS" (start-up), or a name
    granted_at: int  # ms since the epoch


class RoleStore(Protocol):
    def grant(self, grant: Grant) -> bool:
        """Stores it; False (nothing changed) if the user had the role already."""

    def revoke(self, user_id: str, role: str) -> bool: ...
    def revoke_all(self, user_id: str) -> list[str]:
        """Removes every role of the user; returns them."""

    def has(self, user_id: str, role: str) -> bool: ...
    def holders(self, role: str) -> list[str]:
        """The user ids holding the role."""

    def seeded(self, name_key: str, role: str) -> str | None:
        """The user a configured name (MODERATORS) was bound to once, if it ever was."""

    def bind_seed(self, name_key: str, grant: Grant) -> bool:
        """Records that the configured name was bound to `grant`'s user and stores the grant,
        in one transaction, unless the name was bound before (then False, nothing stored)."""


class PasswordHasher(Protocol):
    """Slow on purpose: the services get it bounded (domain/passwords.py's PasswordWork runs
    it in the thread pool, a few at a time); the bare hasher must run through
    `Runtime.run_blocking`."""

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...


# ---------------------------------------------------------------- history


@dataclass(frozen=True)
class StoredMessage:
    """A chat message as stored: lobby and game chat share one id sequence."""

    id: int
    room: str
    user_id: str
    name: str
    text: str
    ts: int  # ms since the Unix epoch
    client_id: str | None = None
    edited_at: int | None = None  # ms since the epoch, once its author edited it
    reply_to: int | None = None  # the id of the lobby message it answers

    def to_wire(self) -> dict[str, Any]:
        """`reply_to` is the id here: domain/replies.py makes it a quote."""
        wire: dict[str, Any] = {"id": self.id, "name": self.name, "txt": self.text, "ts": self.ts}
        if self.user_id == "operator":  # domain/room_tools.py's ANNOUNCER_ID
            wire["announcement"] = True
        if self.edited_at is not None:
            wire["edited_at"] = self.edited_at
        if self.reply_to is not None:
            wire["reply_to"] = {"id": self.reply_to}
        return wire

    def quote(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "txt": excerpt(self.text)}


OnCommit = Callable[[StoredMessage], None]


class HistoryStore(Protocol):
    def append(
        self,
        room: str,
        user_id: str,
        name: str,
        text: str,
        client_id: str | None = None,
        on_commit: OnCommit | None = None,
        reply_to: int | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Stores a message and returns once it is committed: (message, duplicate).

        A known (user_id, client_id) returns the stored message with duplicate=True, and
        on_commit is not called. on_commit(message) runs after the commit, in id order.
        """
        ...

    def page(
        self, room: str, before: int | None = None, after: int | None = None, limit: int = 50
    ) -> tuple[list[StoredMessage], bool]:
        """Oldest first: the newest `limit` (below `before`), or the oldest above `after`.

        has_more: there are more beyond the page (older ones, or with `after` newer ones).
        """
        ...

    def after(self, room: str, last_id: int, limit: int = 1000) -> list[StoredMessage]:
        """Messages with id > last_id, oldest first: the replay after a resume."""
        ...

    def get(self, message_id: int) -> StoredMessage | None: ...
    def get_many(self, message_ids: list[int]) -> dict[int, StoredMessage]:
        """Those of the ids still stored, by id (the quotes of replies)."""

    def react(
        self, message_id: int, user_id: str, name: str, emoji: str, ts: int
    ) -> Revised[list[Reaction]] | None:
        """Toggles the user's `emoji` on a lobby message, recording the change (`ChangeLog`)
        in the same commit: the message's reactions after it; None if there is no message."""

    def reactions_of(self, message_ids: list[int]) -> dict[int, list[Reaction]]:
        """The reactions of those messages that have some."""

    def search(self, query: SearchQuery, before: int, limit: int) -> list[StoredMessage]:
        """Lobby messages matching the query with id < before, newest first."""

    def count_since(self, room: str, since_ms: int) -> int:
        """How many messages of the room have ts >= since_ms."""

    def posted_since(
        self, user_id: str | None, name: str, since_ms: int, limit: int
    ) -> list[StoredMessage]:
        """The user's messages (lobby and game chat) with ts >= since_ms, oldest first: by
        user id, or for `user_id` None by the name they were sent under (a purge)."""

    def edit(self, message_id: int, text: str, edited_at: int) -> Revised[StoredMessage] | None:
        """The message's new text, and the change recorded (`ChangeLog`) in the same commit;
        None if there is no such message."""

    def delete(self, message_id: int) -> Revised[StoredMessage] | None:
        """Removes a message (its author's or a moderator's delete): gone from pages and
        replays; the change recorded (`ChangeLog`) in the same commit. None if there is none."""

    def close(self, timeout: float = 10) -> bool:
        """Refuses new appends and commits those already queued; False if that outlasts timeout."""
        ...


# ---------------------------------------------------------------- changes to stored messages

M = TypeVar("M")


@dataclass(frozen=True)
class Revised(Generic[M]):
    """A message as a change left it, and the change's number in the `ChangeLog`."""

    message: M
    seq: int


@dataclass(frozen=True)
class Change:
    """An edit or delete of a stored message (lobby or DM), numbered in commit order: a
    resuming client that saw changes up to `seq` is sent the later ones' outcome."""

    seq: int
    kind: str  # "edit", "delete" or "react"
    message_id: int
    dm: bool  # a direct message (its own id sequence), else a lobby message


@dataclass(frozen=True)
class SearchQuery:
    """What `search` looks for (domain/search.py): every word (as a prefix of a message's
    words), and the sender: `sender_id` when the name stands for a user, else messages sent
    under `sender_name` exactly."""

    words: list[str]
    sender_id: str | None = None
    sender_name: str | None = None


class ChangeLog(Protocol):
    """The changes the history and DM stores record with each edit or delete."""

    def changes_after(self, user_id: str, seq: int, limit: int) -> list[Change]:
        """Changes after `seq` the user may see (the lobby's, its own DMs'), oldest first."""

    def last_seq(self) -> int:
        """The newest change's number (0: none yet)."""


# ---------------------------------------------------------------- direct messages


@dataclass(frozen=True)
class DirectMessage:
    """A message from one user to another. Ids are their own sequence (not the lobby's)."""

    id: int
    sender_id: str
    sender: str  # names as they were when it was sent
    recipient_id: str
    recipient: str
    text: str
    ts: int  # ms since the epoch
    client_id: str | None = None
    unread: bool = False  # the recipient was offline: delivered at its next log-in
    edited_at: int | None = None  # ms since the epoch, once its sender edited it
    reply_to: int | None = None  # the id of the DM of the same two users it answers

    def to_wire(self) -> dict[str, Any]:
        """`reply_to` is the id here: domain/replies.py makes it a quote."""
        wire: dict[str, Any] = {"id": self.id, "from": self.sender, "to": self.recipient,
                                "text": self.text, "ts": self.ts}  # fmt: skip
        if self.edited_at is not None:
            wire["edited_at"] = self.edited_at
        if self.reply_to is not None:
            wire["reply_to"] = {"id": self.reply_to}
        return wire

    def quote(self) -> dict[str, Any]:
        return {"id": self.id, "from": self.sender, "text": excerpt(self.text)}


@dataclass(frozen=True)
class UnreadCaps:
    """How many unread DMs storage keeps for one recipient, and from one sender to it."""

    per_recipient: int | None = None
    per_sender: int | None = None


class UnreadCapReached(Exception):
    """Raised by `DmStore.append`: the recipient holds as many unread DMs as `UnreadCaps`
    allow (`per_sender`: from this sender)."""

    def __init__(self, per_sender: bool, cap: int):
        super().__init__("per sender" if per_sender else "per recipient")
        self.per_sender = per_sender
        self.cap = cap


@dataclass(frozen=True)
class UnreadSender:
    """Who sent a user unread DMs: the sender's latest name, how many, the newest one's id."""

    sender_id: str
    sender: str
    count: int
    newest_id: int


@dataclass(frozen=True)
class DmThread:
    """One of a user's DM conversations: the other user, its newest DM, the user's unread
    DMs in it."""

    other_id: str
    last: DirectMessage
    unread: int


class DmStore(Protocol):
    def append(
        self,
        sender_id: str,
        sender: str,
        recipient_id: str,
        recipient: str,
        text: str,
        client_id: str | None,
        unread: bool,
        caps: UnreadCaps | None = None,
        reply_to: int | None = None,
    ) -> tuple[DirectMessage, bool]:
        """Stores it and returns once committed: (message, duplicate). A known (sender_id,
        client_id) returns the stored message with duplicate=True. Ids grow in commit order.
        An unread one is refused (`UnreadCapReached`, nothing stored) beyond `caps`."""
        ...

    def conversation(
        self, user_id: str, other_id: str, before: int | None = None, limit: int = 50
    ) -> tuple[list[DirectMessage], bool]:
        """The newest `limit` between the two (below `before`), oldest first; has_more."""
        ...

    def since(self, user_id: str, after_id: int, limit: int) -> list[DirectMessage]:
        """Sent or received by the user, id > after_id, oldest first (a resume's replay)."""
        ...

    def unread_senders(self, user_id: str, limit: int) -> tuple[int, list[UnreadSender]]:
        """How many unread DMs the user has, and from whom: the `limit` senders with the
        newest, newest first."""
        ...

    def unread_newest(
        self, user_id: str, limit: int, per_sender: int | None = None, sender_id: str | None = None
    ) -> list[DirectMessage]:
        """The user's newest unread DMs, newest first: at most `per_sender` of each sender,
        or only `sender_id`'s."""
        ...

    def threads(self, user_id: str, limit: int) -> list[DmThread]:
        """The user's `limit` conversations with the newest DMs, newest first."""
        ...

    def mark_read(self, user_id: str, ids: list[int]) -> None:
        """These DMs to the user have been delivered (the others stay unread)."""

    def mark_read_from(self, user_id: str, sender_id: str, last_id: int) -> None:
        """Every DM from `sender_id` to the user up to `last_id` has been read."""

    def mark_read_through(self, user_id: str, last_id: int, after_id: int = 0) -> None:
        """Every DM to the user with an id above `after_id`, up to `last_id`, has been
        delivered (a resume's replay)."""

    def sender_named(self, recipient_id: str, name: str) -> str | None:
        """The user who last sent `recipient_id` a DM under the name `name`, if any."""

    def get(self, message_id: int) -> DirectMessage | None: ...
    def get_many(self, message_ids: list[int]) -> dict[int, DirectMessage]: ...
    def react(
        self, message_id: int, user_id: str, name: str, emoji: str, ts: int
    ) -> Revised[list[Reaction]] | None:
        """Like `HistoryStore.react`."""

    def reactions_of(self, message_ids: list[int]) -> dict[int, list[Reaction]]: ...
    def search(
        self, user_id: str, query: SearchQuery, before: int, limit: int
    ) -> list[DirectMessage]:
        """DMs the user sent or received matching the query with id < before, newest first."""

    def edit(self, message_id: int, text: str, edited_at: int) -> Revised[DirectMessage] | None:
        """Like `HistoryStore.edit`."""

    def delete(self, message_id: int, ts: int) -> Revised[DirectMessage] | None:
        """Like `HistoryStore.delete`: gone for both users."""

"""Names: `set_username` names a connection (a new user), renames its user, or logs it in to a
claimed name with its password. Each is all or nothing: a failure leaves the connection the
user it was, and nobody holding a name they did not get."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import JoinLimit
from rpschat.domain.names import NameRules, look_alike_refusal
from rpschat.domain.ports import (
    Account,
    AccountStore,
    Admission,
    Busy,
    Claims,
    Connection,
    Directory,
    DmInbox,
    Limits,
    LobbyEntry,
    Outbox,
    PresenceListener,
    TokenStore,
    UserConnections,
    name_taken,
    user_room,
)
from rpschat.domain.text import clean_name, name_key

log = logging.getLogger("rpschat.chat")

RENAME_WHILE_PLAYING = "You can't change your name during a game or while looking for one."


def new_user_id() -> str:
    """A user's id: random, so it reveals nothing and cannot be guessed from another's."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Named:
    """The name a connection holds now, and the token that resumes it; after a password log-in,
    the device token that exempts this device from the per-name limits (domain/devices.py)."""

    username: str
    token: str
    device: str | None = None


@dataclass
class Identity:
    connections: UserConnections
    limits: Limits
    directory: Directory
    tokens: TokenStore
    accounts: AccountStore | None
    claims: Claims
    names: NameRules
    joins: JoinLimit
    admission: Admission
    busy: Busy  # no renames or log-ins during a game
    lobby: LobbyEntry
    dms: DmInbox
    presence: PresenceListener  # the hub: a log-in to a user away is its return
    outbox: Outbox

    def set_username(
        self, sid: str, username: str, password: str | None, device: str | None = None
    ) -> Named:
        """Name the connection, rename it, or log it in to a claimed name (with `password`;
        `device`: the device token an earlier log-in gave this device)."""
        name = clean_name(username)
        conn = self.connections.connection(sid)
        self.limits.limit(conn, "other")
        self.names.check_allowed(name)
        account = self.claims.account_like(name)
        if account is not None:
            return self._log_in(conn, name, account, password, device)
        if password is not None:
            raise Refused(
                Code.NOT_CLAIMED,
                f"'{name}' is not claimed: take it without a password, then claim it.",
            )
        self.claims.check_not_reserved(name)
        self.admission.check_can_take(conn, None, name)
        self._check_look_alike_online(conn, name)
        if name != conn.name:
            self.joins.take(conn.address)
        if conn.user_id is None or conn.name is None or conn.token is None:
            return self._name_new_user(conn, name)
        return self._rename(conn, conn.user_id, conn.name, conn.token, name)

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

    # ---- a new user, a rename ----------------------------------------------------------------

    def _name_new_user(self, conn: Connection, name: str) -> Named:
        user_id = new_user_id()
        self.directory.claim(user_id, name)
        try:
            token = self.tokens.issue(user_id, name)
            self.connections.adopt(conn.sid, user_id, name, token)
        except BaseException:  # all or nothing: no ghost user holding the name
            conn.user_id = conn.name = conn.token = None
            self.directory.release(user_id)
            raise
        log.info("name %s", name, extra=conn.log_fields())
        self.dms.attach(conn.sid, user_id, None, new_user=True)
        self.lobby.announce_entry(conn.sid, name)
        self.lobby.send_recent(conn.sid)
        return Named(name, token)

    def _rename(self, conn: Connection, user_id: str, old: str, token: str, name: str) -> Named:
        if name == old:
            return Named(name, token)
        if self.busy.is_busy(user_id):
            raise Refused(Code.RENAME_WHILE_PLAYING, RENAME_WHILE_PLAYING)
        if self.accounts is not None and self.accounts.of_user(user_id) is not None:
            raise Refused(
                Code.RELEASE_FIRST,
                f"'{old}' is your claimed name: release it (release_name) to change it.",
            )
        if self.directory.user_of(name) not in (None, user_id):
            raise name_taken(name)
        # The token first: if storing it fails, nothing anyone can see has changed, and the old
        # name stays this user's (freeing it first let another user take it while this
        # connection kept posting under it).
        self.tokens.rename(user_id, name)
        try:
            held = self.directory.claim(user_id, name)
        except BaseException:
            self._restore_token_name(user_id, old)
            raise
        old = held if held is not None else old  # the directory's word, on every node
        conn.name = name
        log.info("rename %s -> %s", old, name, extra=conn.log_fields())
        self.lobby.announce_rename(conn.sid, old, name)
        return Named(name, token)

    def _restore_token_name(self, user_id: str, name: str) -> None:
        try:
            self.tokens.rename(user_id, name)
        except Exception:  # the token keeps the new name: a late resume may then fail to claim
            log.exception("could not restore the token's name after a failed rename")

    # ---- logging in to a claimed name --------------------------------------------------------

    def _log_in(
        self,
        conn: Connection,
        name: str,
        account: Account,
        password: str | None,
        device: str | None = None,
    ) -> Named:
        if conn.user_id == account.user_id and conn.name is not None and conn.token is not None:
            return Named(conn.name, conn.token)
        if name_key(name) != name_key(account.name):
            raise look_alike_refusal(name, account.name, claimed=True)
        if password is None:
            raise Refused(
                Code.NAME_CLAIMED,
                f"The name '{account.name}' is claimed: log in with its password.",
            )
        if conn.user_id is not None and self.busy.is_busy(conn.user_id):
            raise Refused(Code.RENAME_WHILE_PLAYING, RENAME_WHILE_PLAYING)
        if not self.claims.password_matches(conn, account, password, device):
            raise Refused(
                Code.WRONG_PASSWORD, f"Wrong password: the name '{account.name}' is claimed."
            )
        self.admission.check_can_take(conn, account.user_id, account.name)
        self.joins.take(conn.address)
        guest = conn.user_id, conn.name, conn.token
        answer = self._enter_account(conn, account, guest)
        if guest[0] is not None and guest[1] is not None:
            self._leave_as_guest(conn, guest[0], guest[1])
        return answer

    def _enter_account(
        self, conn: Connection, account: Account, guest: tuple[str | None, str | None, str | None]
    ) -> Named:
        """This connection becomes the account's user: a new entry if the user is away, one
        more connection of it (another tab or device) if it is online. All or nothing: if it
        fails, the connection is still the guest it was (`guest`: user id, name, token)."""
        user_id, name = account.user_id, account.name
        announce = self.directory.name_of(user_id) is None
        if announce:
            self.directory.claim(user_id, name)
        try:
            token = self.tokens.issue(f"{user_id}_{secrets.token_hex(4)}", name)
            self.connections.adopt(conn.sid, user_id, name, token)
        except BaseException:
            conn.user_id, conn.name, conn.token = guest
            self.directory.detach(user_id, conn.sid)
            if announce:
                self.directory.release(user_id)
            raise
        self.connections.end_grace(user_id)
        log.info("log-in %s", name, extra=conn.log_fields())
        if announce:
            self.lobby.announce_entry(conn.sid, name)
        self.lobby.send_recent(conn.sid)
        self.presence.user_back(user_id, name, conn.sid, None)
        self.dms.attach(conn.sid, user_id, None, new_user=False)  # the DMs received while away
        return Named(name, token, self.claims.device_token(user_id))

    def _leave_as_guest(self, conn: Connection, user_id: str, name: str) -> None:
        """A guest logged in to a claimed name: once the connection is the account's, the guest
        leaves (unless another connection of it is still here)."""
        self.outbox.leave(conn.sid, user_room(user_id))
        self.dms.detach(conn.sid, user_id)
        if self.directory.detach(user_id, conn.sid):
            log.info("leave %s (logged in as %s)", name, conn.name, extra=conn.log_fields())
            # not "User-621 has left the chat!" (issue 23): the person logged in, and is
            # announced as the account (if it was away); the guest leaves the list quietly
            self.connections.release(user_id, quiet=True)

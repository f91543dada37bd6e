"""Claimed names: a name kept for good behind a password (`claim_name`, `release_name`,
`change_password`, `end_sessions`), and what naming and resuming ask of them (the `Claims`
port): which claim a name is or looks like, and whether a password matches, within the limits
on attempts.

Password attempts (issue 21) are limited before any hash: per client address; per claimed name
and address; and per claimed name from every address together for devices the account does not
know (a device token, domain/devices.py, marks the ones it does), so that strangers' guesses
never lock the owner out. Each wrong password leaves one rate-limited WARNING line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from rpschat.domain.devices import DeviceTokens
from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.names import PASSWORD_MAX_CHARS, NameRules, clean_password
from rpschat.domain.passwords import FailedAttemptLog
from rpschat.domain.ports import (
    Account,
    AccountEnd,
    AccountStore,
    Busy,
    Callers,
    Connection,
    Limits,
    NamedConnection,
    PasswordHasher,
    RateLimiter,
    ReservedNames,
    Runtime,
    SessionEnding,
)
from rpschat.domain.signout import NAME_RELEASED, PASSWORD_CHANGED, SESSIONS_ENDED

log = logging.getLogger("rpschat.chat")

RELEASE_WHILE_PLAYING = "You can't release your name during a game or while looking for one."
WRONG_PASSWORD = "Wrong password."


@dataclass(frozen=True)
class Claimed:
    """A name as claimed, or a password changed: the caller's token (a new one when other
    sessions ended) and a device token for this device."""

    username: str
    token: str
    device: str | None


@dataclass
class ClaimedNames:
    callers: Callers
    limits: Limits
    accounts: AccountStore | None  # None: claiming is off
    passwords: PasswordHasher | None  # bounded (domain/passwords.py): each call blocks
    limiter: RateLimiter  # password attempts
    runtime: Runtime
    names: NameRules
    settings: ChatLimits
    busy: Busy  # no release during a game: it would end unrated
    reserved: ReservedNames  # names kept for a moderator's account
    sessions: SessionEnding  # a release or a new password ends the other sessions
    devices: DeviceTokens | None = None  # known devices skip the per-name limits
    # told when an account is released (its roles, its standing): subscribed once built
    on_release: list[AccountEnd] = field(default_factory=list)
    failed_attempts: FailedAttemptLog = field(default_factory=FailedAttemptLog)

    # ---- client events -----------------------------------------------------------------------

    def claim_name(self, sid: str, password: str) -> Claimed:
        """Claim the connection's name for good."""
        conn = self.callers.named(sid)
        password = clean_password(password)
        self.limits.limit(conn, "other")
        if self.accounts is None or self.passwords is None:
            raise Refused(Code.CLAIMS_DISABLED, "Names can't be claimed on this server.")
        key = self.names.key(conn.name)
        existing = self.accounts.get(key)
        if existing is not None:
            if existing.user_id == conn.user_id:
                raise Refused(Code.ALREADY_CLAIMED, f"You have already claimed '{existing.name}'.")
            raise Refused(Code.NAME_CLAIMED, f"'{existing.name}' is claimed already.")
        self._limit_password_attempts(conn, None)  # a hash: counted per address, before it
        password_hash = self.passwords.hash(password)
        account = Account(key, conn.name, conn.user_id, password_hash, self._now_ms())
        if not self.accounts.create(account):
            raise Refused(
                Code.NAME_CLAIMED, f"'{conn.name}' has just been claimed by someone else."
            )
        log.info("claim %s", conn.name, extra=conn.log_fields())
        return Claimed(conn.name, conn.token, self.device_token(conn.user_id))

    def release_name(self, sid: str, password: str) -> str:
        """Give the claim up; the user stays online as a guest. The account's roles and
        standing go, and so do its other sessions; returns this connection's new token."""
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        accounts, account = self._own_account(conn)
        if self.busy.is_busy(conn.user_id):  # a rated game would end unrated: a dodged loss
            raise Refused(Code.IN_GAME, RELEASE_WHILE_PLAYING)
        self._check_password(conn, account, password, f"Wrong password for '{account.name}'.")
        accounts.delete(account.key, conn.user_id)
        log.info("release %s", account.name, extra=conn.log_fields())
        for listener in self.on_release:
            listener.account_released(conn.user_id, account.name)
        return self.sessions.end_other_sessions(conn, NAME_RELEASED)

    def change_password(self, sid: str, password: str, new_password: str) -> Claimed:
        """A new password for the caller's account; every other session of it ends."""
        conn = self.callers.named(sid)
        new_password = clean_password(new_password)
        self.limits.limit(conn, "other")
        accounts, account = self._own_account(conn)
        self._check_password(conn, account, password, WRONG_PASSWORD)
        assert self.passwords is not None  # _own_account found an account: claiming is on
        new_hash = self.passwords.hash(new_password)
        if not accounts.set_password(account.key, conn.user_id, new_hash):
            raise Refused(Code.NOT_CLAIMED, "Your name is not claimed.")  # released meanwhile
        log.info("password changed for %s", account.name, extra=conn.log_fields())
        token = self.sessions.end_other_sessions(conn, PASSWORD_CHANGED)
        return Claimed(conn.name, token, self.device_token(conn.user_id))

    def end_sessions(self, sid: str, password: str) -> str:
        """Log out everywhere else; returns this connection's new token."""
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        _, account = self._own_account(conn)
        self._check_password(conn, account, password, WRONG_PASSWORD)
        log.info("sessions ended for %s", account.name, extra=conn.log_fields())
        return self.sessions.end_other_sessions(conn, SESSIONS_ENDED)

    # ---- what naming and resuming ask (Claims) -----------------------------------------------

    def account_like(self, name: str) -> Account | None:
        """The claimed name that `name` is or looks like, if any."""
        if self.accounts is None:
            return None
        for key in self.names.keys(name):
            account = self.accounts.get(key)
            if account is not None:
                return account
        return None

    def check_not_claimed_by_another(self, user_id: str, name: str) -> None:
        account = self.account_like(name)
        if account is not None and account.user_id != user_id:
            raise Refused(
                Code.NAME_CLAIMED, f"The name '{account.name}' has been claimed: pick a name again."
            )
        if account is None:
            self.check_not_reserved(name)

    def check_not_reserved(self, name: str) -> None:
        self.reserved.check_not_reserved(name)

    def password_matches(
        self, conn: Connection, account: Account, password: str, device: str | None = None
    ) -> bool:
        known = self.devices is not None and self.devices.known(device, account.user_id)
        self._limit_password_attempts(conn, account, known_device=known)
        if self.passwords is None or not 0 < len(password) <= PASSWORD_MAX_CHARS:
            matches = False
        else:
            matches = self.passwords.verify(account.password_hash, password)
        if not matches:
            self.failed_attempts("wrong password", account.name, conn.address)
        return matches

    def device_token(self, user_id: str) -> str | None:
        return self.devices.issue(user_id) if self.devices is not None else None

    # ---- helpers -----------------------------------------------------------------------------

    def _own_account(self, conn: NamedConnection) -> tuple[AccountStore, Account]:
        account = None if self.accounts is None else self.accounts.of_user(conn.user_id)
        if self.accounts is None or account is None:
            raise Refused(Code.NOT_CLAIMED, "Your name is not claimed.")
        return self.accounts, account

    def _check_password(
        self, conn: NamedConnection, account: Account, password: str, wrong: str
    ) -> None:
        """The password of the account the connection holds: a session thief can't guess it
        faster than the limits allow."""
        if not self.password_matches(conn, account, password):
            raise Refused(Code.WRONG_PASSWORD, wrong)

    def _limit_password_attempts(
        self, conn: Connection, account: Account | None, known_device: bool = False
    ) -> None:
        """Before any hash is computed: per address; with `account`, unless the device is one
        the account knows, per name and address and per name in all (strangers' guesses from
        elsewhere never use up the owner's attempts, nor from the owner's own address its known
        devices')."""
        now = self.runtime.now()
        settings, check = self.settings, self.limiter.check
        try:
            check(f"login@{conn.address}", "login_address", settings.login_rate_per_address, now)
            if account is not None and not known_device:
                subject = f"login:{account.key}@{conn.address}"
                check(subject, "login_name_address", settings.login_rate, now)
                check(f"login:{account.key}", "login_name", settings.login_rate_per_name, now)
        except Refused as refused:
            if refused.code is not Code.RATE_LIMITED:  # Redis is down, say: not the caller's
                raise
            wait = refused.details["retry_after"]
            raise Refused(
                Code.TOO_MANY_ATTEMPTS,
                f"Too many password attempts: wait {wait:.1f} s.",
                retry_after=wait,
            ) from None

    def _now_ms(self) -> int:
        return int(self.runtime.now() * 1000)

"""Claimed names: a name kept for good behind a password (`claim_name`, `release_name`), and what
naming and resuming ask of them (the `Claims` port): which claim a name is or looks like, and
whether a password matches, within the limits on attempts."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.names import PASSWORD_MAX_CHARS, NameRules, clean_password
from rpschat.domain.ports import (
    Account,
    AccountStore,
    Admission,
    Callers,
    Connection,
    Limits,
    PasswordHasher,
    RateLimiter,
    Runtime,
)

log = logging.getLogger("rpschat.chat")


@dataclass
class ClaimedNames:
    callers: Callers
    limits: Limits
    accounts: AccountStore | None  # None: claiming is off
    passwords: PasswordHasher | None
    limiter: RateLimiter  # password attempts, per claimed name and per address
    runtime: Runtime
    names: NameRules
    settings: ChatLimits
    admission: Admission  # a moderator's name: reports reach it once claimed

    # ---- client events -----------------------------------------------------------------------

    def claim_name(self, sid: str, password: str) -> str:
        """Claim the connection's name for good; return it."""
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
        password_hash: str = self.runtime.run_blocking(self.passwords.hash, password)
        account = Account(key, conn.name, conn.user_id, password_hash, self._now_ms())
        if not self.accounts.create(account):
            raise Refused(
                Code.NAME_CLAIMED, f"'{conn.name}' has just been claimed by someone else."
            )
        log.info("claim %s", conn.name, extra=conn.log_fields())
        self.admission.on_named(conn)  # a moderator's name: reports reach it from now on
        return conn.name

    def release_name(self, sid: str, password: str) -> None:
        conn = self.callers.named(sid)
        self.limits.limit(conn, "other")
        account = None if self.accounts is None else self.accounts.of_user(conn.user_id)
        if self.accounts is None or account is None:
            raise Refused(Code.NOT_CLAIMED, "Your name is not claimed.")
        if not self.password_matches(conn, account, password):
            raise Refused(Code.WRONG_PASSWORD, f"Wrong password for '{account.name}'.")
        self.accounts.delete(account.key, conn.user_id)
        log.info("release %s", account.name, extra=conn.log_fields())

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

    def password_matches(self, conn: Connection, account: Account, password: str) -> bool:
        self._limit_password_attempts(conn, account)
        if self.passwords is None or not 0 < len(password) <= PASSWORD_MAX_CHARS:
            return False
        return bool(
            self.runtime.run_blocking(self.passwords.verify, account.password_hash, password)
        )

    def _limit_password_attempts(self, conn: Connection, account: Account) -> None:
        now = self.runtime.now()
        try:
            settings = self.settings
            self.limiter.check(f"login:{account.key}", "login", settings.login_rate_per_name, now)
            by_address = settings.login_rate_per_address
            self.limiter.check(f"login@{conn.address}", "login", by_address, now)
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

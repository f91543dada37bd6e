"""Roles (a moderator's powers) belong to an account the operator designated, by user id.

A role is a row (user id, role, granted by, granted at) in the database, shared by every node;
powers are checked by user id and role, never by name (issue 21: whoever claimed a name listed
in MODERATORS first, or a look-alike of it, became a moderator, and a released moderator's name
claimed again by a stranger kept the powers).

MODERATORS only seeds the table, at start-up, once per name:
- a listed name claimed by then is bound to that account, and the binding is recorded: a later
  start never binds the name again (released and claimed by a stranger, it gives nothing);
- a listed name nobody claimed is reserved: nobody may take it, or a look-alike of it, until the
  operator designates its account with `flask --app app grant NAME` (rpschat/ops/cli.py), which
  creates the account with a password the operator types.
`grant` and `revoke` are the operator's (the CLI's), and go to the audit log as "operator". A
release of the name removes the account's roles.

Issue 25 adds an owner role, and moderators granting and revoking: `Grant.granted_by` names who
granted it, and `RoleService.grant_to` / `revoke_from` take the granter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from rpschat.domain.errors import Code, Refused
from rpschat.domain.identity import new_user_id
from rpschat.domain.names import NameRules, clean_password
from rpschat.domain.ports import (
    Account,
    AccountStore,
    Grant,
    ModerationStore,
    PasswordHasher,
    RoleStore,
)
from rpschat.domain.text import clean_name, name_key

log = logging.getLogger("rpschat.roles")

MODERATOR = "moderator"
OWNER = "owner"  # grants and revokes MODERATOR from the page (OWNERS, or `flask grant --owner`)
OPERATOR = "operator"  # who grants from the command line (the audit log's "moderator")
SEEDED_BY = "MODERATORS"  # granted_by of a binding made at start-up


def reserved_refusal(name: str) -> Refused:
    return Refused(
        Code.NAME_RESERVED, f"'{name}' is reserved (in any case or look-alike): pick another name."
    )


@dataclass
class RoleService:
    store: RoleStore
    accounts: AccountStore
    names: NameRules
    audit_log: ModerationStore
    now_ms: Callable[[], int]
    # look-alike key -> the name as configured: listed names not claimed at start-up
    reserved: dict[str, str] = field(default_factory=dict)

    # ---- checks ------------------------------------------------------------------------------

    def has(self, user_id: str | None, role: str) -> bool:
        return user_id is not None and self.store.has(user_id, role)

    def holders(self, role: str) -> list[str]:
        return self.store.holders(role)

    def check_not_reserved(self, name: str) -> None:
        """Before a guest takes `name` (the caller found no account for it)."""
        for key in self.names.keys(name):
            reserved = self.reserved.get(key)
            if reserved is not None:
                raise reserved_refusal(reserved)

    # ---- start-up ----------------------------------------------------------------------------

    def seed(self, names: tuple[str, ...], role: str = MODERATOR) -> None:
        """MODERATORS at start-up: bind each listed name's account once, or reserve the name."""
        for name in names:
            self._seed_one(name, role)

    def _seed_one(self, name: str, role: str) -> None:
        key = self.names.key(name)
        bound_to = self.store.seeded(key, role)
        account = self.accounts.get(key)
        if bound_to is not None:
            if account is None or account.user_id != bound_to:
                log.warning(
                    "%s lists %r, bound once to an account that no longer holds the name: not "
                    "bound again (flask --app app grant %s designates its account)",
                    SEEDED_BY, name, name,
                )  # fmt: skip
            return
        if account is None:
            self.reserved[key] = name
            log.info("%r is reserved until its account is designated (flask grant)", name)
            return
        grant = Grant(account.user_id, role, SEEDED_BY, self.now_ms())
        if self.store.bind_seed(key, grant):
            self._audit(OPERATOR, "grant", account.name, f"{role}: {SEEDED_BY} at start-up")

    # ---- the operator's commands -------------------------------------------------------------

    def designate(
        self, name: str, password: Callable[[], str], hasher: PasswordHasher, role: str = MODERATOR
    ) -> Account:
        """`flask grant NAME`: the account of `name` gets `role`; an unclaimed name is claimed
        for it first, with the password `password()` asks the operator for (`hasher` hashes
        it). Returns the account."""
        name = clean_name(name)
        self.names.check_allowed(name)
        account = self._account_of(name)
        if account is None:
            secret = clean_password(password())
            account = Account(
                self.names.key(name), name, new_user_id(), hasher.hash(secret), self.now_ms()
            )
            if not self.accounts.create(account):
                raise Refused(Code.NAME_CLAIMED, f"'{name}' has just been claimed by someone else.")
        self.grant_to(account, role, OPERATOR)
        return account

    def grant_to(self, account: Account, role: str, granted_by: str) -> bool:
        """False if the account had the role already."""
        grant = Grant(account.user_id, role, granted_by, self.now_ms())
        granted = self.store.grant(grant)
        if self.reserved.pop(account.key, None) is not None:
            self.store.bind_seed(account.key, grant)  # a listed name, bound: never seeded again
        if granted:
            self._audit(granted_by, "grant", account.name, role)
        return granted

    def grant_by_name(self, name: str, role: str, by: str) -> tuple[Account, bool]:
        """An owner's `mod_grant`: the claimed account of `name` gets `role` (False: it had
        it already). Refused for a name nobody claimed: roles go to accounts only."""
        account = self._account_of(clean_name(name))
        if account is None:
            raise Refused(
                Code.NOT_CLAIMED, f"'{name}' is not claimed: only a claimed name can moderate."
            )
        return account, self.grant_to(account, role, by)

    def revoke_from(self, name: str, role: str = MODERATOR, by: str = OPERATOR) -> Account:
        account = self._account_of(clean_name(name))
        if account is None:
            raise Refused(Code.NOT_CLAIMED, f"'{name}' is not claimed.")
        if not self.store.revoke(account.user_id, role):
            raise Refused(Code.NOT_MODERATOR, f"'{account.name}' is no {role}.")
        self._audit(by, "revoke", account.name, role)
        return account

    def account_released(self, user_id: str, name: str) -> None:
        """The account was released: its roles go with it (AccountEnd)."""
        for role in self.store.revoke_all(user_id):
            self._audit(name, "revoke", name, f"{role}: the name was released")

    # ---- helpers -----------------------------------------------------------------------------

    def _account_of(self, name: str) -> Account | None:
        """The claimed account of `name`: the same name in another case, not a look-alike (the
        operator names an account exactly)."""
        for key in self.names.keys(name):
            account = self.accounts.get(key)
            if account is None:
                continue
            if name_key(account.name) != name_key(name):
                raise Refused(
                    Code.NAME_LOOK_ALIKE,
                    f"'{name}' looks like the claimed name '{account.name}' but is not it: "
                    f"name that account exactly if you mean it.",
                )
            return account
        return None

    def _audit(self, by: str, action: str, target: str, reason: str | None) -> None:
        self.audit_log.audit(by, action, target, reason, None, self.now_ms())

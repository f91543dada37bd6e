"""Roles by account (domain/roles.py) in their stores, and MODERATORS seeding."""

import pytest

from rpschat.composition import open_storage
from rpschat.domain.errors import Refused
from rpschat.domain.ports import Account, Grant
from rpschat.domain.roles import MODERATOR, RoleService
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.confusables import NAME_RULES
from rpschat.storage.memory.accounts import MemoryAccounts
from rpschat.storage.memory.moderation import MemoryModeration
from rpschat.storage.memory.roles import MemoryRoles


def check_store(store):
    assert store.grant(Grant("u1", MODERATOR, "operator", 1))
    assert not store.grant(Grant("u1", MODERATOR, "operator", 2))  # held already
    assert store.has("u1", MODERATOR) and not store.has("u2", MODERATOR)
    assert store.holders(MODERATOR) == ["u1"]
    assert store.seeded("modcat", MODERATOR) is None
    assert store.bind_seed("modcat", Grant("u2", MODERATOR, "MODERATORS", 3))
    assert not store.bind_seed("modcat", Grant("u3", MODERATOR, "MODERATORS", 4))  # once
    assert store.seeded("modcat", MODERATOR) == "u2" and not store.has("u3", MODERATOR)
    assert sorted(store.holders(MODERATOR)) == ["u1", "u2"]
    assert store.revoke("u1", MODERATOR) and not store.revoke("u1", MODERATOR)
    assert store.revoke_all("u2") == [MODERATOR] and store.holders(MODERATOR) == []


def test_memory_roles():
    check_store(MemoryRoles())


def test_sql_roles(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    check_store(storage.roles)
    storage.close()


def service(store=None, accounts=None, audit=None):
    return RoleService(
        store or MemoryRoles(), accounts or MemoryAccounts(), NAME_RULES,
        audit or MemoryModeration(), now_ms=lambda: 1,
    )  # fmt: skip


def account(name, user_id):
    return Account(NAME_RULES.key(name), name, user_id, "h", 1)


def test_a_listed_name_is_bound_once_and_never_again():
    roles, accounts = MemoryRoles(), MemoryAccounts()
    accounts.create(account("Ada", "u1"))
    service(roles, accounts).seed(("Ada", "Modcat"))
    assert roles.has("u1", MODERATOR)
    accounts.delete(NAME_RULES.key("Ada"), "u1")  # released...
    roles.revoke_all("u1")
    accounts.create(account("ada", "u9"))  # ...and claimed by a stranger
    again = service(roles, accounts)
    again.seed(("Ada", "Modcat"))  # a restart
    assert not roles.has("u9", MODERATOR)
    with pytest.raises(Refused, match="'Modcat' is reserved"):
        again.check_not_reserved("\u217fodcat")
    again.check_not_reserved("Ada")  # bound once: no longer reserved


def test_designating_an_account_needs_its_exact_name_not_a_look_alike():
    accounts = MemoryAccounts()
    accounts.create(account("Ada", "u1"))
    roles = service(accounts=accounts)
    with pytest.raises(Refused, match="looks like the claimed name 'Ada' but is not it"):
        roles.designate("\u0410da", lambda: "unused!", None)  # Cyrillic А
    assert roles.designate("ADA", lambda: "unused!", None).user_id == "u1"


def test_the_audit_log_says_who_granted(sql_url):
    storage = open_storage(sql_url, ThreadingRuntime())
    audit = storage.moderation
    roles = service(storage.roles, storage.accounts, audit)

    class Hasher:
        def hash(self, password):
            return "hashed"

    created = roles.designate("Modcat", lambda: "a long password", Hasher())
    roles.revoke_from("modcat")
    assert [(e["moderator"], e["action"], e["target"]) for e in audit.log(5)] == [
        ("operator", "revoke", "Modcat"),
        ("operator", "grant", "Modcat"),
    ]
    assert storage.accounts.of_user(created.user_id).password_hash == "hashed"
    storage.close()

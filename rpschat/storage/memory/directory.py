"""Who is online and under which name (the domain's `Directory`), in this process;
storage/redis/directory.py holds the one every node shares."""

from __future__ import annotations

from rpschat.domain.ports import name_taken
from rpschat.domain.text import name_key
from rpschat.storage.confusables import look_alike_key


class MemoryDirectory:
    """Names are unique by look-alike key (domain/names.py): "Аda" is taken while "Ada" is."""

    def __init__(self) -> None:
        self._name_by_user: dict[str, str] = {}
        self._user_by_key: dict[str, str] = {}
        # user -> slot -> sid, the latest attached last (dicts keep insertion order)
        self._slots: dict[str, dict[str, str]] = {}
        self._addresses: dict[str, str] = {}

    def claim(self, user_id: str, name: str) -> str | None:
        key = look_alike_key(name)
        holder = self._user_by_key.get(key)
        if holder is not None and holder != user_id:
            raise name_taken(name)
        old = self._name_by_user.get(user_id)
        if old is not None:
            del self._user_by_key[look_alike_key(old)]
        self._user_by_key[key] = user_id
        self._name_by_user[user_id] = name
        return old

    def release(self, user_id: str) -> str | None:
        name = self._name_by_user.pop(user_id, None)
        if name is not None:
            del self._user_by_key[look_alike_key(name)]
        self._slots.pop(user_id, None)
        self._addresses.pop(user_id, None)
        return name

    def name_of(self, user_id: str) -> str | None:
        return self._name_by_user.get(user_id)

    def user_of(self, name: str) -> str | None:
        return self._user_by_key.get(look_alike_key(name))

    def names(self) -> list[str]:
        return sorted(self._name_by_user.values(), key=name_key)

    def count(self) -> int:
        return len(self._name_by_user)

    def attach(self, user_id: str, sid: str, slot: str | None = None) -> str | None:
        slots = self._slots.setdefault(user_id, {})
        old = slots.pop(slot or user_id, None)
        slots[slot or user_id] = sid
        return old if old != sid else None

    def detach(self, user_id: str, sid: str) -> bool:
        slots = self._slots.get(user_id, {})
        mine = [slot for slot, held in slots.items() if held == sid]
        if not mine:
            return False
        for slot in mine:
            del slots[slot]
        if slots:
            return False  # another device of the same user is still here
        del self._slots[user_id]
        return True

    def sid_of(self, user_id: str) -> str | None:
        slots = self._slots.get(user_id)
        return next(reversed(slots.values())) if slots else None

    def is_home(self, user_id: str) -> bool:
        return True  # one process answers for everyone

    def connections_of(self, user_id: str) -> list[str]:
        return list(self._slots.get(user_id, {}).values())

    def note_address(self, user_id: str, address: str) -> None:
        self._addresses[user_id] = address

    def address_of(self, user_id: str) -> str | None:
        return self._addresses.get(user_id)

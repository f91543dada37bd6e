"""The DM replay's watermark, in the pure domain: a DM committed while the replay reads
storage comes once, replayed or live, never twice and never not at all."""

from __future__ import annotations

from types import SimpleNamespace

from rpschat.domain.dms import DmService, dm_room
from rpschat.domain.limits import ChatLimits
from rpschat.domain.ports import DirectMessage


class Outbox:
    """Delivers to connections and rooms as Socket.IO does; records what each sid got."""

    def __init__(self):
        self.rooms: dict[str, set[str]] = {}
        self.got: dict[str, list[int]] = {}

    def emit(self, event, data, *, to=None, skip_sid=None):
        targets = to if isinstance(to, list) else [to]
        sids = set()
        for target in targets:
            sids |= self.rooms.get(target, {target} if target.startswith("sid") else set())
        for sid in sids - {skip_sid}:
            self.got.setdefault(sid, []).append(data["id"])

    def join(self, sid, room):
        self.rooms.setdefault(room, set()).add(sid)


def dm(message_id: int) -> DirectMessage:
    return DirectMessage(message_id, "b", "Bea", "a", "Ada", f"m{message_id}", 0)


class Store:
    """Stored DMs 1..stored; `during_read` runs inside the first read (another task's DM)."""

    def __init__(self, stored: int, during_read=None):
        self.messages = [dm(n) for n in range(1, stored + 1)]
        self.during_read = during_read

    def since(self, user_id, after_id, limit):
        found = [m for m in self.messages if m.id > after_id][:limit]
        if self.during_read is not None:
            hook, self.during_read = self.during_read, None
            hook()
        return found

    def get_many(self, message_ids):  # the quotes of replies: these DMs are none
        return {m.id: m for m in self.messages if m.id in message_ids}

    def reactions_of(self, message_ids):  # nobody reacted to them
        return {}

    def mark_read_through(self, user_id, last_id, after_id=0):
        self.read_through = last_id


def service(store: Store, outbox: Outbox) -> DmService:
    unused = SimpleNamespace()  # the replay asks none of them but whether Ada ignores Bea
    return DmService(
        callers=unused,
        limits=unused,
        posting=unused,
        ignores=SimpleNamespace(ignores=lambda user_id, other_id: False),
        directory=unused,
        accounts=None,
        names=unused,
        store=store,
        outbox=outbox,
        settings=ChatLimits(),
    )


def deliver(dms: DmService, store: Store, message_id: int) -> None:
    """What `_send` does for another user's DM: commit, then deliver to the DM rooms."""
    store.messages.append(dm(message_id))
    dms._deliver(dm(message_id), skip_sid="sid-bea")


def test_a_dm_committed_during_the_replay_comes_once():
    outbox = Outbox()
    store = Store(stored=4)
    dms = service(store, outbox)
    dms.note_delivered(4)
    store.during_read = lambda: deliver(dms, store, 5)  # not in the room yet: missed live
    dms.attach("sid-ada", "a", dm_last_id=2, new_user=False)
    assert outbox.got["sid-ada"] == [3, 4, 5]  # the second pass reads it
    assert "sid-ada" in outbox.rooms[dm_room("a")]
    deliver(dms, store, 6)
    assert outbox.got["sid-ada"] == [3, 4, 5, 6]


def test_nothing_above_the_watermark_is_replayed_it_comes_live():
    outbox = Outbox()
    store = Store(stored=5)
    dms = service(store, outbox)
    dms.shared_queue = True  # with Redis, 5 is committed but not yet back from the queue
    dms.note_delivered(4)
    dms.attach("sid-ada", "a", dm_last_id=0, new_user=False)
    assert outbox.got["sid-ada"] == [1, 2, 3, 4]
    outbox.emit("dm", dm(5).to_wire(), to=[dm_room("a")])  # the queue delivers it
    assert outbox.got["sid-ada"] == [1, 2, 3, 4, 5]

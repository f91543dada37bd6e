"""The connection table: who is connected from where, under which user, and what happens when a
connection ends (a user who drops keeps its name for RESUME_GRACE_SECONDS, then leaves).

Every service asks it who is behind a connection (`named`, `connection`: the `Callers` port).
Users dropping and leaving are told to the presence hub (the lobby says so, the game reacts).
"""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from rpschat.domain.errors import Code, Refused
from rpschat.domain.limits import ChatLimits
from rpschat.domain.ports import (
    Admission,
    Connection,
    Directory,
    NamedConnection,
    Outbox,
    PresenceListener,
    RateLimiter,
    Runtime,
    token_slot,
    user_room,
)

log = logging.getLogger("rpschat.chat")

PICK_A_NAME = "Pick a name before you chat."


@dataclass
class Connections:
    directory: Directory
    limiter: RateLimiter  # forgets the buckets of connections and users that are gone
    outbox: Outbox
    runtime: Runtime
    limits: ChatLimits
    admission: Admission
    presence: PresenceListener  # the hub: the lobby and the game listen
    connections: dict[str, Connection] = field(default_factory=dict)
    closed: bool = False
    _per_address: Counter[str] = field(default_factory=Counter)
    # user -> the drop whose grace period runs; numbers never repeat, so that a resume and a
    # new drop can't pass for the drop an older grace period was started for
    _drop_generation: dict[str, int] = field(default_factory=dict)
    _drops: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # ---- who is behind a connection (Callers) ------------------------------------------------

    def connection(self, sid: str) -> Connection:
        return self.connections[sid]

    def named(self, sid: str) -> NamedConnection:
        conn = self.connections.get(sid)
        if conn is None or conn.user_id is None:
            raise Refused(Code.NAME_REQUIRED, PICK_A_NAME)
        return cast(NamedConnection, conn)  # adopt() set its user id, name and token at once

    # ---- connecting and disconnecting --------------------------------------------------------

    def connect(self, sid: str, address: str, dm_cursor: int | None = None) -> None:
        """Register a connection. Raises Refused (a ban) before taking anything."""
        self.admission.check_can_connect(address)
        now = self.runtime.now()
        self.connections[sid] = Connection(sid, address, now, dm_cursor=dm_cursor)
        self._per_address[address] += 1

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
        if conn.user_id is None or conn.name is None:
            log.info("disconnect %s (unnamed)", sid, extra=conn.log_fields())
            return
        if conn.replaced:
            return
        if not self.directory.detach(conn.user_id, sid):
            return  # a newer connection of the same user took over
        how = "left" if voluntary else "dropped"
        log.info("disconnect %s (%s)", conn.name, how, extra=conn.log_fields())
        if voluntary:
            self.release(conn.user_id)
            return
        self._drop(conn.user_id, conn.name)

    def adopt(self, sid: str, user_id: str, name: str, token: str) -> None:
        """The connection becomes the user's: it joins the user's room and takes the token's
        slot (the connection there before is closed, without a trace)."""
        old_sid = self.directory.attach(user_id, sid, token_slot(token))
        conn = self.connections[sid]
        conn.user_id, conn.name, conn.token = user_id, name, token  # from here disconnect() frees
        self.outbox.join(sid, user_room(user_id))
        if old_sid is not None:
            old = self.connections.get(old_sid)
            if old is not None:
                old.replaced = True
            self.outbox.disconnect(old_sid)
        self.directory.note_address(user_id, conn.address)  # for a ban or a mute by address

    # ---- users leaving -----------------------------------------------------------------------

    def _drop(self, user_id: str, name: str) -> None:
        """The user's connection is lost: hold the name for the grace period, then release."""
        if self.limits.resume_grace_seconds <= 0:
            self.release(user_id)
            return
        generation = next(self._drops)
        self._drop_generation[user_id] = generation
        self.presence.user_dropped(user_id, name)
        self.runtime.spawn(self._release_after_grace, user_id, generation)

    def _release_after_grace(self, user_id: str, generation: int) -> None:
        self.runtime.sleep(self.limits.resume_grace_seconds)
        if self._drop_generation.get(user_id) != generation:
            return  # resumed here (and maybe dropped again: that drop has its own grace)
        del self._drop_generation[user_id]
        # Resumed on another node, the user is that node's: a drop there has its own grace.
        if self.directory.sid_of(user_id) is None and self.directory.is_home(user_id):
            self.release(user_id)

    def end_grace(self, user_id: str) -> None:
        self._drop_generation.pop(user_id, None)

    def release(self, user_id: str, quiet: bool = False) -> None:
        """The user's name is free. `quiet`: no "has left the chat!" line (a guest that logged
        in to a claimed name: the person is still here, under that name)."""
        name = self.directory.release(user_id)
        if name is None:
            return
        self.limiter.forget(user_id)
        self.presence.user_gone(user_id, name, removed=quiet)

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
        self.presence.user_gone(user_id, name, removed=True)

    # ---- for the cluster keeper (rpschat/cluster.py) and the metrics -------------------------

    def drop_orphan(self, user_id: str) -> None:
        """A user taken over from a dead node: dropped, as if its connection had been lost."""
        name = self.directory.name_of(user_id)
        if name is None:
            return
        sid = self.directory.sid_of(user_id)
        if sid is not None and not self.directory.detach(user_id, sid):
            return  # it resumed somewhere meanwhile
        self._drop(user_id, name)

    def local_users(self) -> set[str]:
        """Users this node answers for: connected here, or in their grace period here."""
        connected = {c.user_id for c in list(self.connections.values()) if c.user_id}
        return connected | set(self._drop_generation)

    def named_connections(self) -> list[NamedConnection]:
        """This node's connections that are a user's (and not replaced by a newer one)."""
        conns = list(self.connections.values())
        return [cast(NamedConnection, c) for c in conns if c.user_id and not c.replaced]

    def named_count(self) -> int:
        return sum(1 for c in list(self.connections.values()) if c.user_id)

    # ---- connections that never pick a name --------------------------------------------------

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

    def sweep_idle(self) -> None:
        """One task for all connections (not a timer each), until `close`: closes those that
        never named themselves within UNNAMED_IDLE_SECONDS."""
        period = max(1.0, min(10.0, self.limits.unnamed_idle_seconds / 4))
        while not self.closed:
            self.runtime.sleep(period)
            try:
                self.kick_idle_unnamed()
            except Exception:
                log.exception("idle sweep failed")

    def close(self) -> None:
        self.closed = True

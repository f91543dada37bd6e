"""The cluster keeper: one task per node that keeps the shared state (rpschat/storage/redis)
true, orchestrating the connections and the games: heartbeats, taking over a dead node's users,
settling rounds whose timer died with its node, and repairs after Redis comes back empty."""

from __future__ import annotations

import logging
import time

from rpschat.domain.connections import Connections
from rpschat.domain.errors import Refused
from rpschat.domain.game.service import GameService
from rpschat.domain.ports import NamedConnection, Outbox, Runtime, token_slot
from rpschat.storage.redis.client import SharedStateUnavailable
from rpschat.storage.redis.directory import RedisDirectory
from rpschat.storage.redis.matches import OwnedMatchStore
from rpschat.storage.redis.nodes import NodeRegistry
from rpschat.storage.redis.state import RedisState
from rpschat.storage.redis.tokens import RedisTokens

log = logging.getLogger("rpschat.cluster")

STRAY_CHECK_EVERY = 5  # ticks


class ClusterKeeper:
    """One task per node that keeps the shared state true (rpschat/storage/redis/__init__.py
    tells how): the heartbeat, taking over a dead node's users, settling overdue rounds, and
    repairs."""

    def __init__(
        self,
        shared: RedisState,
        connections: Connections,
        games: GameService,
        outbox: Outbox,
        runtime: Runtime,
    ):
        self.registry: NodeRegistry = shared.registry
        self.directory: RedisDirectory = shared.directory
        self.tokens: RedisTokens = shared.tokens
        self.matches: OwnedMatchStore | None = shared.matches
        self.connections = connections
        self.games = games
        self.outbox = outbox
        self.runtime = runtime
        self.tick = max(0.05, min(1.0, shared.node_ttl_seconds / 4))
        self.stopped = False
        self._strays: dict[str, float] = {}  # users homed here that nobody here knows: since
        self._beats = 0

    def start(self) -> None:
        """Join the cluster: beat and keep watch."""
        self.runtime.spawn(self._run)
        log.info("node %s on Redis", self.node_id)

    def stop(self) -> None:
        self.stopped = True
        try:
            self.registry.leave()
        except Refused:
            pass

    def _run(self) -> None:
        while not self.stopped:
            for step in (self.beat, self.reap_dead_nodes, self.settle_overdue):
                try:
                    step()
                except Refused as refusal:  # Redis is down: try again next tick
                    log.debug("keeper: %s", refusal.reason)
                except Exception:
                    log.exception("keeper step %s failed", step.__name__)
            self.runtime.sleep(self.tick)

    def beat(self) -> None:
        refreshed = self.registry.beat()
        if not refreshed and self._beats:  # Redis restarted empty, or this node stalled too long
            log.warning("node %s: heartbeat key was gone; restoring its users", self.node_id)
            self.restore_local_users()
            if self.matches is not None:  # and its games (those adopted meanwhile are let go)
                self.matches.rewrite_all()
        self._beats += 1
        if self._beats % STRAY_CHECK_EVERY == 0:
            self.release_strays()

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    # ---- dead nodes --------------------------------------------------------------------------

    def reap_dead_nodes(self) -> int:
        """Take over the users of nodes whose heartbeat expired; return how many."""
        taken = 0
        for node in self.registry.dead_nodes():
            # its games first: a player who is gone for good then loses on the game's new owner
            adopted = self.games.adopt_games(node)
            if adopted:
                log.info("node %s is dead: adopted %d of its games", node, adopted)
            for user_id in self.directory.users_on(node):
                if self.directory.take_over(user_id, node):
                    log.info("node %s is dead: %s dropped", node, user_id)
                    self.connections.drop_orphan(user_id)
                    taken += 1
            self.registry.forget(node)
        return taken

    def settle_overdue(self) -> None:
        """Rounds and challenges past their deadline by more than a tick: their timers' node
        may be dead."""
        self.games.settle_overdue(self.runtime.now() - self.tick)

    # ---- repairs -----------------------------------------------------------------------------

    def restore_local_users(self) -> int:
        """Users connected here that Redis has lost track of: forgotten (it restarted empty:
        their name, connection and token go back) or taken over by a node that thought this one
        dead (the connection is attached again, so their grace period does not release them).
        A name someone else took meanwhile closes the connection."""
        conns = self.connections.named_connections()
        user_ids = [c.user_id for c in conns]
        homes, sids = self.directory.homes_of(user_ids), self.directory.sids_of(user_ids)
        restored = 0
        for conn, home, sid in zip(conns, homes, sids, strict=True):
            if home is None and conn.name is not None:
                restored += self._restore(conn)
            elif sid is None:
                self.directory.attach(conn.user_id, conn.sid, conn.token and token_slot(conn.token))
                restored += 1
        return restored

    def _restore(self, conn: NamedConnection) -> int:
        try:
            self.directory.claim(conn.user_id, conn.name)
        except SharedStateUnavailable:
            raise
        except Refused:
            log.warning("%s lost the name %s while Redis was away", conn.sid, conn.name)
            self.outbox.disconnect(conn.sid)
            return 0
        self.directory.attach(conn.user_id, conn.sid, conn.token and token_slot(conn.token))
        if conn.token:
            self.tokens.restore(conn.token, conn.name)
        return 1

    def release_strays(self, min_age: float | None = None) -> int:
        """Users homed on this node with no connection or grace period here (a handler hit a
        Redis error halfway): released once they have stayed so for a while."""
        min_age = max(5.0, 4 * self.tick) if min_age is None else min_age
        now = time.monotonic()
        unknown = self.directory.users_on(self.node_id) - self.connections.local_users()
        self._strays = {user: self._strays.get(user, now) for user in unknown}
        released = 0
        for user_id, since in list(self._strays.items()):
            if now - since >= min_age:
                log.warning("releasing stray user %s", user_id)
                self.connections.release(user_id)
                del self._strays[user_id]
                released += 1
        return released

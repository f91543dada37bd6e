"""The MatchStore (domain/game/ports.py) of a node among several: each game lives in the memory of
the node that owns it (the one that created or adopted it), which alone changes it; Redis holds
what the other nodes need of it, written by the owner:

- `game:<id>`: the snapshot (`Match.to_dict`, secret moves included): what other nodes read
  (`get`: listing, watching, a resumed player's `game_state`) and what a node that adopts the
  game rebuilds it from;
- `owner:<id>`: the owner's node id (where a player's event on the game is forwarded);
- `owned:<node>`: the node's live games (what is adopted when it dies);
- `live_game` (name -> game id, checked by the queue's pairing script), `games` (live ids in
  start order) and `games_of:<name>` (each player's kept games).

Writes are the owner's, through one writer task per node, in order, pipelined: a change that
completes a round or ends the game is written before the players are told of it (so a round
anyone saw is in Redis should the owner die); a throw that completes no round is not written at
all (a node that adopts the game restarts the round in progress), and what needs it (a resumed
player's `game_state`, `watch`) is asked of the owner. A flush whose owner key names another node
is refused (`lost`): that node adopted the game, and this one lets it go.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from rpschat.domain.game.match import Match
from rpschat.domain.ports import Event, Lock, Runtime
from rpschat.storage.memory.games import MemoryMatchStore
from rpschat.storage.redis.client import LOST, Keys, redis, shared_state, text, text_set

log = logging.getLogger("rpschat.games")

GAME_SIDE_TTL_MS = 3_600_000  # a player's games index nobody touched for an hour is a dead one's
SYNC_WAIT_SECONDS = 3.0  # the longest a player waits for a round's write (Redis away: less)
RETRY_SECONDS = 0.5  # after a failed flush

# KEYS: the game, live ids (zset), live (name -> id), the start counter, the owner key, the
# owner's live games. ARGV: game id, snapshot, node, mode ('new': only if no player is in a live
# game, else 0; 'live': the snapshot, and the indexes only if Redis lost them; 'over'), finished
# ttl ms, games_of prefix, side ttl ms, names... -1 if another node owns the game now.
_PUT = """
local mode = ARGV[4]
if mode == 'new' then
  for i = 8, #ARGV do
    if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 1 then return 0 end
  end
else
  local owner = redis.call('GET', KEYS[5])
  if owner and owner ~= ARGV[3] then return -1 end
  if mode == 'live' and owner then  -- indexed already: the snapshot alone
    redis.call('SET', KEYS[1], ARGV[2])
    return 1
  end
  -- no owner key: Redis lost the game (it restarted empty): indexed again below
end
if mode ~= 'over' then
  redis.call('SET', KEYS[1], ARGV[2])
  if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), ARGV[1])
  end
  redis.call('SET', KEYS[5], ARGV[3])
  redis.call('SADD', KEYS[6], ARGV[1])
  for i = 8, #ARGV do
    redis.call('HSET', KEYS[3], ARGV[i], ARGV[1])
    if mode == 'new' then
      redis.call('SADD', ARGV[6] .. ARGV[i], ARGV[1])
      redis.call('PEXPIRE', ARGV[6] .. ARGV[i], ARGV[7])
    end
  end
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  redis.call('SET', KEYS[5], ARGV[3], 'PX', ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[1])  -- until its result is recorded (`recorded`)
  for i = 8, #ARGV do
    if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[i]) end
    redis.call('SADD', ARGV[6] .. ARGV[i], ARGV[1])
    redis.call('PEXPIRE', ARGV[6] .. ARGV[i], ARGV[5])
  end
end
return 1
"""
# KEYS: the game, live ids, live, the owner key, the owner's live games. ARGV: game id,
# games_of prefix, node. Only the owner's delete counts.
_DELETE = """
local owner = redis.call('GET', KEYS[4])
if owner and owner ~= ARGV[3] then return -1 end
local raw = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[5], ARGV[1])
if raw then
  local match = cjson.decode(raw)
  local names = match['names'] or {}
  for _, id in ipairs(match['players']) do
    local player = names[id] or id  -- indexed by the name played under, as the queue is
    if redis.call('HGET', KEYS[3], player) == ARGV[1] then redis.call('HDEL', KEYS[3], player) end
    redis.call('SREM', ARGV[2] .. player, ARGV[1])
  end
end
return 1
"""
# KEYS: a set or sorted set of game ids. ARGV: game key prefix, 'z' for a sorted set (oldest
# first). The snapshots still there; the ids of expired ones are removed.
_MATCHES_OF = """
local ids
if ARGV[2] == 'z' then
  ids = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  ids = redis.call('SMEMBERS', KEYS[1])
end
local found = {}
for _, id in ipairs(ids) do
  local raw = redis.call('GET', ARGV[1] .. id)
  if raw then
    found[#found + 1] = raw
  elseif ARGV[2] == 'z' then
    redis.call('ZREM', KEYS[1], id)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return found
"""

# KEYS: the owner key, the dead node's games, this node's, the game. ARGV: dead node, this
# node, game id. The snapshot if the game was the dead node's (it is this node's now), else nil.
_ADOPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  redis.call('SREM', KEYS[2], ARGV[3])
  return false
end
local raw = redis.call('GET', KEYS[4])
if not raw then
  redis.call('SREM', KEYS[2], ARGV[3])
  return false
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('SREM', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
return raw
"""

_DELETED = "deleted"


class _Snapshot:
    """A match as it will be written: taken under the game's lock, when it was `put`."""

    __slots__ = ("game_id", "raw", "over", "names")

    def __init__(self, match: Match) -> None:
        self.game_id = match.game_id
        self.raw = json.dumps(match.to_dict())
        self.over = match.is_over
        self.names = match.human_names()


@shared_state
class OwnedMatchStore:
    """This node's games in memory (a `MemoryMatchStore`), the cluster's view of them in Redis.
    `on_lost(game_id)`: told when another node turned out to own one of this node's games."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        node_id: str,
        runtime: Runtime,
        finished_ttl_seconds: float,
    ) -> None:
        self._redis = client
        self._keys = keys
        self.node_id = node_id
        self._runtime = runtime
        self._local = MemoryMatchStore()
        self._live_ids, self._live, self._started = (
            keys("games"),
            keys("live_game"),
            keys("started"),
        )
        self._game_prefix = keys("game") + ":"
        self._owner_prefix = keys("owner") + ":"
        self._of_player_prefix = keys("games_of") + ":"
        self._finished_ttl_ms = max(1, int(finished_ttl_seconds * 1000))
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)
        self._matches_of = client.register_script(_MATCHES_OF)
        self._adopt = client.register_script(_ADOPT)
        self._recorded: set[str] = set()  # finished games recorded, to leave `owned:<node>`
        # the writer: what to write (game id -> the match, or _DELETED), who waits for it
        self._dirty: dict[str, _Snapshot | str] = {}
        self._waiters: list[Event] = []
        # game id -> (round, status, players who left) as last written to Redis
        self._written: dict[str, tuple[int, str, int]] = {}
        self._guard = threading.Lock()
        self._wake: Event | None = None
        self.on_lost: Callable[[str], None] = lambda game_id: None

    def owned_key(self, node: str) -> str:
        return self._keys("owned", node)

    # ---- this node's games -------------------------------------------------------------------

    def owned(self, game_id: str) -> Match | None:
        return self._local.get(game_id)

    def lock(self, game_id: str) -> Lock:
        return threading.RLock()  # the owner's tasks only: a green lock, no round trip

    def create(self, match: Match) -> bool:
        keys, args = self._put_args(_Snapshot(match), "new")
        if not self._put(keys=keys, args=args):
            return False
        self._local.put(match)
        self._written[match.game_id] = (match.round, match.status, len(match.left))
        return True

    def put(self, match: Match) -> None:
        """Kept here at once. In Redis: a new round or the end before the caller goes on to
        tell the players; a player leaving a finished game behind their back; a throw that
        completes no round not at all (the moves of the round in progress are the owner's
        alone: a node that adopts the game restarts that round)."""
        self._local.put(match)
        now = (match.round, match.status, len(match.left))
        before, self._written[match.game_id] = self._written.get(match.game_id), now
        if before == now:
            return
        wait = before is None or before[:2] != now[:2]
        self._queue(match.game_id, _Snapshot(match), wait=wait)

    def delete(self, game_id: str) -> None:
        self._local.delete(game_id)
        self._written.pop(game_id, None)
        # waited for (the sweep's, off every player's path): `get` must not find it after
        self._queue(game_id, _DELETED, wait=True)

    def overdue(self, cutoff: float) -> list[tuple[str, int]]:
        return self._local.overdue(cutoff)

    def local_live_games(self) -> list[Match]:
        return self._local.live_games()

    def recorded(self, game_id: str) -> None:
        with self._guard:
            self._recorded.add(game_id)
        self._queue("", _DELETED, wait=False)

    def adopt(self, node: str, game_id: str | None = None) -> list[Match]:
        game_ids = (
            [game_id] if game_id else sorted(text_set(self._redis.smembers(self.owned_key(node))))
        )
        adopted = []
        for one in game_ids:
            keys = [
                self._owner_prefix + one,
                self.owned_key(node),
                self.owned_key(self.node_id),
                self._game_prefix + one,
            ]
            raw = self._adopt(keys=keys, args=[node, self.node_id, one])
            if not raw:
                continue  # another node's already, or gone
            match = Match.from_dict(json.loads(raw))
            self._local.put(match)
            self._written[match.game_id] = (match.round, match.status, len(match.left))
            adopted.append(match)
        return adopted

    def let_go(self, game_id: str) -> None:
        """Another node owns the game now: forget it here, write nothing more of it."""
        self._local.delete(game_id)
        self._written.pop(game_id, None)
        with self._guard:
            self._dirty.pop(game_id, None)
            self._recorded.discard(game_id)

    def rewrite_all(self) -> int:
        """Write every game of this node again (Redis came back empty): how many."""
        games = [m for m in self._local.live_games()]
        for match in games:
            self._queue(match.game_id, _Snapshot(match), wait=False)
        return len(games)

    # ---- any node's games --------------------------------------------------------------------

    def get(self, game_id: str) -> Match | None:
        match = self._local.get(game_id)
        if match is not None:
            return match
        raw = self._redis.get(self._game_prefix + game_id)
        return Match.from_dict(json.loads(raw)) if raw else None

    def owner_of(self, game_id: str) -> str | None:
        if self._local.get(game_id) is not None:
            return None
        owner = text(self._redis.get(self._owner_prefix + game_id))
        return None if owner == self.node_id else owner

    def live_game_of(self, player: str) -> str | None:
        return text(self._redis.hget(self._live, player))

    def games_of(self, player: str) -> list[Match]:
        return self._load(self._of_player_prefix + player, "s")

    def live_games(self) -> list[Match]:
        return self._load(self._live_ids, "z")

    def live_count(self) -> int:
        return self._redis.zcard(self._live_ids)

    def _load(self, key: str, kind: str) -> list[Match]:
        raws = self._matches_of(keys=[key], args=[self._game_prefix, kind])
        return [Match.from_dict(json.loads(raw)) for raw in raws]

    # ---- the writer --------------------------------------------------------------------------

    def _put_args(self, snapshot: _Snapshot, mode: str) -> tuple[list[str], list[str | int]]:
        game_id = snapshot.game_id
        keys = [
            self._game_prefix + game_id,
            self._live_ids,
            self._live,
            self._started,
            self._owner_prefix + game_id,
            self.owned_key(self.node_id),
        ]
        args: list[str | int] = [
            game_id,
            snapshot.raw,
            self.node_id,
            mode,
            self._finished_ttl_ms,
            self._of_player_prefix,
            GAME_SIDE_TTL_MS,
            *snapshot.names,
        ]
        return keys, args

    def _queue(self, game_id: str, what: _Snapshot | str, wait: bool) -> None:
        waiter = self._runtime.event() if wait else None
        with self._guard:
            self._dirty[game_id] = what
            if waiter is not None:
                self._waiters.append(waiter)
            wake = self._wake
            if wake is None:
                wake = self._wake = self._runtime.event()
                self._runtime.spawn(self._write_forever, wake)
        wake.set()
        if waiter is not None and not waiter.wait(SYNC_WAIT_SECONDS):
            log.warning("game %s: its snapshot is not written yet (Redis slow or away)", game_id)

    def flush(self) -> None:
        """Write what is pending now (tests, a clean shutdown)."""
        self._queue("", _DELETED, wait=True)

    def _write_forever(self, wake: Event) -> None:
        while True:
            wake.wait()
            with self._guard:
                wake_set = self._wake
                batch, self._dirty = self._dirty, {}
                recorded, self._recorded = self._recorded, set()
                waiters, self._waiters = self._waiters, []
                if wake_set is not None:
                    # cleared under the guard: a put after this sets it again
                    self._clear(wake_set)
            try:
                self._write(batch, recorded)
            except LOST:
                log.warning("writing %d games' snapshots failed: Redis is away", len(batch))
                with self._guard:
                    for game_id, what in batch.items():
                        self._dirty.setdefault(game_id, what)
                    self._recorded |= recorded
                for waiter in waiters:
                    waiter.set()
                self._runtime.sleep(RETRY_SECONDS)
                wake.set()
                continue
            except Exception:
                log.exception("writing games' snapshots failed")
            for waiter in waiters:
                waiter.set()

    @staticmethod
    def _clear(event: Event) -> None:
        clear = getattr(event, "clear", None)
        if clear is not None:
            clear()

    def _write(self, batch: dict[str, _Snapshot | str], recorded: set[str]) -> None:
        items = [(game_id, what) for game_id, what in batch.items() if game_id]
        if not items and not recorded:
            return
        with self._redis.pipeline(transaction=False) as pipe:
            for game_id, what in items:
                if isinstance(what, _Snapshot):
                    keys, args = self._put_args(what, "over" if what.over else "live")
                    self._put(keys=keys, args=args, client=pipe)
                else:
                    keys = [
                        self._game_prefix + game_id,
                        self._live_ids,
                        self._live,
                        self._owner_prefix + game_id,
                        self.owned_key(self.node_id),
                    ]
                    args = [game_id, self._of_player_prefix, self.node_id]
                    self._delete(keys=keys, args=args, client=pipe)
            if recorded:  # after their last snapshot, in the same pipeline
                pipe.srem(self.owned_key(self.node_id), *recorded)
            replies = pipe.execute()
        for (game_id, _what), reply in zip(items, replies, strict=False):
            if reply == -1:
                log.warning("game %s is another node's now: let go here", game_id)
                self.let_go(game_id)
                self.on_lost(game_id)

"""The Redis implementations of the shared state, against a real Redis.

Each test gets its own key prefix (deleted afterwards), so runs can share one Redis. Redis
unreachable: skipped, or a failure under CI=true.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter

import pytest

from rpschat.domain.errors import Code, Refused
from rpschat.domain.game.match import Match
from rpschat.domain.game.matchmaking import Matchmaker, Rematches
from rpschat.domain.game.ports import Challenge, Drop
from rpschat.domain.ratelimit import RateSpec
from rpschat.runtime import ThreadingRuntime
from rpschat.storage.memory.directory import MemoryDirectory
from rpschat.storage.memory.games import (
    MemoryDropStore,
    MemoryExpiredChallenges,
    MemorySpectatorStore,
)
from rpschat.storage.memory.ratelimit import MemoryRateLimiter
from rpschat.storage.redis import locks
from rpschat.storage.redis.client import Keys, SharedStateUnavailable, connect
from rpschat.storage.redis.directory import RedisDirectory
from rpschat.storage.redis.games import (
    RedisDropStore,
    RedisExpiredChallenges,
    RedisSpectatorStore,
)
from rpschat.storage.redis.locks import SharedLock
from rpschat.storage.redis.matches import OwnedMatchStore
from rpschat.storage.redis.matchmaking import (
    RedisChallengeStore,
    RedisQueueStore,
    RedisRematchStore,
)
from rpschat.storage.redis.nodes import NodeRegistry
from rpschat.storage.redis.owners import NodeLink
from rpschat.storage.redis.ratelimit import RedisRateLimiter
from rpschat.storage.redis.tokens import RedisTokens
from tests.support.waiting import eventually
from tests.unit.conftest import REDIS_URL, require_redis  # noqa: E402


@pytest.fixture
def client():
    require_redis()
    client = connect(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def keys(client):
    keys = Keys(f"rpschat-test-{secrets.token_hex(4)}")
    yield keys
    doomed = list(client.scan_iter(match=f"{keys.prefix}:*", count=1000))
    if doomed:
        client.delete(*doomed)


def expire_now(client, key: str) -> None:
    """Let Redis expire `key` as its TTL would once it runs out, without waiting on the wall
    clock (a loaded machine makes a short TTL run out early); the TTL is checked with PTTL."""
    assert client.pexpire(key, 1), key
    deadline = time.monotonic() + 5
    while client.exists(key):
        assert time.monotonic() < deadline, f"{key} did not expire"
        time.sleep(0.005)


def in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads released together; their results (or exceptions)."""
    start = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results


# ---------------------------------------------------------------- the directory


@pytest.fixture(params=["memory", "redis"])
def directory(request):
    if request.param == "memory":
        return MemoryDirectory()
    return RedisDirectory(request.getfixturevalue("client"), request.getfixturevalue("keys"), "n1")


def test_directory_claims_renames_and_releases_like_the_memory_one(directory):
    assert directory.claim("u1", "Ada") is None
    with pytest.raises(Refused, match="The name 'ADA' is taken"):
        directory.claim("u2", "ADA")
    assert directory.claim("u1", "Ada") == "Ada"  # claiming one's own name again is a no-op
    assert directory.claim("u2", "bea") is None
    assert directory.claim("u1", "Cy") == "Ada"  # a rename frees the old name
    assert directory.user_of("ada") is None and directory.user_of("CY") == "u1"
    assert directory.names() == ["bea", "Cy"] and directory.count() == 2
    assert directory.release("u1") == "Cy"
    assert directory.release("u1") is None
    assert directory.name_of("u1") is None and directory.names() == ["bea"]
    assert directory.claim("u3", "cy") is None


def test_directory_attach_replaces_and_detach_only_the_current_connection(directory):
    directory.claim("u1", "Ada")
    assert directory.attach("u1", "s1") is None
    assert directory.attach("u1", "s1") is None
    assert directory.attach("u1", "s2") == "s1"
    assert not directory.detach("u1", "s1")  # a stale connection can't detach the new one
    assert directory.sid_of("u1") == "s2"
    assert directory.detach("u1", "s2") and directory.sid_of("u1") is None


def test_only_one_of_many_concurrent_claims_of_a_name_wins(client, keys):
    nodes = [RedisDirectory(connect(REDIS_URL), keys, f"n{i % 3}") for i in range(3)]
    spellings = ["Ada", "ada", "ADA", "aDa"]

    def claim(i):
        return nodes[i % 3].claim(f"u{i}", spellings[i % 4])

    results = in_threads(24, claim)
    winners = [i for i, result in enumerate(results) if not isinstance(result, Exception)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Refused) and "is taken" in r.reason for r in results if r)
    assert nodes[0].user_of("ADA") == f"u{winners[0]}"
    assert nodes[1].count() == 1


def test_a_users_node_follows_it_and_a_dead_nodes_user_is_taken_over_once(client, keys):
    first, second = RedisDirectory(client, keys, "n1"), RedisDirectory(client, keys, "n2")
    first.claim("u1", "Ada")
    first.attach("u1", "s1")
    assert first.users_on("n1") == {"u1"}
    second.attach("u1", "s2")  # resumed on the other node
    assert first.users_on("n1") == set() and first.homes_of(["u1"]) == ["n2"]
    first.claim("u2", "Bea")
    takers = [RedisDirectory(client, keys, f"t{i}") for i in range(8)]
    results = in_threads(8, lambda i: takers[i].take_over("u2", "n1"))
    assert results.count(True) == 1
    assert first.users_on("n1") == set()
    assert first.release("u2") == "Bea" and first.homes_of(["u2"]) == [None]


def test_a_users_home_is_where_its_latest_connection_came_or_its_last_one_went(client, keys):
    """The home's grace period alone may release a user (ChatService._release_after_grace)."""
    first, second = RedisDirectory(client, keys, "n1"), RedisDirectory(client, keys, "n2")
    first.claim("u1", "Ada")
    first.attach("u1", "s1", "phone")
    assert first.is_home("u1") and not second.is_home("u1")
    second.attach("u1", "s2", "laptop")  # a second device, on the other node
    assert second.is_home("u1") and not first.is_home("u1")
    assert not second.detach("u1", "s2")  # the phone is still connected to n1
    assert second.is_home("u1")
    assert first.detach("u1", "s1")  # the last one, lost on n1: its grace period runs there
    assert first.is_home("u1") and not second.is_home("u1")
    assert first.users_on("n1") == {"u1"} and first.users_on("n2") == set()


# ---------------------------------------------------------------- tokens


def test_every_token_of_a_user_is_revoked_at_once_in_redis(client, keys):
    from tests.unit.test_sessions import check_revoke_user

    check_revoke_user(RedisTokens(client, keys, ttl_seconds=60))


def test_tokens_resolve_refresh_expire_and_rename(client, keys):
    tokens = RedisTokens(client, keys, ttl_seconds=60)
    token = tokens.issue("u1", "Ada")
    user_id, secret = token.split(".")
    key = keys("token", user_id)
    assert 0 < client.pttl(key) <= 60_000  # it expires unless used
    assert tokens.resolve(token).name == "Ada"
    assert tokens.resolve(f"{user_id}.{secret[:-1]}x") is None
    assert tokens.resolve("nonsense") is None and tokens.resolve(42) is None
    tokens.rename("u1", "Bea")
    for _ in range(3):  # each use pushes the expiry back
        client.pexpire(key, 5_000)  # as if 55 s had passed
        assert tokens.resolve(token).name == "Bea"
        assert client.pttl(key) > 5_000
    expire_now(client, key)  # unused for longer than the TTL
    assert tokens.resolve(token) is None
    tokens.rename("u1", "Cy")  # no grant, no key made
    assert not client.exists(keys("token", "u1"))
    tokens.restore(token, "Cy")
    assert tokens.resolve(token).name == "Cy"


# ---------------------------------------------------------------- rate limits


def test_rate_limit_buckets_are_shared_refill_and_are_forgotten(client, keys):
    node_a, node_b = RedisRateLimiter(client, keys), RedisRateLimiter(client, keys)
    spec = RateSpec(3, 1.5)  # 2 tokens a second
    now = 1000.0
    node_a.check("u1", "chat", spec, now)
    node_b.check("u1", "chat", spec, now)
    node_a.check("u1", "chat", spec, now)
    with pytest.raises(Refused, match=r"wait 0\.5 s"):
        node_b.check("u1", "chat", spec, now)
    node_b.check("u1", "other", spec, now)  # another kind, another bucket
    node_b.check("u2", "chat", spec, now)  # another user, another bucket
    with pytest.raises(Refused, match=r"wait 0\.3 s"):
        node_a.check("u1", "chat", spec, now + 0.25)
    node_a.check("u1", "chat", spec, now + 0.5)  # refilled one token
    node_a.check("u1", "chat", None, now + 0.5)  # no limit
    node_b.forget("u1")
    for _ in range(3):
        node_a.check("u1", "chat", spec, now + 0.5)


def test_the_shared_limiter_answers_exactly_as_the_in_process_one(client, keys):
    """One token bucket (domain/ratelimit.take_token) for both: same refusals, same waits."""
    shared, local = RedisRateLimiter(client, keys), MemoryRateLimiter()
    spec = RateSpec(4, 2.0)
    times = [0.0, 0.0, 0.1, 0.1, 0.1, 0.2, 0.6, 0.6, 0.65, 1.9, 2.0, 2.0, 2.0, 2.0, 2.0, 9.0]

    def answer(limiter, now):
        try:
            limiter.check("u1", "chat", spec, 1000.0 + now)
        except Refused as refused:
            return refused.reason
        return "ok"

    answers = [(answer(shared, t), answer(local, t)) for t in times]
    assert all(a == b for a, b in answers), answers
    assert {a for a, _ in answers} > {"ok"}  # some were refused


def test_rate_limit_holds_under_concurrency(client, keys):
    limiters = [RedisRateLimiter(connect(REDIS_URL), keys) for _ in range(4)]
    spec = RateSpec(10, 1000.0)
    results = in_threads(40, lambda i: limiters[i % 4].check("u1", "chat", spec, 5.0))
    assert sum(1 for r in results if r is None) == 10


# ---------------------------------------------------------------- match-making


def test_queue_is_first_in_first_out_per_best_of(client, keys):
    store = RedisQueueStore(client, keys)
    for player in ["a", "b", "c"]:
        store.append(player, 3)
    store.append("d", 5)
    assert store.waiting(3) == ["a", "b", "c"] and store.count() == 4
    assert store.best_of_for("d") == 5 and store.best_of_for("z") is None
    assert store.discard("b") and not store.discard("b")
    assert store.pop_oldest(3) == "a" and store.pop_oldest(3) == "c"
    assert store.pop_oldest(3) is None


def assert_ten_disjoint_pairs(pairs):
    assert len(pairs) == 10
    seen = Counter(player for pair in pairs for player in pair)
    assert sorted(seen) == sorted(f"p{i}" for i in range(20))
    assert set(seen.values()) == {1}


def test_matchmakers_on_many_nodes_pair_everyone_without_a_lock(client, keys):
    stores = [RedisQueueStore(connect(REDIS_URL), keys) for _ in range(4)]
    matchmakers = [Matchmaker(store) for store in stores]
    pairings = in_threads(20, lambda i: matchmakers[i % 4].enqueue(f"p{i}", 3))
    assert_ten_disjoint_pairs([p.players for p in pairings if p is not None])
    assert stores[0].count() == 0


def test_pairing_skips_players_in_a_live_game_and_refuses_the_busy(client, keys):
    queue, matches = RedisQueueStore(client, keys), owned_store(client, keys)
    assert queue.pair("Ada", 3, None) == ("waiting", None)
    assert queue.pair("Ada", 3, None) == ("queued", None)
    assert matches.create(Match.start("g1", "Ada", "Cyd", 3, now=1.0, round_seconds=15))
    assert queue.pair("Cyd", 3, None) == ("busy", None)
    assert queue.pair("Bea", 3, None) == ("waiting", None)  # Ada, in a game, left the queue
    assert queue.waiting(3) == ["Bea"] and queue.best_of_for("Ada") is None
    assert queue.pair("Dan", 3, None) == ("paired", "Bea")
    assert not matches.create(Match.start("g2", "Dan", "Ada", 3, now=1.0, round_seconds=15))
    assert matches.get("g2") is None and matches.live_game_of("Dan") is None
    assert matches.create(Match.start("g3", "Dan", "Bea", 3, now=1.0, round_seconds=15))


# ---------------------------------------------------------------- challenges, rematches, games


def test_challenge_store_round_trips_and_a_delete_has_one_winner(client, keys):
    store = RedisChallengeStore(client, keys)
    challenge = Challenge("c1", "Ada", "Bea", 3, 1234.5)
    store.save(challenge)
    store.save(Challenge("c2", "Cy", "Ada", 5, 99.0))
    assert store.get("c1") == challenge and store.get("nope") is None
    assert sorted(c.challenge_id for c in store.all()) == ["c1", "c2"]
    results = in_threads(6, lambda i: store.delete("c1"))
    assert results.count(challenge) == 1 and results.count(None) == 5


def test_rematch_store_needs_both_players_and_clears(client, keys):
    rematches = Rematches(RedisRematchStore(client, keys))
    assert not rematches.request("g1", "Ada", ["Ada", "Bea"])
    assert rematches.requested_by("g1") == {"Ada"}
    assert rematches.cancel_for("Bea") == ["g1"]
    assert rematches.requested_by("g1") == frozenset()
    assert not rematches.request("g1", "Bea", ["Ada", "Bea"])
    assert rematches.request("g1", "Ada", ["Ada", "Bea"])
    assert rematches.requested_by("g1") == frozenset()


def owned_store(client, keys, node="n1", ttl=60):
    return OwnedMatchStore(client, keys, node, ThreadingRuntime(), finished_ttl_seconds=ttl)


def test_match_store_keeps_live_games_and_lets_finished_ones_expire(client, keys):
    store = owned_store(client, keys)
    match = Match.start("g1", "Ada", "Bea", 3, now=100.0, round_seconds=15)
    assert store.create(match)
    match.throw("Ada", "rock", 101.0)
    store.put(match)
    store.flush()
    assert store.get("g1") is match  # its owner's, in memory
    elsewhere = owned_store(client, keys, "n2").get("g1")  # the snapshot: a throw is not in it
    assert elsewhere.moves == {} and elsewhere.to_dict() == {**match.to_dict(), "moves": {}}
    assert store.live_game_of("Ada") == "g1" and store.live_game_of("Cy") is None
    other = Match.start("g0", "Cy", "Dee", 1, now=100.0, round_seconds=10)
    assert store.create(other)
    assert [m.game_id for m in store.live_games()] == ["g1", "g0"]  # in the order they started
    assert store.live_count() == 2
    assert store.overdue(111.0) == [("g0", 1)] and store.overdue(110.0) == []
    assert client.pttl(keys("game", "g1")) == -1  # a live game does not expire
    match.forfeit("Bea", "forfeit")
    store.put(match)  # the end: written before put returns
    assert 0 < client.pttl(keys("game", "g1")) <= 60_000  # a finished one does
    assert 0 < client.pttl(keys("games_of", "Ada")) <= 60_000
    assert store.live_game_of("Ada") is None and store.get("g1").is_over
    assert [m.game_id for m in store.live_games()] == ["g0"] and store.overdue(200.0) == [("g0", 1)]
    assert [m.game_id for m in store.games_of("Ada")] == ["g1"]
    store.delete("g0")
    store.flush()
    assert [m.game_id for m in store.live_games()] == [] and store.live_game_of("Cy") is None
    assert store.games_of("Cy") == [] and store.overdue(200.0) == []
    # finished, it stays the node's to adopt until its result is recorded
    assert client.smembers(keys("owned", "n1")) == {"g1"}
    store.recorded("g1")
    store.flush()
    assert client.smembers(keys("owned", "n1")) == set()


def test_a_dead_nodes_games_are_adopted_once_from_their_last_snapshot(client, keys):
    dead, heirs = (
        owned_store(client, keys, "n1"),
        [owned_store(client, keys, f"h{i}") for i in (1, 2)],
    )
    match = Match.start("g1", "Ada", "Bea", 3, now=100.0, round_seconds=15)
    assert dead.create(match)
    match.throw("Ada", "rock", 101.0)
    match.throw("Bea", "scissors", 101.0)
    dead.put(match)  # a completed round: in Redis before anyone is told
    adopted = in_threads(2, lambda i: heirs[i].adopt("n1"))
    assert sorted(len(a) for a in adopted) == [0, 1]  # one heir each game
    [[heir_match]] = [a for a in adopted if a]
    assert heir_match.round == 2 and heir_match.score == {"Ada": 1, "Bea": 0}
    heir = heirs[0] if heirs[0].owned("g1") else heirs[1]
    assert heir.owner_of("g1") is None and dead.owner_of("g1") is None  # n1 holds it still
    assert heirs[0].owner_of("g1") in (None, heir.node_id)
    assert client.get(keys("owner", "g1")) == heir.node_id
    assert client.smembers(keys("owned", "n1")) == set()
    assert client.smembers(keys("owned", heir.node_id)) == {"g1"}
    assert heir.adopt("n1", "g1") == []  # once


def test_a_game_is_its_owners_and_a_completed_round_is_written_before_anyone_is_told(client, keys):
    store, elsewhere = owned_store(client, keys, "n1"), owned_store(connect(REDIS_URL), keys, "n2")
    match = Match.start("g1", "u1", "u2", 3, now=100.0, round_seconds=15, names={"u1": "Ada"})
    assert store.create(match)
    assert store.owned("g1") is match and elsewhere.owned("g1") is None
    assert store.owner_of("g1") is None and elsewhere.owner_of("g1") == "n1"
    assert client.smembers(keys("owned", "n1")) == {"g1"}
    assert store.live_game_of("Ada") == "g1" and store.live_game_of("u2") == "g1"  # by name
    match.throw("u1", "rock", 101.0)
    store.put(match)  # a throw that completes no round: the owner's alone
    store.flush()
    assert Match.from_dict(json.loads(client.get(keys("game", "g1")))).moves == {}
    match.throw("u2", "paper", 102.0)
    store.put(match)  # a completed round: in Redis once put returns
    assert Match.from_dict(json.loads(client.get(keys("game", "g1")))).round == 2
    assert store.lock("g1") is not store.lock("g1")  # a plain lock of the owner's, no key
    assert not client.exists(keys("lock", "game", "g1"))


def test_a_write_after_another_node_adopted_the_game_is_refused_and_the_game_let_go(client, keys):
    store = owned_store(client, keys, "n1")
    lost = []
    store.on_lost = lost.append
    match = Match.start("g1", "Ada", "Bea", 3, now=100.0, round_seconds=15)
    assert store.create(match)
    client.set(keys("owner", "g1"), "n2")  # n1 looked dead: n2 adopted the game
    match.throw("Ada", "rock", 101.0)
    match.throw("Bea", "paper", 101.0)
    store.put(match)
    assert lost == ["g1"] and store.owned("g1") is None
    assert Match.from_dict(json.loads(client.get(keys("game", "g1")))).round == 1  # n2's


def test_a_node_link_runs_an_event_on_the_owner_and_brings_its_answer_back(client, keys):
    runtime = ThreadingRuntime()
    owner = NodeLink(connect(REDIS_URL), keys, "owner", runtime)
    asking = NodeLink(connect(REDIS_URL), keys, "asking", runtime)

    def handler(op, payload):
        if op == "refuse":
            raise Refused(Code.GAME_OVER, "This game is over.", seen=payload["n"])
        return {"op": op, "n": payload["n"] + 1}

    owner.serve(handler)
    deadline = time.monotonic() + 5
    while not owner.subscribed and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        assert asking.call("owner", "throw", {"n": 1}) == {"op": "throw", "n": 2}
        with pytest.raises(Refused) as refused:
            asking.call("owner", "refuse", {"n": 7})
        assert refused.value.code is Code.GAME_OVER and refused.value.details == {"seen": 7}
        with pytest.raises(Refused) as away:  # nobody listens there: refused at once
            asking.call("nobody", "throw", {"n": 1})
        assert away.value.code is Code.UNAVAILABLE
    finally:
        owner.stop()


@pytest.fixture(params=["memory", "redis"])
def game_side_stores(request):
    if request.param == "memory":
        return MemorySpectatorStore(), MemoryDropStore(), MemoryExpiredChallenges(2)
    client, keys = request.getfixturevalue("client"), request.getfixturevalue("keys")
    return (
        RedisSpectatorStore(client, keys),
        RedisDropStore(client, keys),
        RedisExpiredChallenges(client, keys, 2),
    )


def test_the_game_side_stores_behave_alike_in_memory_and_on_redis(game_side_stores):
    spectators, drops, expired = game_side_stores
    spectators.add("g1", "u1")
    spectators.add("g1", "u2")
    spectators.add("g2", "u1")
    assert spectators.is_watching("g1", "u1") and spectators.count("g1") == 2
    assert sorted(spectators.games_of("u1")) == ["g1", "g2"]
    assert spectators.discard("g2", "u1") and not spectators.discard("g2", "u1")
    spectators.drop_user("u1")  # one call, however many games the user watched
    assert spectators.games_of("u1") == [] and not spectators.is_watching("g1", "u1")
    assert spectators.drop_game("g1") == {"u2"} and spectators.games_of("u2") == []
    assert spectators.count("g1") == 0

    drops.add("Ada", Drop(12.5, 3))
    assert drops.get("Ada") == Drop(12.5, 3) and drops.get("Bea") is None
    drops.forget_queue("Ada")
    assert drops.pop("Ada") == Drop(12.5, None) and drops.pop("Ada") is None

    expired.add(["c1", "c2"])
    expired.add(["c3"])
    assert "c3" in expired and "c2" in expired and "c1" not in expired  # the newest 2 kept


def test_shared_lock_excludes_other_nodes_and_is_reentrant(client, keys):
    counter = keys("counter")
    client.set(counter, 0)
    locks = [SharedLock(connect(REDIS_URL), keys("lock")) for _ in range(3)]

    def add(i):
        for _ in range(10):
            with locks[i % 3], locks[i % 3]:  # the same task may enter again
                value = int(client.get(counter))
                time.sleep(0.001)  # a read-modify-write that would lose updates unlocked
                client.set(counter, value + 1)

    assert in_threads(6, add) == [None] * 6
    assert int(client.get(counter)) == 60
    assert not client.exists(keys("lock"))


def test_a_node_waiting_for_a_lock_takes_it_when_released_not_at_its_next_poll(
    client, keys, monkeypatch
):
    monkeypatch.setattr(locks, "WAKE_CHECK_SECONDS", 60)  # a poll would come after the test
    holder = SharedLock(connect(REDIS_URL), keys("lock"))
    waiter = SharedLock(connect(REDIS_URL), keys("lock"))
    taken = threading.Event()

    def wait_for_it():
        with waiter:
            taken.set()

    blocked_before = client.info("clients")["blocked_clients"]
    with holder:
        thread = threading.Thread(target=wait_for_it, daemon=True)
        thread.start()
        eventually(
            lambda: client.info("clients")["blocked_clients"] > blocked_before,
            10,
            "the waiter blocked on the lock's wake-up list",
            pause=0.01,
        )
        assert not taken.is_set()
    assert taken.wait(10), "the waiter was not woken by the release"
    thread.join(10)


# ---------------------------------------------------------------- nodes and outages


def test_a_node_is_dead_once_its_heartbeat_expires(client, keys):
    alive = NodeRegistry(client, keys, "n1", ttl_seconds=60)
    doomed = NodeRegistry(client, keys, "n2", ttl_seconds=60)
    assert not alive.beat() and not doomed.beat()  # first beats: nothing to refresh
    assert alive.beat()
    assert alive.dead_nodes() == []
    assert 0 < client.pttl(keys("alive", "n2")) <= 60_000  # it expires unless beaten again
    client.pexpire(keys("alive", "n1"), 5_000)  # as if 55 s had passed
    assert alive.beat() and client.pttl(keys("alive", "n1")) > 5_000  # a beat pushes it back
    expire_now(client, keys("alive", "n2"))  # n2 stalled for longer than the TTL
    assert alive.dead_nodes() == ["n2"]
    alive.forget("n2")
    assert alive.dead_nodes() == []


def test_a_lost_redis_gives_a_clear_refusal_not_a_crash(keys):
    with socket_that_refuses() as port:
        unreachable = connect(f"redis://127.0.0.1:{port}/0")
        directory = RedisDirectory(unreachable, keys, "n1")
        started = time.monotonic()
        with pytest.raises(SharedStateUnavailable, match="shared state"):
            directory.claim("u1", "Ada")
        assert time.monotonic() - started < 5  # retried with backoff, then gave up


class socket_that_refuses:
    """A port nothing listens on."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------- the handler tests, on Redis
#
# test_chat_handlers.py and test_game_handlers.py run every test on Redis too (their
# SHARED_STATES; the `harness_factory` in conftest.py). This one checks that they really do.


@pytest.mark.parametrize("shared_state", ["redis"], indirect=True)
def test_the_handler_tests_really_run_on_redis(harness, redis_keys, client):
    services = harness.services
    assert isinstance(services.directory, RedisDirectory)
    assert isinstance(services.tokens, RedisTokens)
    assert isinstance(services.limiter, RedisRateLimiter)
    assert isinstance(services.games._ctx.store, OwnedMatchStore)
    with services.games._ctx.lobby():
        assert client.exists(redis_keys("lock", "lobby"))
    harness.join("Ada")
    assert client.hvals(redis_keys("users")) == ["Ada"]

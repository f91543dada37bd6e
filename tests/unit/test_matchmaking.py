import itertools
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rpschat.domain.errors import Refused
from rpschat.domain.game.matchmaking import Challenges, Matchmaker, QueuePair, Rematches
from rpschat.domain.game.ports import Challenge
from rpschat.domain.game.rules import VALID_BEST_OF
from rpschat.storage.memory.matchmaking import (
    MemoryChallengeStore,
    MemoryQueueStore,
    MemoryRematchStore,
)

T0 = 500.0


def refusal(action) -> str:
    with pytest.raises(Refused) as refused:
        action()
    return refused.value.reason


# ----------------------------------------------------------------- queue


def test_twenty_players_asking_at_once_form_ten_pairs_in_arrival_order():
    matchmaker = Matchmaker(MemoryQueueStore())
    players = [f"p{i:02}" for i in range(20)]
    pairings = [matchmaker.enqueue(player, 3) for player in players]
    formed = [pairing for pairing in pairings if pairing is not None]
    assert formed == [QueuePair(players[i], players[i + 1], 3) for i in range(0, 20, 2)]
    assert pairings[0::2] == [None] * 10  # every even arrival waits for the next one
    paired = [player for pairing in formed for player in pairing.players]
    assert sorted(paired) == players  # everyone exactly once
    assert matchmaker.queued_count() == 0


def test_players_are_only_paired_with_the_same_best_of():
    matchmaker = Matchmaker(MemoryQueueStore())
    assert matchmaker.enqueue("ann", 3) is None
    assert matchmaker.enqueue("bob", 5) is None
    assert matchmaker.enqueue("cid", 1) is None
    assert matchmaker.enqueue("dan", 3) == QueuePair("ann", "dan", 3)
    assert matchmaker.enqueue("eve", 5) == QueuePair("bob", "eve", 5)
    assert matchmaker.waiting(1) == ["cid"]
    assert matchmaker.queued_count() == 1


def test_default_best_of_is_three():
    matchmaker = Matchmaker(MemoryQueueStore())
    matchmaker.enqueue("ann")
    assert matchmaker.queued_best_of("ann") == 3


def test_enqueue_refusals():
    busy = {"bob"}
    matchmaker = Matchmaker(MemoryQueueStore(), is_busy=busy.__contains__)
    matchmaker.enqueue("ann", 3)
    assert refusal(lambda: matchmaker.enqueue("ann", 3)) == "You are already looking for a match."
    assert refusal(lambda: matchmaker.enqueue("ann", 5)) == "You are already looking for a match."
    assert refusal(lambda: matchmaker.enqueue("bob", 3)) == "You are already in a game."
    assert refusal(lambda: matchmaker.enqueue("cid", 4)) == "best_of must be 1, 3 or 5."
    assert refusal(lambda: matchmaker.enqueue("cid", True)) == "best_of must be 1, 3 or 5."
    assert matchmaker.waiting(3) == ["ann"]


def test_cancel_and_remove_take_a_player_out_of_the_queue():
    matchmaker = Matchmaker(MemoryQueueStore())
    matchmaker.enqueue("ann", 3)
    matchmaker.enqueue("bob", 5)
    matchmaker.enqueue("cid", 1)
    assert matchmaker.cancel("ann") is True
    assert matchmaker.cancel("ann") is False
    assert not matchmaker.is_queued("ann")
    assert matchmaker.remove("bob") is True
    assert matchmaker.remove("zed") is False
    assert matchmaker.queued_count() == 1
    assert matchmaker.enqueue("dan", 3) is None  # ann is gone, so dan waits
    assert matchmaker.enqueue("ann", 3) == QueuePair("dan", "ann", 3)  # and ann may come back


def test_a_waiting_player_who_got_busy_meanwhile_is_skipped():
    busy: set[str] = set()
    matchmaker = Matchmaker(MemoryQueueStore(), is_busy=busy.__contains__)
    matchmaker.enqueue("ann", 3)
    matchmaker.enqueue("bob", 5)
    busy.add("ann")  # e.g. accepted a direct challenge while queued
    assert matchmaker.enqueue("cid", 3) is None
    assert matchmaker.waiting(3) == ["cid"]
    assert not matchmaker.is_queued("ann")


def test_queue_store_contract_is_fifo_per_best_of():
    # Through Matchmaker a queue never holds two live players (the second is paired at once),
    # so the FIFO contract that a Redis store must also honour is pinned down here directly.
    store = MemoryQueueStore()
    for player, best_of in [("ann", 3), ("bob", 5), ("cid", 3), ("dan", 3)]:
        store.append(player, best_of)
    assert store.discard("cid") is True
    assert store.waiting(3) == ["ann", "dan"]
    assert [store.pop_oldest(3), store.pop_oldest(3), store.pop_oldest(3)] == ["ann", "dan", None]
    assert store.best_of_for("bob") == 5 and store.best_of_for("ann") is None
    assert store.count() == 1


queue_ops = st.lists(
    st.tuples(
        st.sampled_from(["enqueue", "enqueue", "enqueue", "cancel", "remove", "finish"]),
        st.integers(0, 11),
        st.sampled_from(VALID_BEST_OF),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(queue_ops)
def test_queue_behaves_like_per_best_of_fifo_lists(ops):
    in_game: set[str] = set()
    matchmaker = Matchmaker(MemoryQueueStore(), is_busy=in_game.__contains__)
    model: dict[int, deque[str]] = {best_of: deque() for best_of in VALID_BEST_OF}
    for op, index, best_of in ops:
        player = f"p{index}"
        queued = any(player in queue for queue in model.values())
        if op == "enqueue":
            if player in in_game or queued:
                with pytest.raises(Refused):
                    matchmaker.enqueue(player, best_of)
                continue
            pairing = matchmaker.enqueue(player, best_of)
            if model[best_of]:
                expected_partner = model[best_of].popleft()
                assert pairing == QueuePair(expected_partner, player, best_of)
                assert expected_partner != player
                assert not in_game & set(pairing.players)  # nobody is paired twice
                in_game.update(pairing.players)
            else:
                assert pairing is None
                model[best_of].append(player)
        elif op in ("cancel", "remove"):
            assert getattr(matchmaker, op)(player) is queued
            for queue in model.values():
                if player in queue:
                    queue.remove(player)
        else:  # the player's game ended: they may queue again
            in_game.discard(player)
        for each_best_of, queue in model.items():
            assert matchmaker.waiting(each_best_of) == list(queue)
        assert matchmaker.queued_count() == sum(len(queue) for queue in model.values())


# ----------------------------------------------------------------- challenges


def sequential_ids():
    counter = itertools.count(1)
    return lambda: f"c{next(counter)}"


def test_challenge_and_accept():
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    challenge = challenges.challenge("ann", "bob", 5, T0, ttl_seconds=30)
    assert challenge == Challenge("c1", "ann", "bob", 5, T0 + 30)
    assert challenge.to_dict() == {
        "challenge_id": "c1",
        "challenger": "ann",
        "challenged": "bob",
        "best_of": 5,
        "expires_at": T0 + 30,
    }
    assert Challenge.from_dict(challenge.to_dict()) == challenge
    assert challenges.pending_for("bob", T0) == [challenge]
    assert refusal(lambda: challenges.accept("c1", "ann", T0)) == (
        "Only bob can accept this challenge."
    )
    assert challenges.accept("c1", "bob", T0 + 1) == challenge
    assert challenges.pending_for("ann", T0 + 1) == []
    assert refusal(lambda: challenges.accept("c1", "bob", T0 + 1)) == "No such challenge."


def test_default_ids_are_random_url_safe_tokens():
    challenges = Challenges(MemoryChallengeStore())
    first = challenges.challenge("ann", "bob", 3, T0)
    second = challenges.challenge("ann", "cid", 3, T0)
    assert first.challenge_id != second.challenge_id
    assert len(first.challenge_id) >= 16
    assert first.expires_at == T0 + 30


def test_challenge_refusals():
    busy = {"dan"}
    challenges = Challenges(MemoryChallengeStore(), is_busy=busy.__contains__)
    assert refusal(lambda: challenges.challenge("ann", "ann", 3, T0)) == (
        "You can't challenge yourself."
    )
    assert refusal(lambda: challenges.challenge("ann", "bob", 2, T0)) == (
        "best_of must be 1, 3 or 5."
    )
    assert refusal(lambda: challenges.challenge("dan", "bob", 3, T0)) == (
        "You are already in a game."
    )
    assert refusal(lambda: challenges.challenge("ann", "dan", 3, T0)) == (
        "dan is already in a game."
    )
    challenges.challenge("ann", "bob", 3, T0)
    assert refusal(lambda: challenges.challenge("ann", "bob", 5, T0)) == (
        "You already challenged bob."
    )
    assert refusal(lambda: challenges.challenge("bob", "ann", 3, T0)) == (
        "ann has already challenged you: accept it instead."
    )


def test_expired_challenges_cannot_be_accepted_and_free_the_pair():
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    challenges.challenge("ann", "bob", 3, T0, ttl_seconds=10)
    challenges.challenge("cid", "bob", 3, T0 + 5, ttl_seconds=10)
    assert challenges.get("c1", T0 + 9) is not None
    assert challenges.get("c1", T0 + 10) is None
    assert refusal(lambda: challenges.accept("c1", "bob", T0 + 10)) == (
        "That challenge has expired."
    )
    assert refusal(lambda: challenges.accept("c1", "bob", T0 + 10)) == "No such challenge."
    assert [c.challenge_id for c in challenges.expire(T0 + 15)] == ["c2"]
    assert challenges.expire(T0 + 15) == []
    # With the old one expired, the same two players may challenge again, either way round.
    assert challenges.challenge("ann", "bob", 3, T0 + 20).challenge_id == "c3"
    assert challenges.challenge("bob", "cid", 3, T0 + 20).challenge_id == "c4"


def test_a_stale_challenge_never_swept_does_not_block_a_new_one():
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    challenges.challenge("ann", "bob", 3, T0, ttl_seconds=10)
    assert challenges.challenge("bob", "ann", 5, T0 + 10).challenge_id == "c2"


def test_decline():
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    challenges.challenge("ann", "bob", 3, T0)
    assert refusal(lambda: challenges.decline("c1", "ann", T0)) == (
        "Only bob can decline this challenge."
    )
    assert challenges.decline("c1", "bob", T0).challenger == "ann"
    assert challenges.pending_for("ann", T0) == []


def test_cancel_for_drops_challenges_in_both_directions():
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    challenges.challenge("ann", "bob", 3, T0)
    challenges.challenge("cid", "ann", 3, T0)
    challenges.challenge("cid", "bob", 3, T0)
    dropped = challenges.cancel_for("ann")
    assert sorted(c.challenge_id for c in dropped) == ["c1", "c2"]
    assert [c.challenge_id for c in challenges.pending_for("bob", T0)] == ["c3"]


def test_accept_refused_when_someone_got_busy():
    busy: set[str] = set()
    challenges = Challenges(
        MemoryChallengeStore(), is_busy=busy.__contains__, new_id=sequential_ids()
    )
    challenges.challenge("ann", "bob", 3, T0)
    busy.add("bob")
    assert refusal(lambda: challenges.accept("c1", "bob", T0)) == "You are already in a game."
    busy.clear()
    busy.add("ann")
    assert refusal(lambda: challenges.accept("c1", "bob", T0)) == "ann is already in a game."
    assert challenges.get("c1", T0) is None  # the challenger's game made it moot


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["challenge", "accept", "decline", "cancel_for", "wait"]),
            st.integers(0, 3),
            st.integers(0, 3),
        ),
        max_size=40,
    )
)
def test_at_most_one_live_challenge_per_pair_of_players(ops):
    challenges = Challenges(MemoryChallengeStore(), new_id=sequential_ids())
    now = T0
    issued: list[Challenge] = []
    for op, i, j in ops:
        a, b = f"p{i}", f"p{j}"
        try:
            if op == "challenge":
                issued.append(challenges.challenge(a, b, 3, now, ttl_seconds=10))
            elif op in ("accept", "decline") and issued:
                getattr(challenges, op)(issued[i % len(issued)].challenge_id, b, now)
            elif op == "cancel_for":
                challenges.cancel_for(a)
            else:
                now += 4
        except Refused:
            pass
        live = [c for p in range(4) for c in challenges.pending_for(f"p{p}", now)]
        pairs = [frozenset((c.challenger, c.challenged)) for c in set(live)]
        assert len(pairs) == len(set(pairs))
        assert all(len(pair) == 2 for pair in pairs)
        assert all(not c.is_expired(now) for c in live)


# ----------------------------------------------------------------- rematches


def test_rematch_starts_when_both_players_ask():
    rematches = Rematches(MemoryRematchStore())
    players = ("ann", "bob")
    assert rematches.request("g1", "ann", players) is False
    assert rematches.request("g1", "ann", players) is False  # asking twice is not both
    assert rematches.requested_by("g1") == {"ann"}
    assert rematches.request("g1", "bob", players) is True
    assert rematches.requested_by("g1") == frozenset()  # consumed: the rematch starts once


def test_rematch_refuses_outsiders_and_is_per_game():
    rematches = Rematches(MemoryRematchStore())
    assert refusal(lambda: rematches.request("g1", "eve", ("ann", "bob"))) == (
        "You did not play in this game."
    )
    assert rematches.request("g1", "ann", ("ann", "bob")) is False
    assert rematches.request("g2", "bob", ("ann", "bob")) is False


def test_rematch_requests_are_dropped_when_a_player_leaves():
    rematches = Rematches(MemoryRematchStore())
    rematches.request("g1", "ann", ("ann", "bob"))
    rematches.request("g2", "cid", ("cid", "dan"))
    assert rematches.cancel_for("bob") == ["g1"]  # bob never asked, but was in g1
    assert rematches.requested_by("g1") == frozenset()
    assert rematches.request("g1", "bob", ("ann", "bob")) is False
    rematches.forget("g2")
    assert rematches.requested_by("g2") == frozenset()


def test_the_rematch_store_forgets_cleared_games_entirely():
    store = MemoryRematchStore()
    store.add_request("g1", "ann", frozenset({"ann", "bob"}))
    store.add_request("g2", "ann", frozenset({"ann", "cid"}))
    assert store.games_involving("ann") == ["g1", "g2"] and store.games_involving("cid") == ["g2"]
    store.clear("g1")
    assert store.games_involving("bob") == [] and store.games_involving("ann") == ["g2"]
    store.clear("g2")
    assert (store._requesters, store._players, store._games_by_player) == ({}, {}, {})


def test_pairing_is_one_step_that_skips_the_busy_and_a_new_match_claims_both_players():
    from rpschat.domain.game.match import Match
    from rpschat.storage.memory.games import MemoryMatchStore

    queue, matches = MemoryQueueStore(), MemoryMatchStore()

    def busy(player: str) -> bool:
        return matches.live_game_of(player) is not None

    assert queue.pair("Ada", 3, busy) == ("waiting", None)
    assert queue.pair("Ada", 3, busy) == ("queued", None)
    assert matches.create(Match.start("g1", "Ada", "Cyd", 3, 1.0, 15.0))
    assert queue.pair("Cyd", 3, busy) == ("busy", None)
    assert queue.pair("Bea", 3, busy) == ("waiting", None)  # Ada, in a game, left the queue
    assert queue.pair("Dan", 3, busy) == ("paired", "Bea")
    assert not matches.create(Match.start("g2", "Dan", "Ada", 3, 1.0, 15.0))
    assert matches.get("g2") is None and matches.live_game_of("Dan") is None

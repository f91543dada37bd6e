"""Storage against rows it can't hold (issue 11, items 9 and 12): one bad row fails alone, and
no failure logs what a client sent."""

from __future__ import annotations

import logging
import threading

import pytest

from rpschat.storage.common import StorageUnavailable
from tests.unit.test_history import GatedRuntime, join_all, stall_writer, stores, wait_until

__all__ = ["stores"]  # the fixture, shared with test_history

SECRET = "s3cret-body-7f2a"


def bad_text(url: str) -> str:
    """A text the validation refuses and this database can't store, as if it had slipped past."""
    return f"{SECRET} \x00" if url.startswith("postgresql") else f"{SECRET} \ud800"


def test_one_unsaveable_message_fails_alone_in_its_batch(sql_url, stores):
    runtime = GatedRuntime()
    store = stores(sql_url, runtime)
    first = stall_writer(store, runtime)
    outcomes: dict[str, object] = {}

    def send(text):
        try:
            outcomes[text] = store.append("lobby", "u1", "Ada", text)[0]
        except StorageUnavailable as refused:
            outcomes[text] = refused

    texts = [f"good {n}" for n in range(10)]
    texts.insert(5, bad_text(sql_url))
    threads = []
    for queued, text in enumerate(texts, 1):  # in this order, behind the stalled first message
        threads.append(threading.Thread(target=send, args=(text,)))
        threads[-1].start()
        wait_until(lambda queued=queued: store._queue.qsize() == queued)
    runtime.gate.set()
    join_all(threads + [first])
    assert isinstance(outcomes.pop(bad_text(sql_url)), StorageUnavailable)
    stored = [m.text for m in store.after("lobby", 0)]
    assert stored == ["first"] + [t for t in texts if t.startswith("good")]
    assert [outcomes[t].text for t in texts if t.startswith("good")] == stored[1:]


def test_a_failed_batch_logs_no_message_body_or_name(sql_url, stores, caplog):
    caplog.set_level(logging.DEBUG)
    store = stores(sql_url)
    with pytest.raises(StorageUnavailable) as refused:
        store.append("lobby", "u1", f"name-{SECRET}", bad_text(sql_url))
    assert "storing 1 messages failed" in caplog.text
    assert SECRET not in caplog.text
    # nor in the exception chain, should anything log it with its traceback
    chain, seen = [], refused.value
    while seen is not None:
        chain.append(str(seen))
        seen = seen.__cause__ or seen.__context__
    assert SECRET not in " ".join(chain)

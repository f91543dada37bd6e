"""Transport limits that need no server: accept() through descriptor exhaustion, the connection
budget under the open file limit."""

from __future__ import annotations

import errno
import logging

import pytest

from eiotransport import process
from eiotransport.server import ACCEPT_BACKOFF, PatientListener


class FlakySocket:
    def __init__(self, failures):
        self.failures = list(failures)
        self.family = "inet"

    def accept(self):
        if self.failures:
            raise OSError(self.failures.pop(0), "no")
        return "conn", ("127.0.0.1", 1)


def test_accept_waits_longer_each_time_it_runs_out_of_descriptors(caplog):
    waits = []
    listener = PatientListener(
        FlakySocket([errno.EMFILE] * 9 + [errno.ENFILE]), sleep=waits.append, clock=lambda: 0.0
    )
    with caplog.at_level(logging.WARNING, "eiotransport"):
        assert listener.accept() == ("conn", ("127.0.0.1", 1))
    assert waits[0] == ACCEPT_BACKOFF[0]
    assert waits == sorted(waits) and max(waits) == ACCEPT_BACKOFF[1]
    assert len(caplog.records) == 1  # one warning, not one per try
    assert listener.family == "inet"  # everything else is the socket's


def test_accept_raises_other_errors():
    listener = PatientListener(FlakySocket([errno.EBADF]), sleep=lambda s: None)
    with pytest.raises(OSError):
        listener.accept()


def test_max_connections_is_lowered_to_what_the_file_limit_allows(monkeypatch, caplog):
    monkeypatch.setattr(process, "open_descriptors", lambda: 20)
    with caplog.at_level(logging.WARNING, "eiotransport"):
        assert process.connection_budget(100_000, 1024) == 1024 - 20 - 64
        assert process.connection_budget(500, 1024) == 500
    assert len(caplog.records) == 1
    assert "MAX_CONNECTIONS=100000" in caplog.records[0].getMessage()


def test_refused_packet_lines_are_rate_limited(caplog):
    from eiotransport.gate import RateLimitedLog

    now = [0.0]
    refusal_log = RateLimitedLog(burst=3, per_second=1.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, "eiotransport"):
        for _ in range(10):
            refusal_log("refused %s", "x")
        now[0] = 1.0
        refusal_log("refused %s", "y")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["refused x"] * 3 + ["refused y (7 more not logged)"]


def test_a_long_polling_queue_past_its_byte_limit_overflows_once():
    from engineio import packet

    from eiotransport.gate import BoundedQueue

    overflows = []
    queue = BoundedQueue(100, lambda: overflows.append(1))
    pkt = packet.Packet(packet.MESSAGE, data="x" * 39)  # 40 bytes encoded
    queue.put(pkt)
    queue.put(pkt)
    assert queue.queued_bytes == 80
    assert queue.get_nowait() is pkt and queue.queued_bytes == 40
    queue.put(pkt)
    queue.put(pkt)  # 120 > 100
    queue.put(pkt)
    assert overflows == [1] and queue.qsize() == 2
    queue.put(None)  # engineio's close marker still gets through
    assert queue.qsize() == 3


class FakeSession:
    closed = False

    def close(self, **kwargs):
        self.closed = True


class FakeEio:
    class reason:
        TRANSPORT_ERROR = "transport error"

    def __init__(self):
        self.handlers, self.sockets = {}, {"s": FakeSession()}

    def on(self, event, handler):
        self.handlers[event] = handler


def gate_for(max_attachments: int):
    from eiotransport.gate import SessionGate

    eio, seen = FakeEio(), []
    eio.handlers = {"connect": None, "message": lambda sid, data: seen.append(data)}
    eio.handlers["disconnect"] = lambda sid, reason: None
    gate = SessionGate(
        eio,
        address_of=lambda environ: "a",
        per_address=0,
        connect_timeout=0,
        max_queue_bytes=0,
        max_attachments=max_attachments,
        max_attachment_bytes=10,
        is_connected=lambda sid: True,
        call_later=None,
        spawn=None,
    ).install()
    return gate, eio, seen


def test_binary_packets_are_refused_where_no_event_takes_binary_data():
    gate, eio, seen = gate_for(max_attachments=0)
    session = eio.sockets["s"]
    eio.handlers["message"]("s", '51-["message",{"_placeholder":true,"num":0}]')
    assert session.closed and seen == []
    assert "s" not in eio.sockets  # forgotten, as engineio's disconnect() does


@pytest.mark.parametrize(
    ("packets", "closed"),
    [
        (['52-["m",1,2]', b"1234", b"5678", '2["after"]'], False),
        (['53-["m",1,2,3]', b"1234", b"5678", b"90ab"], True),  # too many attachments
        (['52-["m",1,2]', b"123456", b"789012"], True),  # over 10 bytes together
        ([b"1234"], True),  # an attachment no packet announced
    ],
)
def test_attachments_are_bounded_where_binary_is_allowed(packets, closed):
    gate, eio, seen = gate_for(max_attachments=2)
    session = eio.sockets["s"]
    for data in packets:
        eio.handlers["message"]("s", data)
    assert session.closed is closed
    if not closed:
        assert seen == packets and not gate.attachments

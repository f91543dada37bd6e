"""The shared heartbeat: PingSchedule's deadlines and Pinger's rules, without a clock or a network.

Pinger must keep python-engineio's behaviour: ping `ping_interval` after the handshake and after
each pong, close with PING_TIMEOUT a socket whose ping stays unanswered for `ping_timeout`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from engineio import packet
from hypothesis import given
from hypothesis import strategies as st

from eiotransport.pinger import Pinger, PingSchedule, schedule_ping


def test_a_new_connection_is_due_its_ping_after_one_interval():
    schedule = PingSchedule(interval=25, timeout=20)
    schedule.ping_later("a", now=100)
    assert schedule.next_deadline() == 125
    assert schedule.due(124.9) == ([], [])
    assert schedule.due(125) == (["a"], [])
    assert schedule.next_deadline() is None


def test_an_unanswered_ping_expires_after_the_timeout_with_its_id():
    schedule = PingSchedule(interval=25, timeout=20)
    schedule.expect_pong("a", ping_id=7, now=10)
    assert schedule.due(29.9) == ([], [])
    assert schedule.due(30) == ([], [("a", 7)])


def test_the_earliest_of_pings_and_pongs_is_the_next_deadline():
    schedule = PingSchedule(interval=5, timeout=1)
    schedule.ping_later("a", now=0)
    schedule.expect_pong("b", ping_id=1, now=2)
    assert schedule.next_deadline() == 3
    assert len(schedule) == 2


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=50))
def test_entries_come_out_in_deadline_order_when_added_as_time_goes_on(steps):
    schedule = PingSchedule(interval=3, timeout=1)
    now, added = 0.0, []
    for i, step in enumerate(steps):
        now += step
        schedule.ping_later(i, now)
        added.append((now + 3, i))
    out = []
    t = 0.0
    while len(schedule):
        t = schedule.next_deadline()
        pings, _ = schedule.due(t)
        out += [(t, i) for i in pings]
    assert [i for _, i in out] == [i for _, i in sorted(added, key=lambda x: x[0])]
    assert all(t == deadline for (t, _), (deadline, _) in zip(out, added, strict=True))


# ---- Pinger over fake engineio sockets ---------------------------------------------------------


class FakeSocket:
    def __init__(self, server, sid):
        self.server, self.sid = server, sid
        self.last_ping = 1.0  # engineio sets the handshake time; schedule_ping needs it truthy
        self.closing = self.closed = False
        self.sent: list = []
        self.closed_with = None

    def send(self, pkt):
        self.sent.append(pkt.packet_type)

    def close(self, wait=True, abort=False, reason=None):
        self.closing = self.closed = True
        self.closed_with = (abort, reason)


@pytest.fixture
def server():
    spawned = []
    srv = SimpleNamespace(
        ping_interval=25,
        ping_timeout=20,
        sockets={},
        reason=SimpleNamespace(PING_TIMEOUT="ping timeout"),
        logger=SimpleNamespace(info=lambda *a: None),
        sleep=lambda s: None,
    )
    srv.clock = [1000.0]
    srv.pinger = Pinger(
        srv,
        spawn=lambda fn: spawned.append(fn),
        event_factory=lambda: SimpleNamespace(set=lambda: None),
        clock=lambda: srv.clock[0],
    )
    srv.eiotransport = SimpleNamespace(pinger=srv.pinger)  # what install() leaves
    srv.spawned = spawned
    return srv


def connect(server, sid):
    sock = FakeSocket(server, sid)
    server.sockets[sid] = sock
    schedule_ping(sock)  # what engineio does after the handshake
    return sock


def advance(server, seconds):
    server.clock[0] += seconds
    server.pinger.tick(server.clock[0])


def test_one_task_serves_every_connection(server):
    for i in range(100):
        connect(server, f"s{i}")
    assert len(server.spawned) == 1


def test_a_socket_is_pinged_one_interval_after_the_handshake_and_after_each_pong(server):
    sock = connect(server, "a")
    advance(server, 24.9)
    assert sock.sent == []
    advance(server, 0.1)
    assert sock.sent == [packet.PING]
    assert sock.last_ping  # engineio's check_ping_timeout relies on it
    advance(server, 5)
    schedule_ping(sock)  # the pong: engineio's receive() calls this
    assert sock.last_ping is None
    advance(server, 24.9)
    assert sock.sent == [packet.PING]
    advance(server, 0.1)
    assert sock.sent == [packet.PING, packet.PING]
    assert not sock.closed


def test_a_socket_that_does_not_answer_is_closed_after_the_timeout_and_forgotten(server):
    sock = connect(server, "a")
    advance(server, 25)
    advance(server, 19.9)
    assert not sock.closed
    advance(server, 0.1)
    assert sock.closed_with == (False, "ping timeout")  # abort=False: a CLOSE packet goes out
    assert "a" not in server.sockets


def test_a_late_expiry_of_an_answered_ping_closes_nothing(server):
    server.ping_interval, server.ping_timeout = 1, 20
    server.pinger.schedule.interval, server.pinger.schedule.timeout = 1, 20
    sock = connect(server, "a")
    for _ in range(30):  # pings every second, each answered at once
        advance(server, 1)
        schedule_ping(sock)
    assert not sock.closed
    assert sock.sent.count(packet.PING) == 30


def test_closed_sockets_are_neither_pinged_nor_closed_again(server):
    sock = connect(server, "a")
    sock.closing = sock.closed = True
    advance(server, 60)
    assert sock.sent == []
    assert sock.closed_with is None


def test_a_pong_without_a_pending_ping_schedules_nothing(server):
    sock = connect(server, "a")
    schedule_ping(sock)  # a stray pong: engineio only reschedules after a completed cycle
    advance(server, 25)
    assert sock.sent == [packet.PING]


def test_closed_sockets_are_reaped_from_engineios_table_within_a_heartbeat(server):
    answered, silent = connect(server, "a"), connect(server, "b")
    advance(server, 25)  # both pinged
    schedule_ping(answered)  # a answers at once: its next ping is due at 50
    silent.closing = silent.closed = True  # b goes with its ping unanswered
    advance(server, 20)
    assert list(server.sockets) == ["a"]
    answered.closing = answered.closed = True  # a goes while waiting for its next ping
    advance(server, 5)
    assert server.sockets == {}
    assert silent.closed_with is answered.closed_with is None  # nothing closed them again


class Stop(Exception):
    pass


def test_a_short_heartbeat_is_kept_to_within_a_hundredth_of_it():
    """300/200 ms (the protocol suites'): a socket that connected 4 ms after another is pinged
    within 2 ms of its due time, not at the next 50 ms wake-up."""
    clock = [1000.0]
    pinged: dict = {}

    class Event:  # the task's sleep: time passes by what it waits
        def __init__(self):
            self.waits = 0

        def set(self):
            pass

        def clear(self):
            pass

        def wait(self, timeout=None):
            self.waits += 1
            if timeout is None or self.waits > 4:
                raise Stop
            clock[0] += timeout

    srv = SimpleNamespace(
        ping_interval=0.3,
        ping_timeout=0.2,
        sockets={},
        reason=SimpleNamespace(PING_TIMEOUT="ping timeout"),
        logger=SimpleNamespace(info=lambda *a: None),
    )
    srv.pinger = Pinger(srv, spawn=lambda fn: None, event_factory=Event, clock=lambda: clock[0])
    srv.eiotransport = SimpleNamespace(pinger=srv.pinger)
    connected = {}
    for sid in ("a", "b"):
        sock = connect(srv, sid)
        sock.send = lambda pkt, sid=sid: pinged.setdefault(sid, clock[0])
        connected[sid] = clock[0]
        clock[0] += 0.004
    with pytest.raises(Stop):
        srv.pinger._run()
    assert set(pinged) == {"a", "b"}
    for sid, at in pinged.items():
        assert at - connected[sid] <= 0.3 + 0.002 + 1e-9

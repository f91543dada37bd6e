"""What the server holds for each connected client stays small (issue 21, item 18)."""

import gc

from rpschat.domain.ports import Connection, NamedConnection


def test_a_connection_has_no_instance_dict():
    connection = Connection("sid", "10.0.0.1", 0.0)
    assert not hasattr(connection, "__dict__")
    assert NamedConnection.__slots__ == ()  # a subclass adds none either


def refusal_cycles(client, *emit_args) -> tuple[list, object]:
    """What the cyclic collector finds after a refused event: (its Refused objects, the ack)."""
    from rpschat.domain.errors import Refused

    gc.collect()
    gc.disable()
    try:
        ack = client.emit(*emit_args, callback=True)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = [o for o in gc.garbage if isinstance(o, Refused)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return found, ack


def test_a_refused_event_leaves_no_garbage_cycle(harness):
    """Refused through Flask-SocketIO's error handler, a refusal stayed in a cycle (its
    handler's frame holds the exception), with the ~20 frames of its traceback, until the
    cyclic collector ran: every join past JOIN_RATE left one."""
    client = harness.client()
    found, ack = refusal_cycles(client, "message", {"msg": "hello"})  # no name yet
    assert ack["ok"] is False and ack["code"] == "name_required"
    assert found == []


def test_a_refused_event_without_an_ack_still_gets_the_error_event(harness):
    client = harness.client()
    client.get_received()
    client.emit("message", {"msg": "hello"})
    errors = [e for e in client.get_received() if e["name"] == "error"]
    assert errors and errors[0]["args"][0]["code"] == "name_required"

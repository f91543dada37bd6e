"""What the server holds for each connected client stays small (issue 21, item 18)."""

from rpschat.domain.ports import Connection, NamedConnection


def test_a_connection_has_no_instance_dict():
    connection = Connection("sid", "10.0.0.1", 0.0)
    assert not hasattr(connection, "__dict__")
    assert NamedConnection.__slots__ == ()  # a subclass adds none either

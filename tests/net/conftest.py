"""Fixtures for the network tests: real server processes, real clients."""

from __future__ import annotations

import pytest

from tests.support.clients import ClientPool, node_available


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/net/" in str(item.path):
            item.add_marker(pytest.mark.net)


@pytest.fixture
def pool(server):
    """python-socketio clients on the module's `server`, all closed after the test."""
    clients = ClientPool(server.url)
    yield clients
    clients.close()


@pytest.fixture(scope="session")
def node():
    """The official socket.io-client is needed: it is the client the page uses."""
    if not node_available():
        pytest.fail("node and node_modules/socket.io-client are needed: run `npm ci`")

"""Which client event goes to which domain call, and the connection lifecycle."""

from __future__ import annotations

import logging

import socketio

from rpschat.config import Settings
from rpschat.domain.errors import Refused
from rpschat.web.events import Router
from rpschat.web.security import client_address
from rpschat.wiring import Services

log = logging.getLogger("rpschat.connections")


def register_event_handlers(router: Router, services: Services) -> None:
    chat = services.chat
    router.add("set_username", chat.set_username)
    router.add("message", chat.check_message, split=True)
    router.add("users", chat.users)
    router.add("typing", chat.typing)
    router.add("history", chat.history_page)
    router.add("claim_name", chat.claim_name)
    router.add("release_name", chat.release_name)
    if services.games is not None:
        services.games.register(router)


def register_connection_handlers(
    server: socketio.Server, services: Services, settings: Settings
) -> None:
    chat = services.chat
    per_address_cap = settings.max_connections_per_ip

    def on_connect(sid, environ, auth):
        address = client_address(environ)
        if per_address_cap and chat.connections_from(address) >= per_address_cap:
            log.info("refused %s: too many connections", address, extra={"address": address})
            raise socketio.exceptions.ConnectionRefusedError(
                "Too many connections from your address."
            )
        log.info("connect %s from %s", sid, address, extra={"sid": sid, "address": address})
        try:
            chat.connect(sid, address, auth)
        except Refused as refused:  # a bad auth: connect() took nothing
            raise socketio.exceptions.ConnectionRefusedError(refused.reason) from None
        except Exception:
            log.exception("connect failed for %s", sid)
            raise socketio.exceptions.ConnectionRefusedError(
                "The server could not connect you."
            ) from None

    def on_disconnect(sid, reason=None):
        voluntary = reason == socketio.Server.reason.CLIENT_DISCONNECT
        try:
            chat.disconnect(sid, voluntary)
        except Exception:
            log.exception("disconnect failed for %s", sid)

    server.on("connect", on_connect)
    server.on("disconnect", on_disconnect)
    services.runtime.spawn(_sweep_idle, services, settings)


def _sweep_idle(services: Services, settings: Settings) -> None:
    """One task for all connections (not a timer each): closes those that never named
    themselves within UNNAMED_IDLE_SECONDS."""
    period = max(1.0, min(10.0, settings.unnamed_idle_seconds / 4))
    while not services.closing:
        services.runtime.sleep(period)
        try:
            services.chat.kick_idle_unnamed()
        except Exception:
            log.exception("idle sweep failed")

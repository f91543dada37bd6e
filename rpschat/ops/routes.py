"""`/readyz` and `/metrics`, and `install()`, which wires health, metrics and logs into the app."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from prometheus_client.exposition import choose_encoder

from eiotransport import counts as transport_counts
from rpschat.ops.health import PAGE_FIX, Readiness, build_readiness, missing_files
from rpschat.ops.metrics import Metrics
from rpschat.web.pages import SOCKETIO_CLIENT_DIR
from rpschat.web.security import client_address

log = logging.getLogger("rpschat.ops")

PAGE_FILES = [SOCKETIO_CLIENT_DIR / "socket.io.esm.min.js"]

ops = Blueprint("ops", __name__)


class Ops:
    def __init__(self, settings: Any, readiness: Readiness, metrics: Metrics | None):
        self.settings = settings
        self.readiness = readiness
        self.metrics = metrics


def _ops() -> Ops:
    return current_app.extensions["rpschat_ops"]


@ops.get("/readyz")
def ready():
    ok, checks = _ops().readiness.run()
    response = jsonify({"ok": ok, "checks": checks})
    response.status_code = 200 if ok else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@ops.get("/metrics")
def metrics():
    state = _ops()
    if state.metrics is None:
        return _plain(404, "Metrics are off (METRICS=false).\n")
    refusal = _refusal(state.settings)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    response = Response(encoder(state.metrics.registry), content_type=content_type)
    response.headers["Cache-Control"] = "no-store"
    return response


def _refusal(settings: Any) -> Response | None:
    """With METRICS_TOKEN: the bearer token or 401. Without: loopback clients only, or 403."""
    token = settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return None
        response = _plain(401, "A METRICS_TOKEN bearer token is required.\n")
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _is_loopback(client_address(request.environ)):
        return None
    return _plain(403, "Metrics answer loopback clients only; set METRICS_TOKEN for others.\n")


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _plain(status: int, text: str) -> Response:
    return Response(text, status=status, content_type="text/plain; charset=utf-8")


def install(app: Flask, server: Any, services: Any, metrics: Metrics | None) -> None:
    """Health and metrics routes; the metrics hooks on the services; a loud start-up error when
    the page's Socket.IO client is missing (the page would load and never connect)."""
    settings = services.settings
    missing = missing_files(PAGE_FILES)
    if missing:
        log.error("The page cannot connect: %s is missing. Fix: %s.", missing[0], PAGE_FIX)
    if metrics is not None:
        metrics.watch(
            sockets=lambda: server.eio.sockets.values(),
            users=services.connections.named_count,
            transport=lambda: transport_counts(server),
        )
        metrics.sample_games(services.games.live_count, services.runtime, lambda: services.closing)
    readiness = build_readiness(settings, services, server.manager, PAGE_FILES)
    app.extensions["rpschat_ops"] = Ops(settings, readiness, metrics)
    app.register_blueprint(ops)

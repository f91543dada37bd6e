"""Engine.IO v4 as the protocol (and its reference server) has it, where python-engineio differs.

A WSGI middleware in front of one Engine.IO server, on public API only (the request, the
response, `Server.send_packet`); each rule below is a test of Socket.IO's official
engine.io-protocol suite (tests/conformance/):

- a request without a `transport` query parameter is refused (400): python-engineio takes it
  for long-polling and opens a session;
- a method other than GET, POST and OPTIONS is refused with 400, not 405;
- a long-polling POST whose payload holds a packet that is not Engine.IO (`abc`) is refused
  with 400 and its session is closed: python-engineio logs the error, answers 200 and keeps the
  session;
- a second long-poll while one is pending closes the session (the pending poll gets a CLOSE
  packet, the second one 400): python-engineio lets both wait, and a packet goes to either;
- a client's CLOSE ends the pending poll with a NOOP packet, not an empty body (which is no
  Engine.IO payload at all), also a poll that races the CLOSE on another connection;
- a POST is answered `ok`, not `OK`;
- a poll that comes while the session upgrades lets the WebSocket's reader go first, so a
  client that sent UPGRADE before it polled gets 400, not a NOOP;
- a WebSocket for a session that already has one (or is upgrading to one) is accepted and
  closed at once (1008), as the reference server does: python-engineio answers 400, before any
  hook of ours runs (the closing handshake is websocket.py's, so only under our own server).
"""

from __future__ import annotations

import io
from urllib.parse import parse_qs

from engineio import packet

TRANSPORTS = ("polling", "websocket")
METHODS = ("GET", "POST", "OPTIONS")
PACKET_TYPES = frozenset("0123456b")  # a packet's first character; "b": base64 binary
SEPARATOR = "\x1e"
# Event-loop passes a request waits for one racing it on another connection (see _poll, _post)
RACE_PASSES = 3


class PollingGuard:
    def __init__(self, app, eio, path: str = "/socket.io/"):
        self.app = app
        self.eio = eio
        self.path = path
        self._polling: set[str] = set()  # sessions with a long-poll pending

    def __call__(self, environ, start_response):
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if method not in METHODS or query.get("transport", [None])[0] not in TRANSPORTS:
            return _bad_request(start_response)
        sid = query.get("sid", [None])[0]
        if sid is None or method == "OPTIONS":
            return self.app(environ, start_response)
        if method == "POST":
            return self._post(sid, environ, start_response)
        if "HTTP_UPGRADE" in environ:  # a WebSocket for the session
            session = self.eio.sockets.get(sid)
            if session is not None and (session.upgraded or session.upgrading):
                from eiotransport import websocket  # (eventlet: only when serving)

                if websocket.refuse(environ):
                    return []
            return self.app(environ, start_response)
        return self._poll(sid, environ, start_response)

    def _poll(self, sid, environ, start_response):
        if sid in self._polling:
            session = self.eio.sockets.get(sid)
            if session is not None:
                # abort=False: engineio sends CLOSE, which the pending poll carries
                session.close(wait=False, abort=False, reason=self.eio.reason.TRANSPORT_ERROR)
            return _bad_request(start_response)
        session = self.eio.sockets.get(sid)
        for _ in range(RACE_PASSES):
            if session is None or not session.upgrading:
                break
            # The client may have sent UPGRADE before this poll: a poll on a kept-alive
            # connection is resumed straight from the event loop, while the WebSocket's bytes
            # wait a pass to be reported (its reader had stopped watching while it ran) and
            # another for the reader to run. Without these passes the poll overtakes the
            # UPGRADE and is answered NOOP after the client switched (it expects 400).
            self.eio.sleep(0)
        self._polling.add(sid)
        try:
            return self.app(environ, start_response)  # engineio answers once the poll is over
        finally:
            self._polling.discard(sid)

    def _post(self, sid, environ, start_response):
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _bad_request(start_response)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            packets = body.decode("utf-8").split(SEPARATOR)
        except UnicodeDecodeError:
            packets = [""]
        if sid in self.eio.sockets and not all(p and p[0] in PACKET_TYPES for p in packets):
            session = self.eio.sockets.get(sid)
            if session is not None:
                session.close(wait=False, abort=True, reason=self.eio.reason.TRANSPORT_ERROR)
            return _bad_request(start_response)
        if "1" in packets:
            # A poll the client sent just before its CLOSE may still be on its way on another
            # connection (or resumed later than this one, being kept alive): let it come first,
            # or it finds the session gone (400) instead of ending it.
            for _ in range(RACE_PASSES):
                if sid in self._polling or sid not in self.eio.sockets:
                    break
                self.eio.sleep(0)
            if sid in self._polling:
                # engineio ends the pending poll with an empty payload when the client closes
                self.eio.send_packet(sid, packet.Packet(packet.NOOP))
        result = self.app(environ, start_response)
        return [b"ok"] if result == [b"OK"] else result


def _bad_request(start_response):
    body = b'"Bad Request"'
    start_response(
        "400 BAD REQUEST", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]

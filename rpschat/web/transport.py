"""Transport tuning that a default Flask-SocketIO deployment gets wrong (see FIELD-NOTES)."""

from __future__ import annotations


class NoWebSocketCompression:
    """WSGI middleware that hides the client's permessage-deflate offer.

    eventlet negotiates compression with every client that offers it and then deflates each
    frame once per recipient: a fifth of the CPU of a broadcast for chat-sized messages. Node's
    Socket.IO server has it off by default too."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return self.app(environ, start_response)

"""What reaches Engine.IO over HTTP, checked in front of it (plain WSGI, no library patched)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs


class TransportGuard:
    """WSGI middleware in front of Engine.IO.

    - Hides the client's permessage-deflate offer: compression would deflate each frame once per
      recipient, 20-25 % of the CPU of a broadcast for chat-sized messages (stripping the offer
      alone raised fan-out by about 20 %; Node's Socket.IO server has it off by default too).
    - Answers a long-polling POST over the frame limit with 413 and closes that session:
      python-engineio would instead wait, forever when no poll is pending, for the session's
      queue to drain, leaving the request unanswered and its socket open.
    """

    def __init__(
        self,
        app,
        *,
        max_body_bytes: int,
        close_session: Callable[[str], None],
        compression: bool = False,
        path: str = "/socket.io/",
    ):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.close_session = close_session
        self.compression = compression
        self.path = path

    def __call__(self, environ, start_response):
        if not self.compression:
            environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        if environ.get("REQUEST_METHOD") == "POST" and self._too_large(environ):
            return self._refuse(environ, start_response)
        return self.app(environ, start_response)

    def _too_large(self, environ) -> bool:
        if not environ.get("PATH_INFO", "").startswith(self.path):
            return False
        try:
            return int(environ.get("CONTENT_LENGTH") or 0) > self.max_body_bytes
        except ValueError:
            return True

    def _refuse(self, environ, start_response):
        sid = parse_qs(environ.get("QUERY_STRING", "")).get("sid", [None])[0]
        if sid:
            self.close_session(sid)
        body = b"The request is larger than the server accepts."
        start_response(
            "413 Content Too Large",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
             ("Connection", "close")],
        )  # fmt: skip
        return [body]


def session_closer(eio_server) -> Callable[[str], None]:
    """Closes an Engine.IO session without waiting for its queue to drain."""

    def close(sid: str) -> None:
        socket = eio_server.sockets.get(sid)
        if socket is not None:
            socket.close(wait=False, abort=True)

    return close

"""A TCP proxy on 127.0.0.1 in front of a shared service (PostgreSQL, Redis), so that a test can
make the service unreachable, or hang, for one server, without touching the service itself."""

from __future__ import annotations

import socket
import threading

from tests.support.server import free_port


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target`. `stop()` closes the listener and every connection
    (the service looks down: connection refused); `start()` listens again on the same port;
    `hang()` keeps accepting but forwards nothing (the service looks stuck)."""

    def __init__(self, target: tuple[str, int], port: int | None = None):
        self.target = target
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._hanging = threading.Event()

    def start(self) -> TcpProxy:
        self._hanging.clear()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def hang(self) -> None:
        self._hanging.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)  # 5 s to connect; idle for as long as the peers like
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    _close(client)
                    _close(upstream)
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if self._hanging.is_set():
                    self._hanging_wait(source, sink)
                    return
                sink.sendall(data)
        except OSError:
            pass
        _close(source)
        _close(sink)

    def _hanging_wait(self, source: socket.socket, sink: socket.socket) -> None:
        # Swallow what comes and answer nothing, until stop() closes both sockets.
        try:
            while source.recv(65536):
                pass
        except OSError:
            pass

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()

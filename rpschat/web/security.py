"""Response headers, origin checks and client addresses: what keeps hostile sites out."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from werkzeug.middleware.proxy_fix import ProxyFix

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def own_origins(environ: dict) -> set[str]:
    """The origin the page itself is served from, as the browser sees it (behind a trusted
    proxy, `harden`'s ProxyFix has already put the proxy's view into the environ)."""
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    return {f"{scheme}://{host}"}


def origin_checker(extra: Iterable[str]) -> Callable[[str, dict], bool]:
    """Engine.IO's `cors_allowed_origins` callable: same origin, plus ALLOWED_ORIGINS."""
    allowed = {origin.rstrip("/") for origin in extra}

    def is_allowed(origin: str, environ: dict) -> bool:
        origin = (origin or "").rstrip("/")
        return origin in allowed or origin in own_origins(environ)

    return is_allowed


def client_address(environ: dict) -> str:
    """The client's address: behind TRUST_PROXY hops, the one the trusted proxy saw."""
    return environ.get("REMOTE_ADDR", "unknown")


# ---- the WSGI middleware in front of everything --------------------------------------------------

HSTS = "max-age=31536000"
JSONP_REFUSED = "JSONP polling is not supported: use XHR long-polling or WebSocket."
HOST_REFUSED = "Unknown host: add this site's origin to ALLOWED_ORIGINS."


def host_name(host: str) -> str:
    """`Host` without its port, lower case; IPv6 literals without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_checker(allowed_origins: Iterable[str], listen_host: str) -> Callable[[str], bool]:
    """Which `Host` headers to serve: IP addresses, localhost, the listening host, and the hosts
    of ALLOWED_ORIGINS. DNS rebinding points a name the attacker owns at this server: the
    browser then sends that name as Host, and the same-origin check alone would pass."""
    names = {"localhost", host_name(listen_host)}
    names |= {host_name(urlsplit(origin).netloc) for origin in allowed_origins}
    names.discard("")

    def is_allowed(host: str) -> bool:
        name = host_name(host)
        return name in names or _is_ip(name)

    return is_allowed


class Hardening:
    """Checks and headers for every response, the page's and Socket.IO's alike (Flask's
    after_request never sees Engine.IO's): a Host check against DNS rebinding, no JSONP
    polling (the page doesn't use it; it is script served from our origin), `nosniff` on
    everything, and HSTS behind a trusted proxy that received the request over https."""

    def __init__(self, app, *, host_allowed: Callable[[str], bool], hsts: bool, socketio_path):
        self.app = app
        self.host_allowed = host_allowed
        self.hsts = hsts
        self.socketio_path = "/" + socketio_path.strip("/") + "/"

    def __call__(self, environ, start_response):
        extra = [("X-Content-Type-Options", "nosniff")]
        if self.hsts and environ.get("wsgi.url_scheme") == "https":
            extra.append(("Strict-Transport-Security", HSTS))
        host = environ.get("HTTP_HOST")
        if host is not None and not self.host_allowed(host):
            return _refuse(start_response, "421 Misdirected Request", HOST_REFUSED, extra)
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.socketio_path) and "j" in parse_qs(
            environ.get("QUERY_STRING", ""), keep_blank_values=True
        ):
            return _refuse(start_response, "400 Bad Request", JSONP_REFUSED, extra)

        def with_headers(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers = list(headers) + [(k, v) for k, v in extra if k.lower() not in present]
            return start_response(status, headers, exc_info)

        return self.app(environ, with_headers)


def _refuse(start_response, status: str, text: str, extra: list) -> list[bytes]:
    body = text.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status, headers + extra)
    return [body]


def harden(app, settings, socketio_path: str = "socket.io"):
    """`app` behind the Hardening middleware, and behind ProxyFix when TRUST_PROXY is on.

    TRUST_PROXY is the number of proxies in front of the server: each appends the address it
    received from to X-Forwarded-For, so the entry that many places from the right is the one
    the nearest trusted proxy saw. The entries left of it are whatever the client wrote."""
    hops = settings.trust_proxy
    hardened = Hardening(
        app,
        host_allowed=host_checker(settings.allowed_origins, settings.host),
        hsts=bool(hops),
        socketio_path=socketio_path,
    )
    if not hops:
        return hardened
    # No x_port: a router that sends X-Forwarded-Port but no host (Heroku) would otherwise
    # turn Host into host:443, and the page's own origin would no longer match.
    return ProxyFix(hardened, x_for=hops, x_proto=hops, x_host=hops)

"""Response headers, origin checks and client addresses: what keeps hostile sites out."""

from __future__ import annotations

from collections.abc import Callable, Iterable

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


def own_origins(environ: dict, trust_proxy: bool) -> set[str]:
    """The origins the page itself is served from, as the browser sees them."""
    host = environ.get("HTTP_HOST", "")
    scheme = environ.get("wsgi.url_scheme", "http")
    origins = {f"{scheme}://{host}"}
    if trust_proxy:
        scheme = environ.get("HTTP_X_FORWARDED_PROTO", scheme).split(",")[0].strip()
        host = environ.get("HTTP_X_FORWARDED_HOST", host).split(",")[0].strip()
        origins.add(f"{scheme}://{host}")
    return origins


def origin_checker(extra: Iterable[str], trust_proxy: bool) -> Callable[[str, dict], bool]:
    """Engine.IO's `cors_allowed_origins` callable: same origin, plus ALLOWED_ORIGINS."""
    allowed = {origin.rstrip("/") for origin in extra}

    def is_allowed(origin: str, environ: dict) -> bool:
        origin = (origin or "").rstrip("/")
        return origin in allowed or origin in own_origins(environ, trust_proxy)

    return is_allowed


def client_address(environ: dict, trust_proxy: bool) -> str:
    if trust_proxy:
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return environ.get("REMOTE_ADDR", "unknown")

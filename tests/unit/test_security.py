"""TRUST_PROXY's hops and the Host check (rpschat/web/security.py), without a server."""

from __future__ import annotations

import pytest

from rpschat.config import ConfigError, Settings
from rpschat.web.security import client_address, harden, host_checker


@pytest.mark.parametrize(
    ("raw", "hops"),
    [("", 0), ("false", 0), ("0", 0), ("true", 1), ("yes", 1), ("1", 1), ("2", 2), (" 3 ", 3)],
)
def test_trust_proxy_is_a_number_of_hops_and_true_means_one(raw, hops):
    assert Settings.from_env({"TRUST_PROXY": raw, "SECRET_KEY": "k"}).trust_proxy == hops


@pytest.mark.parametrize("raw", ["-1", "maybe", "1.5"])
def test_a_bad_trust_proxy_names_the_setting(raw):
    with pytest.raises(ConfigError, match="TRUST_PROXY"):
        Settings.from_env({"TRUST_PROXY": raw, "SECRET_KEY": "k"})


def seen_by_app(hops: int, environ: dict) -> dict:
    settings = Settings(trust_proxy=hops, secret_key="k")
    seen = {}

    def app(env, start_response):
        seen.update(env)
        start_response("200 OK", [])
        return [b""]

    base = {"REMOTE_ADDR": "10.0.0.1", "HTTP_HOST": "127.0.0.1:4321", "wsgi.url_scheme": "http"}
    harden(app, settings)({**base, **environ}, lambda *args: None)
    return seen


@pytest.mark.parametrize(
    ("hops", "forwarded", "address"),
    [
        (0, "6.6.6.6, 192.0.2.9", "10.0.0.1"),  # not trusted: the socket's peer
        (1, "6.6.6.6, 192.0.2.9", "192.0.2.9"),  # the entry the proxy appended
        (2, "6.6.6.6, 192.0.2.9, 10.0.0.2", "192.0.2.9"),
        (2, "192.0.2.9", "10.0.0.1"),  # fewer entries than hops: nothing is trusted
    ],
)
def test_the_address_is_the_one_the_trusted_proxy_saw(hops, forwarded, address):
    assert client_address(seen_by_app(hops, {"HTTP_X_FORWARDED_FOR": forwarded})) == address


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:4321", True),
        ("[::1]:4321", True),
        ("192.168.1.20", True),
        ("LOCALHOST:4321", True),
        ("chat.example.com", True),
        ("chat.example.com:8443", True),
        ("evil.example:4321", False),
        ("chat.example.com.evil.example", False),
        ("x", False),
    ],
)
def test_hosts_served(host, allowed):
    is_allowed = host_checker(["https://chat.example.com"], "0.0.0.0")
    assert is_allowed(host) is allowed

"""The page's Socket.IO client is vendored in static/vendor/socket.io-client/ (deploying needs no
Node.js); it must be the exact version package-lock.json pins, the one the tests run."""

from __future__ import annotations

import json
import re

import pytest

from deploy.vendor_client import (
    BUNDLED_LICENSES,
    COPIED,
    NODE_MODULES,
    PACKAGE,
    VENDORED,
    expected_files,
    locked_version,
)
from tests.conftest import require_service


def banner_version(build: bytes) -> str:
    """The version in the build's first comment: `/*!\n * Socket.IO v4.8.4\n...`."""
    found = re.match(rb"/\*!\s*\*\s*Socket\.IO v(\d+\.\d+\.\d+)\b", build)
    assert found, f"no version banner at the start of the build: {build[:80]!r}"
    return found.group(1).decode()


def test_the_vendored_client_is_the_version_package_lock_pins():
    locked = locked_version(PACKAGE)
    copied_package = json.loads((VENDORED / "package.json").read_text())
    build = (VENDORED / "socket.io.esm.min.js").read_bytes()

    assert copied_package["name"] == PACKAGE
    assert copied_package["version"] == locked, "run `npm ci && make vendor`"
    assert banner_version(build) == locked, "run `npm ci && make vendor`"


def test_package_json_pins_the_locked_version_exactly():
    wanted = json.loads((VENDORED.parents[2] / "package.json").read_text())["dependencies"]
    assert wanted[PACKAGE] == locked_version(PACKAGE)


def test_the_banner_is_read_from_the_build_not_assumed():
    assert banner_version(b"/*!\n * Socket.IO v4.7.5\n * (c) 2014-2024 Guillermo Rauch\n */") == (
        "4.7.5"
    )
    with pytest.raises(AssertionError):
        banner_version(b"const t=Object.create(null);")


def test_the_vendored_files_are_licensed_and_nothing_else_is_there():
    assert {path.name for path in VENDORED.iterdir()} == {*COPIED, BUNDLED_LICENSES}
    assert "MIT License" in (VENDORED / "LICENSE").read_text()
    bundled = (VENDORED / BUNDLED_LICENSES).read_text()
    for name in ("engine.io-client", "engine.io-parser", "socket.io-parser"):
        assert f"\n{name} {locked_version(name)}\n" in bundled


def test_the_vendored_files_are_npm_s_byte_for_byte():
    """Nothing edited by hand: the copy is what `make vendor` makes from `npm ci`'s packages."""
    installed = (NODE_MODULES / PACKAGE / "package.json").is_file()
    require_service("node_modules/socket.io-client", installed, "run `npm ci`")
    for name, content in expected_files().items():
        assert (VENDORED / name).read_bytes() == content, f"{name} differs: run `make vendor`"

"""Copy the page's Socket.IO client from node_modules into static/vendor/socket.io-client/.

The app serves the page's client from that directory (rpschat/web/pages.py), so `requirements.txt`
and the Procfile alone deploy a working page: no Node.js at deploy time. npm still installs the
same package for the tests. After changing socket.io-client's version in package.json:

    npm install && make vendor

tests/unit/test_vendored_client.py fails while the copy and package-lock.json disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "node_modules"
VENDORED = ROOT / "static" / "vendor" / "socket.io-client"
PACKAGE = "socket.io-client"
# file in the vendored directory -> where it comes from in the npm package
COPIED = {
    "socket.io.esm.min.js": "dist/socket.io.esm.min.js",
    "socket.io.esm.min.js.map": "dist/socket.io.esm.min.js.map",
    "LICENSE": "LICENSE",
    "package.json": "package.json",  # its version is what the test compares
}
BUNDLED_LICENSES = "LICENSE.bundled"
# Left out of the browser build: its debug calls are stripped, and the browser's own WebSocket
# and XMLHttpRequest stand in for these Node packages.
NODE_ONLY = {"debug", "ms", "ws", "xmlhttprequest-ssl"}


def locked_version(package: str, lock: Path = ROOT / "package-lock.json") -> str:
    return json.loads(lock.read_text())["packages"][f"node_modules/{package}"]["version"]


def bundled_packages(lock: Path = ROOT / "package-lock.json") -> list[str]:
    """The packages the browser build bundles: socket.io-client's dependencies, transitively,
    as npm locked them, but for those only Node uses (its source map names the rest)."""
    packages = json.loads(lock.read_text())["packages"]
    found: list[str] = []
    pending = list(packages[f"node_modules/{PACKAGE}"].get("dependencies", {}))
    while pending:
        name = pending.pop(0)
        if name in found or name in NODE_ONLY:
            continue
        found.append(name)
        pending += list(packages[f"node_modules/{name}"].get("dependencies", {}))
    return sorted(found)


def expected_files(node_modules: Path = NODE_MODULES) -> dict[str, bytes]:
    """Every file of the vendored directory, as installed npm packages make it."""
    source = node_modules / PACKAGE
    files = {name: (source / origin).read_bytes() for name, origin in COPIED.items()}
    files[BUNDLED_LICENSES] = _bundled_licenses(node_modules).encode()
    return files


def _bundled_licenses(node_modules: Path) -> str:
    parts = [
        "The browser build socket.io.esm.min.js bundles these packages (versions as in\n"
        "package-lock.json); each is under the MIT License, whose text follows with its\n"
        "copyright notice.\n"
    ]
    for name in bundled_packages():
        rule = "=" * 64
        text = (node_modules / name / "LICENSE").read_text()
        parts.append(f"\n{rule}\n{name} {locked_version(name)}\n{rule}\n{text.rstrip()}\n")
    return "".join(parts)


def main() -> int:
    if not (NODE_MODULES / PACKAGE / "package.json").is_file():
        print("node_modules/socket.io-client is missing: run `npm ci` first", file=sys.stderr)
        return 1
    VENDORED.mkdir(parents=True, exist_ok=True)
    for name, content in expected_files().items():
        (VENDORED / name).write_bytes(content)
    print(f"vendored {PACKAGE} {locked_version(PACKAGE)} into {VENDORED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

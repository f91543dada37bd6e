"""The page, its favicon and the Socket.IO client build, all served by the app itself."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, send_from_directory

ROOT = Path(__file__).resolve().parents[2]
# The browser build of socket.io-client, vendored (deploy/vendor_client.py copies it from
# node_modules at package-lock.json's version): deploying needs no Node.js.
SOCKETIO_CLIENT_DIR = ROOT / "static" / "vendor" / "socket.io-client"
VENDOR_FILES = {"socket.io.esm.min.js", "socket.io.esm.min.js.map"}

pages = Blueprint("pages", __name__)


@pages.get("/")
def index():
    return render_template("index.html")


@pages.get("/play/<code>")
def play(code: str):
    """An invite link: the page, which accepts the invite once it has a name."""
    return render_template("index.html")


@pages.get("/favicon.ico")
def favicon():
    return send_from_directory(ROOT / "static", "favicon.svg", mimetype="image/svg+xml")


@pages.get("/vendor/<path:filename>")
def vendor(filename: str):
    if filename not in VENDOR_FILES:
        abort(404)
    return send_from_directory(SOCKETIO_CLIENT_DIR, filename, max_age=86400)


@pages.get("/healthz")
def health():
    return {"ok": True}

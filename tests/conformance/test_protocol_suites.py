"""Socket.IO's official protocol suites (socket.io-protocol, engine.io-protocol) against our stack.

Each suite is copied from `../shared/protocol-suites/` (read-only in CI) to a temporary folder,
pointed at tests/conformance/server.py on a free port, and run with mocha's JSON reporter. Every
test must pass except those docs/protocol.md lists under "Known deviations", and each of those
must still fail: a deviation that gets fixed, or a new failure, fails this test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.server import ROOT, ServerProcess

# ../shared beside the repository (CI's read-only copy); PROTOCOL_SUITES_DIR overrides it (a git
# worktree elsewhere).
SUITES_DIR = Path(
    os.environ.get("PROTOCOL_SUITES_DIR") or ROOT.parent / "shared" / "protocol-suites"
)
SUITES = ("socket.io-protocol", "engine.io-protocol")
PROTOCOL_DOC = ROOT / "docs" / "protocol.md"
URL_LINE = 'const URL = "http://localhost:3000";'

pytestmark = pytest.mark.net


def require(what: str, present: bool) -> None:
    """Skip when something outside the repository is missing; under CI=true, fail."""
    if present:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what}; CI=true requires it", pytrace=False)
    pytest.skip(what)


def known_deviations(doc: Path = PROTOCOL_DOC) -> dict[str, set[str]]:
    """suite -> full titles of the tests docs/protocol.md lists under "Known deviations".

    Rows of the section's table: | `suite` | `full test title` | library | why |"""
    text = doc.read_text()
    match = re.search(r"^## Known deviations\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, 'docs/protocol.md has no "## Known deviations" section'
    listed: dict[str, set[str]] = {suite: set() for suite in SUITES}
    for line in match.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].strip("`") in SUITES and cells[1].startswith("`"):
            listed[cells[0].strip("`")].add(cells[1].strip("`"))
    return listed


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rpschat" / "protocol-suites"


def installed_node_modules(suite_dir: Path) -> Path:
    """The suite's npm dependencies, installed once per lockfile (`npm ci`) and cached."""
    manifest = [suite_dir / "package.json", suite_dir / "package-lock.json"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in manifest)).hexdigest()[:16]
    target = _cache_root() / key
    if (target / "node_modules" / ".installed").exists():
        return target / "node_modules"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{key}-"))
    except OSError:  # no writable cache: install into a throwaway folder
        staging = Path(tempfile.mkdtemp(prefix="rpschat-suite-npm-"))
        target = None
    for path in manifest:
        shutil.copy(path, staging / path.name)
    proc = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"npm ci failed in {staging}:\n{proc.stdout}\n{proc.stderr}"
    (staging / "node_modules" / ".installed").touch()
    if target is None:
        return staging / "node_modules"
    try:
        staging.rename(target)  # atomic: a concurrent run either sees all of it or none
    except OSError:  # another run got there first
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


def run_suite(suite: str, port: int, workdir: Path) -> dict:
    """Run one suite against 127.0.0.1:`port`; mocha's JSON report."""
    source = SUITES_DIR / suite / "test-suite"
    modules = installed_node_modules(source)
    shutil.copytree(source, workdir, ignore=shutil.ignore_patterns("node_modules"))
    (workdir / "node_modules").symlink_to(modules, target_is_directory=True)
    script = workdir / "test-suite.js"
    text = script.read_text()
    assert text.count(URL_LINE) == 1, f"{suite}: the suite's URL line changed"
    script.write_text(text.replace(URL_LINE, f'const URL = "http://127.0.0.1:{port}";'))
    report = workdir / "report.json"
    proc = subprocess.run(
        [
            "node",
            str(workdir / "node_modules" / "mocha" / "bin" / "mocha"),
            "test-suite.js",
            "--reporter",
            "json",
            "--reporter-option",
            f"output={report}",
            # The suites race 300/200 ms heartbeats within a few milliseconds (e.g. a poll sent
            # 500 ms after the handshake must find the session closed): on a busy shared CPU one
            # late wake-up fails a test that passes otherwise. A real defect fails every try.
            "--retries",
            "2",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.exists(), f"mocha wrote no report ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return json.loads(report.read_text())


def _failure(test: dict) -> str:
    err = test.get("err") or {}
    return f"{test['fullTitle']}: {err.get('message', '?')}"


@pytest.fixture(scope="module")
def conformance_server():
    require(
        f"{SUITES_DIR} is not there (a checkout of shared/ beside the repo)", SUITES_DIR.is_dir()
    )
    require("node and npm are needed", bool(shutil.which("node") and shutil.which("npm")))
    command = [sys.executable, "-m", "tests.conformance.server"]
    with ServerProcess(command=command) as server:
        yield server


@pytest.mark.parametrize("suite", SUITES)
def test_official_suite(suite, conformance_server, tmp_path):
    report = run_suite(suite, conformance_server.port, tmp_path / suite)
    stats = report["stats"]
    failed = {t["fullTitle"] for t in report["failures"]}
    passed = {t["fullTitle"] for t in report["passes"]}
    expected = known_deviations()[suite]
    retried = [t["fullTitle"] for t in report["tests"] if t.get("currentRetry")]
    print(
        f"{suite}: {stats['passes']} passed, {stats['failures']} failed, "
        f"{stats['pending']} pending of {stats['tests']}; passed on a retry: {retried or 'none'}"
    )
    unexpected = [_failure(t) for t in report["failures"] if t["fullTitle"] not in expected]
    assert not unexpected, "failures not listed in docs/protocol.md:\n" + "\n".join(unexpected)
    fixed = sorted(expected & passed)
    assert not fixed, f"listed as known deviations but passing now: {fixed}"
    missing = sorted(expected - failed)
    assert not missing, f"known deviations the suite no longer has: {missing}"
    assert stats["pending"] == 0, "pending tests: " + ", ".join(
        t["fullTitle"] for t in report["pending"]
    )
    assert passed | failed == {t["fullTitle"] for t in report["tests"]}
    assert stats["tests"] > 20, "the suite ran suspiciously few tests"


def test_known_deviations_parser(tmp_path):
    doc = tmp_path / "protocol.md"
    doc.write_text(
        "# P\n\n## Known deviations\n\n| suite | test | library | why |\n|---|---|---|---|\n"
        "| `engine.io-protocol` | `A b c` | python-engineio | because |\n\n## Next\n"
        "| `engine.io-protocol` | `Not this` | x | y |\n"
    )
    assert known_deviations(doc) == {"socket.io-protocol": set(), "engine.io-protocol": {"A b c"}}

"""The transport's eventlet path, which the threading-mode unit tests never reach: the tests in
tests/transport/eventlet_mode, run in a process that eventlet has monkey-patched first."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_transport_tests_pass_under_eventlet():
    proc = subprocess.run(
        [sys.executable, "-m", "tests.support.under_eventlet", "tests/transport/eventlet_mode"]
        + ["-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 5, report  # they ran, not skipped away

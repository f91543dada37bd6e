"""`make` picks the newest Python 3.11-3.13 that runs, refuses others, and rebuilds a venv made by
another Python. Fake interpreters on PATH report the version each test needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def fake_python(path: Path, version: tuple[int, int] | None) -> Path:
    """A python that runs `-c CODE` as the real one would if it were `version`; None: a broken
    pyenv shim (it exists on PATH, but that version is not selected)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if version is None:
        path.write_text(
            '#!/bin/sh\necho "pyenv: $(basename $0): command not found" >&2\nexit 127\n'
        )
    else:
        code = f"import sys; sys.version_info = {(*version, 0, 'final', 0)!r}; exec(sys.argv[1])"
        path.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{code}" "$2"\n')
    path.chmod(0o755)
    return path


def make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run make in the repository with only the fake interpreters on PATH."""
    show = "show-python: ; @echo $(PYTHON) $(PYTHON_VERSION);"  # `;`: run by sh, echo built in
    return subprocess.run(
        [MAKE, "-s", "--no-print-directory", "-C", str(ROOT), "--eval", show, *args],
        env={"PATH": str(tmp_path / "bin"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_newest_supported_python_that_runs_is_picked(tmp_path):
    fake_python(tmp_path / "bin" / "python3.13", None)
    fake_python(tmp_path / "bin" / "python3.12", (3, 12))
    fake_python(tmp_path / "bin" / "python3.11", (3, 11))
    fake_python(tmp_path / "bin" / "python3", (3, 11))

    assert make(tmp_path, "show-python").stdout.split() == ["python3.12", "3.12"]


def test_python3_is_used_when_it_is_in_range(tmp_path):
    fake_python(tmp_path / "bin" / "python3", (3, 13))

    assert make(tmp_path, "show-python").stdout.split() == ["python3", "3.13"]


@pytest.mark.parametrize("version", [(3, 10), (3, 14)])
def test_other_versions_are_refused_with_a_clear_message(tmp_path, version):
    fake_python(tmp_path / "bin" / "python3", version)

    result = make(tmp_path, "python-check")
    assert result.returncode != 0
    assert f"Python 3.11, 3.12 or 3.13 is required: 'python3' is {version[0]}.{version[1]}" in (
        result.stderr
    )


def test_a_python_named_explicitly_is_checked_too(tmp_path):
    fake_python(tmp_path / "bin" / "python3.12", (3, 12))
    old = fake_python(tmp_path / "old" / "python", (3, 9))

    result = make(tmp_path, f"PYTHON={old}", "python-check")
    assert result.returncode != 0
    assert "is 3.9" in result.stderr


def venv_plan(tmp_path: Path, venv_version: tuple[int, int]) -> str:
    """What `make setup` would do (dry run) with a venv whose python is `venv_version`."""
    venv = tmp_path / "venv"
    fake_python(venv / "bin" / "python", venv_version)
    stamp = venv / ".installed"
    stamp.touch()
    # requirements*.txt must not look newer than the stamp
    newest = max(
        (ROOT / name).stat().st_mtime for name in ("requirements.txt", "requirements-dev.txt")
    )
    os.utime(stamp, (newest + 1, newest + 1))
    result = make(tmp_path, "-n", f"VENV={venv}", f"INSTALLED={stamp}", "NODE_INSTALLED=", "setup")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_venv_made_by_another_python_is_rebuilt(tmp_path):
    fake_python(tmp_path / "bin" / "python3.12", (3, 12))

    plan = venv_plan(tmp_path, (3, 11))
    assert "rm -rf" in plan and "python3.12 -m venv" in plan, plan


def test_a_venv_made_by_the_same_python_is_kept(tmp_path):
    fake_python(tmp_path / "bin" / "python3.12", (3, 12))

    plan = venv_plan(tmp_path, (3, 12))
    assert "-m venv" not in plan, plan

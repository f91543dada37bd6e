"""`python bench/profiled_app.py OUT`: app.py under cProfile; SIGUSR1 writes the profile to OUT.

The server ends with `os._exit` on SIGTERM (eiotransport/process.py), which a profiler's own
exit hook never sees: bench/cluster_fanout.py --profile sends SIGUSR1 first, then stops it.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    out = sys.argv.pop(1)
    profile = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: profile.dump_stats(out))
    sys.path.insert(0, str(ROOT))
    profile.enable()
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")


if __name__ == "__main__":
    main()

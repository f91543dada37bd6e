"""Tests of the transport under eventlet, in-process. They only run in a process that
eventlet has monkey-patched (tests/unit/test_eventlet_mode.py starts one); elsewhere they are
not collected."""

import sys

eventlet = sys.modules.get("eventlet")
if eventlet is None or not eventlet.patcher.is_monkey_patched("socket"):
    collect_ignore_glob = ["test_*.py"]

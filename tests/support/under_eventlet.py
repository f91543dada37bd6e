"""Run pytest with eventlet's monkey-patching applied first, as app.py's main() does:
`python -m tests.support.under_eventlet tests/transport/eventlet_mode -q`."""

import sys
import warnings

with warnings.catch_warnings():  # eventlet's deprecation notice, on import
    warnings.simplefilter("ignore", DeprecationWarning)
    import eventlet

eventlet.monkey_patch()

import pytest  # noqa: E402

if __name__ == "__main__":
    sys.exit(pytest.main(sys.argv[1:]))

# `make run` and `make test` set everything up on a fresh machine, then serve or test.
# Python 3.11 to 3.13: the newest `python3.1x` on PATH that runs (a pyenv shim of a version that
# is not selected exists but fails), else `python3`. PYTHON=... picks another; out of range, refused.
SUPPORTED_PYTHONS := python3.13 python3.12 python3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(firstword $(foreach p,$(SUPPORTED_PYTHONS) python3,\
	$(shell $(p) -c 'import sys; sys.exit(not (3, 11) <= sys.version_info < (3, 14))' \
	>/dev/null 2>&1 && echo $(p)))),python3)
endif
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
PORT ?= 4321
HOST ?= 127.0.0.1
export PORT HOST

.PHONY: setup run test lint typecheck format bench cluster clean python-check vendor

setup: $(INSTALLED) $(NODE_INSTALLED)

python-check:
	@case "$(PYTHON_VERSION)" in 3.11|3.12|3.13) ;; \
	*) echo "Python 3.11, 3.12 or 3.13 is required: '$(PYTHON)' is $(or $(PYTHON_VERSION),not found)." \
	     "Install one, or name it: make PYTHON=/path/to/python3.13 ..." >&2; exit 1;; esac

# A venv made by another Python (or none) is rebuilt.
VENV_VERSION := $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifneq ($(VENV_VERSION),$(PYTHON_VERSION))
.PHONY: $(INSTALLED)
endif

$(INSTALLED): requirements.txt requirements-dev.txt | python-check
	@if [ -e $(VENV) ] && [ "$(VENV_VERSION)" != "$(PYTHON_VERSION)" ]; then \
	  echo "$(VENV) is Python $(or $(VENV_VERSION),unknown), not $(PYTHON_VERSION): rebuilding it"; \
	  rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# socket.io-client for the tests' Node clients; the page's copy is vendored in static/vendor/.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# After a version change in package.json (`npm install`): copy the new build into static/vendor/.
vendor: $(NODE_INSTALLED)
	$(PY) deploy/vendor_client.py

run: $(INSTALLED)
	$(PY) app.py

# The type check first (a few seconds once cached): strict on the domain (pyproject.toml).
# TEST_WORKERS pytest-xdist workers (0: in this process). `--dist loadfile` keeps each file's
# tests on one worker, in order: a module's server (module-scoped fixture) starts once, and
# tests that follow on from the one before still do.
TEST_WORKERS ?= 2
test: setup typecheck
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

typecheck: setup
	$(VENV)/bin/mypy

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/run.py all

clean:
	rm -rf $(VENV) node_modules bench/node_modules .pytest_cache .mypy_cache

# NODES nodes (default 3) sharing Redis, behind nginx on PORT: see docs/scaling.md.
# REDIS_URL (default redis://127.0.0.1:6379/0) and DATABASE_URL come from the environment.
NODES ?= 3
cluster: setup
	$(PY) deploy/cluster.py --nodes $(NODES) --port $(PORT)

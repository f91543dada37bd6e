# `make run` and `make test` set everything up on a fresh machine, then serve or test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
NODE_INSTALLED := node_modules/.installed
PORT ?= 4321
HOST ?= 127.0.0.1
export PORT HOST

.PHONY: setup run test lint format bench cluster clean

setup: $(INSTALLED) $(NODE_INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The browser build of socket.io-client, served by the app from node_modules.
$(NODE_INSTALLED): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	$(PY) bench/run.py all

clean:
	rm -rf $(VENV) node_modules bench/node_modules .pytest_cache

# NODES nodes (default 3) sharing Redis, behind nginx on PORT: see docs/scaling.md.
# REDIS_URL (default redis://127.0.0.1:6379/0) and DATABASE_URL come from the environment.
NODES ?= 3
cluster: setup
	$(PY) deploy/cluster.py --nodes $(NODES) --port $(PORT)

# The two commands a newcomer needs: `make demo` and `make test`. Both run `make setup` first,
# which is idempotent and quick when nothing changed (stamp files track what is installed).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.hedger-installed
NODE_STAMP := node_modules/.hedger-installed
PYTEST_ARGS ?=

.PHONY: setup compile demo test lint bench clean

setup: $(PY_STAMP) $(NODE_STAMP) compile

$(PY):
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# --ignore-scripts: the platform's Anvil binary arrives as an optional dependency; no install script is needed.
$(NODE_STAMP): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

compile: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m hedger.cli compile

demo: setup
	$(PY) scripts/demo.py

test: setup
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(PY_STAMP)
	$(PY) -m ruff check hedger tests scripts bench
	$(PY) -m ruff format --check hedger tests scripts bench

clean:
	rm -rf build .pytest_cache .ruff_cache

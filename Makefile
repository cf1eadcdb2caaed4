# The two commands a newcomer needs: `make demo` and `make test`. Both run `make setup` first,
# which is idempotent and quick when nothing changed (stamp files track what is installed).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.hedger-installed
NODE_STAMP := node_modules/.hedger-installed
PYTEST_ARGS ?=

.PHONY: setup setup-brownie compile demo test lint bench clean

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

# brownie (eth-brownie pins ~70 exact versions) gets a virtualenv of its own, with hedger installed
# in it, plus a solc shim and Anvil on its PATH (tools/brownie_env.py). The shim's stamp is in build/,
# so `make clean` (which removes the shim) also makes the next run put it back.
BROWNIE_VENV  := .venv-brownie
BROWNIE_PY    := $(BROWNIE_VENV)/bin/python
BROWNIE_STAMP := $(BROWNIE_VENV)/.hedger-installed
BROWNIE_ENV_STAMP := build/solcx/.hedger-installed

setup-brownie: $(BROWNIE_STAMP) $(BROWNIE_ENV_STAMP)

$(BROWNIE_PY):
	$(PYTHON) -m venv $(BROWNIE_VENV)

$(BROWNIE_STAMP): pyproject.toml | $(BROWNIE_PY)
	$(BROWNIE_PY) -m pip install --quiet --upgrade pip
	$(BROWNIE_PY) -m pip install --quiet -e ".[brownie]"
	touch $@

$(BROWNIE_ENV_STAMP): $(BROWNIE_STAMP) $(NODE_STAMP) tools/brownie_env.py brownie-config.yaml package-lock.json
	$(BROWNIE_PY) tools/brownie_env.py
	touch $@

compile: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m hedger.cli compile

demo: setup
	$(PY) scripts/demo.py

test: setup setup-brownie
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

lint: $(PY_STAMP)
	$(PY) -m ruff check hedger tests scripts bench
	$(PY) -m ruff format --check hedger tests scripts bench

clean:
	rm -rf build .pytest_cache .ruff_cache

bench: setup
	for script in bench/*.py; do $(PY) $$script || exit 1; done

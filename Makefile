# The two commands a newcomer needs: `make demo` and `make test`. Both run `make setup` first,
# which is idempotent and quick when nothing changed (stamp files track what is installed).
#
# Python comes from the locks requirements-dev.txt and requirements-brownie.txt (exact versions, with
# hashes, installed with --require-hashes --no-deps); Node from package-lock.json (npm ci). `make lock` refreshes the
# Python locks from pyproject.toml; see README.md, "Upgrading dependencies".

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PY_STAMP   := $(VENV)/.hedger-installed
NODE_STAMP := node_modules/.hedger-installed
PYTEST_ARGS ?=
# One place for the lock tool's target: the interpreter line and platform the locks are made for.
# UPGRADE=--upgrade (everything) or UPGRADE="--upgrade-package NAME" moves pins; without it pins that
# still fit pyproject.toml are kept.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 --quiet $(UPGRADE)

.PHONY: setup setup-brownie setup-browser dashboard-assets compile demo test test-fast test-integration test-ganache lint typecheck lock bench clean setup-postgres

setup: $(PY_STAMP) $(NODE_STAMP) compile dashboard-assets

# The dashboard's chart library (uPlot, MIT) from node_modules into the package: served from there, no CDN.
DASH_VENDOR := hedger/app/dashboard/static/vendor
DASH_ASSETS := $(DASH_VENDOR)/uPlot.iife.min.js $(DASH_VENDOR)/uPlot.min.css $(DASH_VENDOR)/uPlot.LICENSE

dashboard-assets: $(DASH_ASSETS)

$(DASH_VENDOR)/uPlot.%: $(NODE_STAMP)
	mkdir -p $(DASH_VENDOR)
	cp node_modules/uplot/dist/uPlot.$* $@

$(DASH_VENDOR)/uPlot.LICENSE: $(NODE_STAMP)
	mkdir -p $(DASH_VENDOR)
	cp node_modules/uplot/LICENSE $@

$(PY):
	$(PYTHON) -m venv $(VENV)

# Installs exactly the lock, then hedger itself (editable, no dependency resolution).
$(PY_STAMP): requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# --ignore-scripts: the platform's Anvil binary arrives as an optional dependency, Ganache as a bundle;
# no install script is needed.
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

$(BROWNIE_STAMP): requirements-brownie.txt pyproject.toml | $(BROWNIE_PY)
	$(BROWNIE_PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-brownie.txt
	$(BROWNIE_PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(BROWNIE_ENV_STAMP): $(BROWNIE_STAMP) $(NODE_STAMP) tools/brownie_env.py brownie-config.yaml package-lock.json
	$(BROWNIE_PY) tools/brownie_env.py
	touch $@

# A real Chromium for the dashboard's browser tests (Debian's package; Playwright drives it, tests/browser/).
# Debian's PostgreSQL, the fallback server for the fleet tests when the pgserver wheel (the default,
# installed by `make setup`) cannot start; HEDGER_TEST_POSTGRES=debian asks for it (tests/support/postgres.py).
setup-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

setup-browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

compile: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m hedger.app.cli compile

demo: setup
	$(PY) scripts/demo.py

# The README's test command: everything, set-up included.
test: setup setup-brownie setup-browser
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# The inner loop: unit and property tests not marked slow; no chain, no set-up beyond the venv.
test-fast: $(PY_STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" tests/unit tests/property $(PYTEST_ARGS)

test-integration: setup setup-brownie
	$(PY) -m pytest -n 2 tests/integration $(PYTEST_ARGS)

# The integration suite on Ganache instead of Anvil (docs/nodes.md); tests marked anvil_only are skipped.
# The long tests shorter than in CI (tests/support/sizes.py) unless the environment says otherwise: their
# full sizes run on Anvil in `make test`. Left out (not skipped: they do not depend on the node, and run
# on Anvil in `make test`): the fleet's PostgreSQL lease tests, hedger's own HTTP client against hanging
# proxies, the CLI's import budget, the dashboard's server rules, and the backtests.
GANACHE_SIZES := HEDGER_TEST_OUTAGE_S=$${HEDGER_TEST_OUTAGE_S:-6}
NODE_AGNOSTIC := -m "not postgres" $(foreach f,test_rpc_timeouts test_cli_light_imports test_dashboard_server \
	test_dask_sweep test_plan_engine_parity test_compiler,--ignore=tests/integration/$(f).py)

test-ganache: setup
	$(GANACHE_SIZES) $(PY) -m pytest -n 2 --node ganache $(NODE_AGNOSTIC) tests/integration $(PYTEST_ARGS)

lint: $(PY_STAMP) $(NODE_STAMP)
	$(PY) -m ruff check hedger tests scripts bench tools
	$(PY) -m ruff format --check hedger tests scripts bench tools
	npx --no-install solhint --max-warnings 0 'contracts/**/*.sol'

typecheck: $(PY_STAMP)
	$(PY) -m mypy

# Refresh the locks from pyproject.toml (and requirements-build.in). Commit the result.
lock: $(PY_STAMP)
	$(PY) -m uv pip compile pyproject.toml requirements-build.in --extra dev $(LOCK_FLAGS) -o requirements-dev.txt
	$(PY) -m uv pip compile pyproject.toml requirements-build.in --extra brownie $(LOCK_FLAGS) -o requirements-brownie.txt
	$(PY) -m uv pip compile pyproject.toml -c requirements-dev.txt $(LOCK_FLAGS) -o requirements.txt

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache

bench: setup setup-browser
	for script in bench/*.py; do $(PY) $$script || exit 1; done

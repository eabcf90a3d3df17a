# The two commands that matter: `make run` (everything up on this machine) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# pyproject.toml, and the C extensions it builds (a change to their source rebuilds them)
NATIVE := setup.py edges/core/native/fastbook.c venues/live/native/fastfeed.c venues/live/native/l2book.c
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml $(NATIVE) | cksum | cut -d' ' -f1)

# Tests use the machine's real PostgreSQL and Redis (never SQLite, never an in-memory layer).
TEST_DATABASE_URL ?= postgres://sequence_test@127.0.0.1:5432/sequence_test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/9
PYTEST_ARGS       ?=

.PHONY: run test test-busy lint fmt bench bench-peers venv services migrate seed clean browser sandbox screenshots

$(STAMP): pyproject.toml $(NATIVE)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Browser libraries (chart.js, ...) from the npm registry into node_modules/, served as
# /static/vendor/<package>/... (settings.STATICFILES_DIRS). Pinned by package-lock.json; skipped
# when there is no package.json.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json 2>/dev/null | cksum | cut -d' ' -f1)

$(NODE_STAMP): $(wildcard package.json package-lock.json)
	@if [ -f package.json ]; then \
		command -v npm >/dev/null || { echo "npm is required to install package.json's browser libraries" >&2; exit 1; }; \
		if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi; \
		rm -f node_modules/.installed-*; touch $@; \
	fi

venv: $(STAMP) $(NODE_STAMP)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; its own browser
# download does not work here). Fails loudly when it cannot be installed: the browser tests never skip.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@command -v chromium >/dev/null || { echo "chromium is not installed and could not be installed" >&2; exit 1; }

.env:
	$(PYTHON) scripts/make_env.py .env

services:
	@scripts/ensure_services.sh

# The hosted-strategy sandbox: Debian's bubblewrap (installed when missing) and the Python 3.12
# image built from the machine's CPython 3.12 (pyenv's, or python3.12 on PATH). Fails loudly when
# either is impossible, unless .env says SEQUENCE_STRATEGY_SANDBOX=none.
sandbox: venv .env
	@command -v bwrap >/dev/null || grep -qs '^SEQUENCE_STRATEGY_SANDBOX=none' .env || \
		(apt-get update -qq && apt-get install -y -qq bubblewrap)
	$(BIN)/python manage.py strategy_sandbox

run: venv .env sandbox
	@$(PYTHON) scripts/make_env.py .env  # adds settings an older .env lacks (the embedded Redis's password)
	$(BIN)/python -m sequence_site.devrun

test: venv .env services browser sandbox
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CHANNEL_LAYER_PREFIX=sequence-test \
		$(BIN)/pytest $(PYTEST_ARGS)

# The whole suite (or PYTEST_ARGS) with BUSY_LOOPS CPU-bound loops beside it for its duration: how a
# loaded CI machine or a laptop runs it (docs/testing.md). The loops are started here and stopped by
# their process ids when the suite ends, fails or is interrupted; `timeout` bounds them anyway. The
# exit code is the suite's.
BUSY_LOOPS   ?= 2
BUSY_SECONDS ?= 3600
test-busy: venv .env services browser sandbox
	@pids=""; \
	for i in $$(seq $(BUSY_LOOPS)); do timeout $(BUSY_SECONDS) sh -c 'while :; do :; done' & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null; wait $$pids 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "test-busy: $(BUSY_LOOPS) busy loops (pids$$pids) beside the suite"; \
	$(MAKE) --no-print-directory test

# ruff, then mypy (pyproject.toml's [tool.mypy]: strict on the packages without Django). The django-stubs
# plugin loads settings, hence .env. CI (.ci/run) runs this before `make test`.
lint: venv .env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv .env
	@set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

# Sequence's replay against its peers (bench/peers/run.py): hftbacktest, NautilusTrader, a plain
# Python loop and the same loop under numba, same day, same market maker, interleaved rounds. Not part
# of `make test`: each peer gets its own virtual environment from the package registry under
# var/bench-peers/ (hftbacktest and numba on this Python 3.11, NautilusTrader on Python 3.12).
PEERS_HBT    := var/bench-peers/venv-hftbacktest
PEERS_NAUT   := var/bench-peers/venv-nautilus
# The machine's CPython 3.12, found as the strategy sandbox finds it (PATH without pyenv shims, pyenv).
PYTHON312    ?= $(shell $(PYTHON) -c 'from strategies.runner.image import find_python312 as f; print(f() or "")')
PEERS_ROUNDS ?= 3
PEERS_ARGS   ?=  # more bench/peers/run.py options, e.g. --sequence-before /path/to/older/checkout

$(PEERS_HBT)/.installed: bench/peers/requirements-hftbacktest.txt
	rm -rf $(PEERS_HBT)
	$(PYTHON) -m venv $(PEERS_HBT)
	$(PEERS_HBT)/bin/python -m pip install -q -r $<
	@touch $@

$(PEERS_NAUT)/.installed: bench/peers/requirements-nautilus.txt
	@test -n "$(PYTHON312)" || { echo "NautilusTrader needs Python 3.12: make bench-peers PYTHON312=/path/to/python3.12" >&2; exit 1; }
	rm -rf $(PEERS_NAUT)
	$(PYTHON312) -m venv $(PEERS_NAUT)
	$(PEERS_NAUT)/bin/python -m pip install -q -r $<
	@touch $@

bench-peers: venv .env $(PEERS_HBT)/.installed $(PEERS_NAUT)/.installed
	$(BIN)/python bench/peers/run.py --rounds $(PEERS_ROUNDS) $(PEERS_ARGS) \
		--hftbacktest-python $(PEERS_HBT)/bin/python --nautilus-python $(PEERS_NAUT)/bin/python

migrate: venv .env
	$(BIN)/python manage.py migrate

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# Screenshots of the main pages into docs/screenshots/ (shown in the README): the phone-viewport
# browser test drives real Chromium (/usr/bin/chromium) over demo data and saves the desktop views.
screenshots: venv .env services browser
	mkdir -p docs/screenshots
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CHANNEL_LAYER_PREFIX=sequence-test \
		SEQUENCE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/browser/test_pages.py -q

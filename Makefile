# The two commands that matter: `make run` (everything up on this machine) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# Tests use the machine's real PostgreSQL and Redis (never SQLite, never an in-memory layer).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/sequence
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/9
PYTEST_ARGS       ?=

.PHONY: run test lint fmt bench venv services migrate seed clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)

.env:
	$(PYTHON) scripts/make_env.py .env

services:
	@scripts/ensure_services.sh

run: venv .env
	$(BIN)/python -m sequence_site.devrun

test: venv .env services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CHANNEL_LAYER_PREFIX=sequence-test \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv .env
	@set -e; for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script; done

migrate: venv .env
	$(BIN)/python manage.py migrate

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

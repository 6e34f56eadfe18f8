# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
export FLASK_APP := server
# the suite in two processes (pytest-xdist): these machines have two cores, and one process
# takes about 15 minutes where two take about 12; `make test PYTEST_ARGS=` runs it in one
PYTEST_ARGS ?= -n 2

.PHONY: install run test lint check freeze clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

## run: install, migrate the database, load demo data into an empty one, start web + worker
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo --if-empty
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start

## test: the whole suite, on SQLite and (when reachable) PostgreSQL
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff, formatting and mypy (strict)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

## freeze: refresh constraints.txt from the current virtualenv (after changing dependencies)
freeze:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs tracereplay and the local model, records demo traces,
#               starts the server (replay works with no API key)
#   make test   installs the dev extras, runs ruff, mypy and the whole suite (SQLite + PostgreSQL)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install install-dev demo serve test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The local model extra builds llama-cpp-python from source once (pip caches the wheel).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[local]'
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,local]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/tracereplay demo
	$(BIN)/tracereplay serve

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python bench/ingest.py

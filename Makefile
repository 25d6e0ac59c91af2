# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs tracereplay and the local model, records demo traces,
#               starts the server (replay works with no API key)
#   make test   installs the dev extras and chromium, runs ruff, mypy and the whole suite
#               (SQLite + PostgreSQL + Redis, the dashboard in a real browser)
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
# The SDK's own venv for its tests: the SDK alone, as a user's app installs it, with `openai`
# and two instrumentation libraries (tests/test_sdk.py runs an app there).
SDK_VENV ?= .venv-sdk
SDK_SOURCES = sdk/pyproject.toml $(wildcard sdk/src/tracereplay_sdk/*.py)

.PHONY: install install-dev sdk-venv demo serve test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The local model extra needs llama-cpp-python, which PyPI has only as source: it is built once
# per machine into LLAMA_WHEELS (5 to 7 minutes on 2 cores) and installed from there. The
# build targets AVX2 rather than the building CPU: a native build uses AMX tile instructions on
# CPUs that have them, and hosts that do not enable AMX for guests kill it with SIGILL.
LLAMA_CMAKE_ARGS = -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS ?= $(HOME)/.cache/tracereplay/llama-wheels-avx2
# The constraint pins llama-cpp-python to the version built, so a newer release on PyPI is
# not compiled again at every install (delete LLAMA_WHEELS to move to it).
PIP_INSTALL = CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install -q \
	--find-links $(LLAMA_WHEELS) --constraint $(LLAMA_WHEELS)/constraints.txt

$(LLAMA_WHEELS)/constraints.txt: | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
		-w $(LLAMA_WHEELS) 'llama-cpp-python>=0.3'
	cd $(LLAMA_WHEELS) && ls llama_cpp_python-*.whl | sort -V | tail -1 \
		| sed -E 's/^llama_cpp_python-([^-]+)-.*/llama-cpp-python==\1/' > constraints.txt

# The second install swaps in that build where a venv already had another one.
# The server renders prompts with the SDK's template module: both are installed from here.
$(VENV)/.installed: $(BIN)/python pyproject.toml sdk/pyproject.toml $(LLAMA_WHEELS)/constraints.txt
	$(PIP_INSTALL) -e ./sdk -e '.[local]'
	$(PIP_INSTALL) --no-index --no-deps --force-reinstall llama-cpp-python
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml sdk/pyproject.toml $(LLAMA_WHEELS)/constraints.txt
	$(PIP_INSTALL) -e ./sdk -e '.[dev,local]'
	$(PIP_INSTALL) --no-index --no-deps --force-reinstall llama-cpp-python
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

$(SDK_VENV)/.installed: $(SDK_SOURCES)
	$(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install -q --upgrade pip
	$(SDK_VENV)/bin/python -m pip install -q ./sdk 'openai>=1.40' 'openinference-instrumentation-openai>=0.1.60' \
		'opentelemetry-instrumentation-openai-v2==2.3b0' 'wrapt<2'
	$(SDK_VENV)/bin/python -m pip install -q --no-deps --force-reinstall ./sdk
	touch $@

sdk-venv: $(SDK_VENV)/.installed

demo: install
	$(BIN)/tracereplay demo
	$(BIN)/tracereplay serve

lint: install-dev
	$(BIN)/ruff check src sdk tests bench scripts
	$(BIN)/ruff format --check src sdk tests bench scripts
	$(BIN)/mypy

# The dashboard's browser tests drive Debian's chromium through Playwright (never Playwright's
# own browser download, which cannot work offline).
CHROMIUM ?= /usr/bin/chromium
$(CHROMIUM):
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)

test: lint sdk-venv $(CHROMIUM)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: install-dev
	$(BIN)/python bench/ingest.py

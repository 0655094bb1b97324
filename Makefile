# Set-up and every job goes through this file; each target installs what it needs.
#   make demo   - the main job against the embedded paper exchange (no keys needed)
#   make test   - ruff, mypy and the whole test suite (plus loop tests on the oldest/newest Python)
#   make lab    - JupyterLab on notebooks/ with the project's environment and kernel
#   make bench  - the benchmark table (bench/RESULTS.md)
#   make reliability - the full-size reliability campaign (RELIABILITY.md)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYENV_ROOT ?= $(HOME)/.pyenv
# The oldest and newest supported Pythons, for the session/event-loop tests.
PY_OLDEST ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.10.*/bin/python)))
PY_NEWEST ?= $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/3.13.*/bin/python)))

.PHONY: demo lab test lint pytest loop-matrix browser-deps bench reliability clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check 'uv>=0.5'
	$(UV) pip install -q -p $(PY) -e '.[dev]'
	$(PY) -m toolkit.notebook._kernel >/dev/null  # the `toolkit` kernel, on IPC sockets (toolkit/notebook/_kernel.py)
	touch $@

demo: $(VENV)/.installed
	$(PY) -m toolkit demo

# JupyterLab from the project's venv (the `lab` extra, part of `dev`), opened on notebooks/;
# the notebooks pick the `toolkit` kernel that .installed registers. As root (containers, CI
# machines) JupyterLab needs --allow-root. LAB_ARGS passes more options (e.g. --no-browser).
LAB_ARGS ?=
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check toolkit tests bench
	$(VENV)/bin/ruff format --check tests
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --explicit-package-bases tests

browser-deps: $(VENV)/.installed
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "could not install chromium (apt-get); the browser test needs /usr/bin/chromium"; exit 1; }; \
	fi

# Three workers on two cores: most tests wait on sockets, kernels and subprocesses, not the CPU.
PYTEST_WORKERS ?= 3

pytest: $(VENV)/.installed browser-deps
	$(PY) -m pytest -n $(PYTEST_WORKERS)

loop-matrix: $(VENV)/.installed
	@for py in "$(PY_OLDEST)" "$(PY_NEWEST)"; do \
	  if [ -z "$$py" ]; then echo "missing Python 3.10 or 3.13 under $(PYENV_ROOT)/versions"; exit 1; fi; \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  env=.venv-$$v; \
	  if [ ! -f $$env/.installed ] || [ pyproject.toml -nt $$env/.installed ]; then \
	    $(UV) venv -q --clear -p $$py $$env && $(UV) pip install -q -p $$env/bin/python -e '.[test]' && touch $$env/.installed || exit 1; \
	  fi; \
	done
	@# both Pythons at once (the loop tests mostly wait on sockets); each one's output in turn
	@logs=$$(mktemp -d); pids=""; \
	for py in "$(PY_OLDEST)" "$(PY_NEWEST)"; do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  .venv-$$v/bin/python -m pytest -m loop -q -p no:cacheprovider -n 2 > $$logs/$$v.log 2>&1 & \
	  pids="$$pids $$v:$$!"; \
	done; \
	rc=0; for pv in $$pids; do \
	  v=$${pv%%:*}; wait $${pv#*:} || rc=1; \
	  echo "== loop tests on Python $$v"; cat $$logs/$$v.log; \
	done; \
	rm -rf $$logs; exit $$rc

test: lint pytest loop-matrix

bench: $(VENV)/.installed
	$(PY) -m bench

reliability: $(VENV)/.installed
	$(PY) -m bench.reliability --full

clean:
	rm -rf $(VENV) .venv-3.* .mypy_cache .ruff_cache .pytest_cache

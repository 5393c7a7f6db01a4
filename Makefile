# The two commands of the README's quick start are `make demo` and `make test`; both bootstrap
# everything they need on a fresh Debian machine with Python 3.11 (a .venv, npm assets, chromium).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENDOR := src/watchkeeper/dashboard/static/vendor

.PHONY: demo test check bench assets system-deps clean

$(VENV)/.stamp-dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-dev
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# uPlot and htmx come pinned from the npm registry (package-lock.json) and are copied into the
# package; they are never committed.
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	touch $@

assets: $(VENDOR)/.stamp

system-deps:
	sh scripts/system-deps.sh

demo: $(VENV)/.stamp-dev assets
	$(VENV)/bin/watchkeeper demo

test: $(VENV)/.stamp-dev assets system-deps
	$(PY) -m pytest

check: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/.stamp-bench assets
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .pytest_cache .mypy_cache .ruff_cache

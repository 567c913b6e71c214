# The two commands: `make run` (Airflow standalone on the embedded defaults)
# and `make test` (the whole suite).  Everything else here is what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST := $(PY) -m pytest

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PIPELINE_DATA_DIR ?= $(CURDIR)/.data
export PIPELINE_FACTORY_CONFIG ?= $(CURDIR)/config

.PHONY: help venv run test test-fast test-integration test-e2e lint validate schema constraints \
	system-deps services services-stop bench-deps bench-parse clean

help:
	@echo "make run              set up and start Airflow 3 standalone with the project's DAGs (UI on :8080)"
	@echo "make test             set up and run the whole test suite (unit, integration, e2e)"
	@echo "make test-fast        unit tests only (no servers, no Airflow database)"
	@echo "make test-integration unit + integration tiers (real servers, dag.test())"
	@echo "make test-e2e         the real-scheduler tier alone"
	@echo "make validate         check every spec in config/pipelines/"
	@echo "make lint             ruff"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

# Debian packages the servers and tests need (Java for Neo4j is on the machine).
system-deps:
	@need=""; \
	for pkg in $(SYSTEM_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || need="$$need $$pkg"; done; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

SYSTEM_PACKAGES ?= curl postgresql redis-server

run: venv system-deps services
	scripts/run-standalone.sh "$(MAKE) --no-print-directory services-stop"

test: venv system-deps
	$(PYTEST) --timeout 900

test-fast: venv
	$(PYTEST) -m "not integration and not e2e" --timeout 300

test-integration: venv system-deps
	$(PYTEST) -m "not e2e" --timeout 900

test-e2e: venv system-deps
	$(PYTEST) -m e2e --timeout 900

lint: venv
	$(VENV)/bin/ruff check include dags plugins tests bench

validate: venv
	$(PY) -m pipeline_factory validate

schema: venv
	$(PY) -m pipeline_factory schema

constraints: venv
	$(PIP) freeze --exclude-editable | grep -v '^-e' > constraints.txt

# Services `make run` starts beside Airflow (each section below adds its own).
services:
services-stop:

bench-deps: venv
	$(PIP) install --quiet --no-deps --target $(CURDIR)/.cache/bench-site -r bench/requirements.txt

bench-parse: bench-deps
	$(PY) bench/parse.py

clean:
	rm -rf $(AIRFLOW_HOME) $(PIPELINE_DATA_DIR) .pytest_cache

# --- Deployment files and the Pipelines view (docs/deploy.md) -------------------
# Debian's Chromium for the browser test of the Pipelines view; `make test` and
# `make test-e2e` pull it in through the extra prerequisite below.
BROWSER_PACKAGES ?= chromium chromium-driver

.PHONY: browser-deps compose-validate test-ui

browser-deps:
	@need=""; \
	for pkg in $(BROWSER_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || need="$$need $$pkg"; done; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

test test-e2e: browser-deps

# The offline checks of Dockerfile, docker-compose.yaml, Helm values and RBAC.
compose-validate: venv
	$(PYTEST) -q tests/unit/deploy

# The view's unit tests, then the real api-server and headless Chromium.
test-ui: venv browser-deps
	$(PYTEST) -q tests/unit/ui tests/e2e/test_ui_view.py --timeout 300

# The two commands: `make run` (Airflow standalone on the embedded defaults)
# and `make test` (the whole suite).  Everything else here is what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
UV := $(VENV)/bin/uv
PYTEST := $(PY) -m pytest

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PIPELINE_DATA_DIR ?= $(CURDIR)/.data
export PIPELINE_FACTORY_CONFIG ?= $(CURDIR)/config

.PHONY: help venv setup neo4j-build run test test-fast test-integration test-e2e lint typecheck check validate schema constraints \
	system-deps services services-stop bench-deps bench-parse clean

help:
	@echo "make run              set up and start Airflow 3 standalone with the project's DAGs (UI on :8080)"
	@echo "make run EXECUTOR=celery  the same with the CeleryExecutor: Postgres, Redis, two workers"
	@echo "make run LINEAGE=local    the same, every task's OpenLineage events to a local receiver (docs/lineage.md)"
	@echo "make test             set up and run the whole test suite (unit, integration, e2e)"
	@echo "make test-fast        unit tests only (no servers, no Airflow database)"
	@echo "make test-integration unit + integration tiers (real servers, dag.test())"
	@echo "make test-e2e         the real-scheduler tier alone"
	@echo "make validate         check every spec in config/pipelines/"
	@echo "make lint             ruff"
	@echo "make typecheck        mypy (strict on spec/ and factory/; config in pyproject.toml)"
	@echo "make check            lint + typecheck (the first step of make test)"

venv: $(VENV)/.installed

# uv (pinned in requirements.txt) installs the pinned set: parallel downloads with
# a progress bar on a terminal, a summary line otherwise; constraints.txt is the lock.
$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@echo "==> Python environment in $(VENV): requirements.txt locked by constraints.txt"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(PIP) install --quiet --disable-pip-version-check "$$(grep -E '^uv==' requirements.txt)"
	$(UV) pip install --python $(PY) -r requirements.txt
	$(UV) pip install --python $(PY) --no-deps -e .
	@touch $@

# What `make run` prepares before it starts anything: the venv and the Neo4j
# launcher (jars from Maven Central, cached in .cache/m2) need nothing from each
# other, so both run at once.  The launcher's imports are the standard library's.
setup:
	@$(MAKE) --no-print-directory -j2 venv neo4j-build

neo4j-build:
	@PYTHONPATH=$(CURDIR)/include $(PYTHON) -m pipeline_factory.devservers.neo4j build

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

# EXECUTOR=celery: Postgres, Redis and two Celery workers instead of standalone (README).
EXECUTOR ?= local

# The services (Neo4j, MLflow, the stand-ins) start side by side: each waits for its own port.
run: setup system-deps
	@$(MAKE) --no-print-directory -j4 services
ifeq ($(EXECUTOR),celery)
	scripts/run-celery.sh "$(MAKE) --no-print-directory services-stop"
else
	scripts/run-standalone.sh "$(MAKE) --no-print-directory services-stop"
endif

# Lint and type checks first: a finding fails `make test` (and so CI) before any test runs.
test: setup system-deps check
	$(PYTEST) --timeout 900

test-fast: venv
	$(PYTEST) -m "not integration and not e2e" --timeout 300

test-integration: venv system-deps
	$(PYTEST) -m "not e2e" --timeout 900

test-e2e: venv system-deps
	$(PYTEST) -m e2e --timeout 900

lint: venv
	$(VENV)/bin/ruff check include dags plugins tests bench

typecheck: venv
	$(VENV)/bin/mypy

check: lint typecheck

validate: venv
	$(PY) -m pipeline_factory validate

schema: venv
	$(PY) -m pipeline_factory schema
	$(PY) -m pipeline_factory docs

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
	$(PYTEST) -q tests/unit/ui tests/e2e/test_ui_view.py tests/e2e/test_ui_access.py --timeout 400

# --- GraphRAG: embedded Neo4j and the E-utilities stand-in (docs/graphrag.md) ----
# `make run` starts both beside Airflow and points the pipelines at them.  For
# the real NCBI: make run NCBI_EUTILS_URL=https://eutils.ncbi.nlm.nih.gov/entrez/eutils \
#                        NCBI_EMAIL=you@example.org NCBI_API_KEY=...
NEO4J_PORT ?= 7687
EUTILS_PORT ?= 8765
export NEO4J_URI ?= bolt://127.0.0.1:$(NEO4J_PORT)
export NCBI_EUTILS_URL ?= http://127.0.0.1:$(EUTILS_PORT)/entrez/eutils

.PHONY: neo4j-start neo4j-stop eutils-start eutils-stop

services: neo4j-start eutils-start
services-stop: neo4j-stop eutils-stop

# Every stand-in is started and stopped one way: `python -m pipeline_factory.devservers
# start|stop|status NAME` (pid and log in $(PIPELINE_DATA_DIR)/NAME/), as the test fixtures do.
DEVSERVERS := $(PY) -m pipeline_factory.devservers

neo4j-start: venv
	$(DEVSERVERS) start neo4j --port $(NEO4J_PORT)

neo4j-stop:
	-$(DEVSERVERS) stop neo4j

eutils-start: venv
	$(DEVSERVERS) start eutils --port $(EUTILS_PORT)

eutils-stop:
	-$(DEVSERVERS) stop eutils

# --- MLflow UI for the model-training pipeline (docs/training.md) ----------------
# `mlflow server` on the embedded store the stages write when no tracking URI is
# set: SQLite $(PIPELINE_DATA_DIR)/mlflow/mlflow.db, artifacts beside it.  The pid
# file is $(PIPELINE_DATA_DIR)/mlflow/server.pid.  `ml-sample-data` seeds the
# first three batches of the example dataset (no-op when batches are there).
MLFLOW_PORT ?= 5000

.PHONY: mlflow-start mlflow-stop ml-sample-data

mlflow-start: venv
	$(DEVSERVERS) start mlflow --port $(MLFLOW_PORT)
	@echo "MLflow UI: http://localhost:$(MLFLOW_PORT)"

mlflow-stop:
	-$(DEVSERVERS) stop mlflow

ml-sample-data: venv
	$(PY) -m pipeline_factory.stages.ml.sample_data --out $(PIPELINE_DATA_DIR)/ml/incoming/breast_cancer \
		--batches 1-3 --if-empty

# --- Local mail sink: smtp_default for `make run` ----------------------------------
# Every notification lands as an .eml file in $(PIPELINE_DATA_DIR)/mail instead of
# failing for want of a relay.  Point AIRFLOW_CONN_SMTP_DEFAULT at a real relay to send.
MAIL_PORT ?= 2525
export AIRFLOW_CONN_SMTP_DEFAULT ?= {"conn_type": "smtp", "host": "127.0.0.1", "port": $(MAIL_PORT), "extra": {"disable_tls": true, "disable_ssl": true, "from_email": "pipelines@localhost"}}

.PHONY: mail-start mail-stop

services: mlflow-start ml-sample-data mail-start
services-stop: mlflow-stop mail-stop

mail-start: venv
	$(DEVSERVERS) start mail --port $(MAIL_PORT)

mail-stop:
	-$(DEVSERVERS) stop mail

# --- Lineage: OpenLineage events from every task (docs/lineage.md) ----------------
# Off unless configured.  One setting turns it on:
#   make run OPENLINEAGE_URL=http://marquez:5000   # Marquez or any OpenLineage backend (HTTP)
#   make run LINEAGE=local                          # the local receiver: events in $(PIPELINE_DATA_DIR)/lineage/
# File or console transport instead: AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "console"}'.
export OPENLINEAGE_NAMESPACE ?= pipeline-factory
LINEAGE ?= off
LINEAGE_PORT ?= 5050
LINEAGE_PID := $(PIPELINE_DATA_DIR)/lineage/receiver.pid
ifeq ($(LINEAGE),local)
export OPENLINEAGE_URL ?= http://127.0.0.1:$(LINEAGE_PORT)
services: lineage-start
endif
services-stop: lineage-stop

.PHONY: lineage-start lineage-stop

lineage-start: venv
	@mkdir -p $(dir $(LINEAGE_PID))
	@if [ -f $(LINEAGE_PID) ] && kill -0 $$(cat $(LINEAGE_PID)) 2>/dev/null; then \
		echo "OpenLineage receiver already running (pid $$(cat $(LINEAGE_PID)))"; \
	else \
		nohup $(PY) -m pipeline_factory.devservers.lineage_receiver --port $(LINEAGE_PORT) \
			--out $(dir $(LINEAGE_PID))events.jsonl > $(dir $(LINEAGE_PID))receiver.log 2>&1 & \
		echo $$! > $(LINEAGE_PID); \
		echo "OpenLineage receiver on http://127.0.0.1:$(LINEAGE_PORT), events in $(dir $(LINEAGE_PID))events.jsonl"; \
	fi

lineage-stop:
	@if [ -f $(LINEAGE_PID) ]; then kill $$(cat $(LINEAGE_PID)) 2>/dev/null || true; rm -f $(LINEAGE_PID); fi

# --- The docker runtime profile through podman (docs/deploy.md) --------------------
# No Docker engine here: Debian's podman serves the Docker API the Docker provider
# talks to (runc, host networking).  No registry either: the stage-runner test image
# is a Debian 12 root filesystem made with debootstrap (python3 and the libraries
# the project's venv needs; the venv itself is mounted read-only), imported with
# `podman import`.  Built once into .cache/ (about 2 minutes, from the Debian mirror).
CONTAINER_PACKAGES ?= podman runc debootstrap
STAGE_RUNNER_ROOTFS := $(CURDIR)/.cache/stage-runner/rootfs.tar
DEBIAN_MIRROR ?= http://deb.debian.org/debian

.PHONY: container-deps stage-runner-rootfs

container-deps:
	@need=""; \
	for pkg in $(CONTAINER_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || need="$$need $$pkg"; done; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$need >/dev/null; \
	fi

stage-runner-rootfs: $(STAGE_RUNNER_ROOTFS)

# /root is opened to the stage user (uid 1000): a venv made from a pyenv Python
# points at an interpreter under /root, mounted there read-only.
$(STAGE_RUNNER_ROOTFS): | container-deps
	@mkdir -p $(dir $@)
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); tmp=$$(mktemp -d); \
	$$SUDO debootstrap --variant=minbase --include=python3 bookworm $$tmp/rootfs $(DEBIAN_MIRROR) >$(dir $@)debootstrap.log 2>&1 \
		|| { tail -20 $(dir $@)debootstrap.log; exit 1; }; \
	$$SUDO chmod 755 $$tmp/rootfs/root; \
	$$SUDO tar -C $$tmp/rootfs -cf $@.partial . && $$SUDO rm -rf $$tmp && mv $@.partial $@

test test-integration: container-deps stage-runner-rootfs

# --- Monitoring: Pushgateway, Prometheus, Alertmanager (docs/observability.md) -----
# Debian's packages.  `make run` starts them beside the other services with the
# specs' alert rules and Alertmanager routes (mail goes to smtp_default, the mail
# sink), and stages push their metrics to the Pushgateway.  MONITORING=off leaves
# them off (and nothing is pushed).
MONITORING ?= on
MONITORING_PACKAGES ?= prometheus prometheus-alertmanager prometheus-pushgateway
PUSHGATEWAY_PORT ?= 9091
PROMETHEUS_PORT ?= 9090
ALERTMANAGER_PORT ?= 9093
MONITORING_DIR := $(PIPELINE_DATA_DIR)/monitoring

.PHONY: monitoring-deps monitoring-start monitoring-stop alerts-check

monitoring-deps:
	@need=""; \
	for pkg in $(MONITORING_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || need="$$need $$pkg"; done; \
	if [ -n "$$need" ]; then \
		echo "installing:$$need"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi

ifeq ($(MONITORING),on)
# For `make run` only: the tests start their own servers on free ports.
run: export PIPELINE_PUSHGATEWAY_URL ?= http://127.0.0.1:$(PUSHGATEWAY_PORT)
run: export PIPELINE_PROMETHEUS_URL ?= http://127.0.0.1:$(PROMETHEUS_PORT)
run: export PIPELINE_ALERTMANAGER_URL ?= http://127.0.0.1:$(ALERTMANAGER_PORT)
run: export PIPELINE_ALERT_TO ?= oncall@localhost
services: monitoring-start
services-stop: monitoring-stop
run: monitoring-deps
endif

monitoring-start: venv monitoring-deps
	$(PY) -m pipeline_factory.devservers.monitoring start --dir $(MONITORING_DIR) \
		--pushgateway-port $(PUSHGATEWAY_PORT) --prometheus-port $(PROMETHEUS_PORT) \
		--alertmanager-port $(ALERTMANAGER_PORT)

monitoring-stop:
	-$(PY) -m pipeline_factory.devservers.monitoring stop --dir $(MONITORING_DIR)

# The specs' alert rules, rendered and checked by promtool.
alerts-check: venv monitoring-deps
	$(PY) -m pipeline_factory alerts check

test test-integration: monitoring-deps

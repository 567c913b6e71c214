# The two commands: `make run` (Airflow standalone on the embedded defaults)
# and `make test` (the whole suite).  Everything else here is what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export PIPELINE_DATA_DIR ?= $(CURDIR)/.data
export PIPELINE_FACTORY_CONFIG ?= $(CURDIR)/config

.PHONY: help venv run test test-fast test-unit test-integration test-e2e lint validate constraints clean

help:
	@echo "make run     - set up and start Airflow 3 standalone with the project's DAGs (UI on :8080)"
	@echo "make test    - set up and run the whole test suite (unit, integration, e2e)"
	@echo "make test-fast - unit tests only"

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .
	touch $@

constraints: venv
	$(PIP) freeze --exclude-editable | grep -v '^-e' > constraints.txt

lint: venv
	$(VENV)/bin/ruff check include dags plugins tests bench

validate: venv
	$(PY) -m pipeline_factory validate

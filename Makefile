# Two commands do all setup: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export REGRESSION_ASSETS_DATA_DIR ?= $(CURDIR)/data_out
export PYTENSOR_FLAGS ?= base_compiledir=$(CURDIR)/.venv/.pytensor

.PHONY: install run test dev lint bench bench-scale clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	sed 's#base_dir: .dagster_home#base_dir: $(DAGSTER_HOME)#' dagster.yaml > $@

run: install $(DAGSTER_HOME)/dagster.yaml  ## backfill the whole graph over the bundled sample, print the alerts
	$(VENV)/bin/regression-assets run

test: install  ## the test suite
	$(VENV)/bin/pytest -q

dev: install $(DAGSTER_HOME)/dagster.yaml  ## the Dagster UI on http://127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: install
	$(VENV)/bin/ruff check .

bench: install  ## detection quality and speed vs peers -> bench/results.md
	$(PY) -m pip install -q -e '.[dev,bench]'
	bash bench/run.sh

bench-scale: install  ## only the backfill-at-scale benchmark -> bench/scale_results.json (SCALE_ARGS="--series 4 --days 3": quick)
	$(PY) -m bench.scale $(SCALE_ARGS)

clean:
	rm -rf $(REGRESSION_ASSETS_DATA_DIR) $(DAGSTER_HOME)/storage $(DAGSTER_HOME)/history $(DAGSTER_HOME)/schedules

# PromptSales: one entry point. `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PROMPTSALES_PG_ADMIN_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
export PROMPTSALES_REDIS_URL ?= redis://127.0.0.1:6379/0
HELM := .tools/bin/helm

.PHONY: help setup services render render-check lint format test bench demo scenarios helm-check lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev,embeddings]'
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install the pinned dependencies

$(HELM): .ci/helm.sh
	bash .ci/helm.sh

services: ## install (if absent) and start PostgreSQL and Redis on localhost
	@bash .ci/services.sh

render: $(STAMP) ## render sql/ from model/ (atomic, byte-stable)
	$(PY) -m generators.render

render-check: $(STAMP) ## fail if sql/ differs from a fresh render
	$(PY) -m generators.render --check

lint: $(STAMP) ## ruff (lint + format check), mypy, and the SQL grammar gates over sql/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m generators.gates

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(STAMP) $(HELM) services ## run every test against the local PostgreSQL and Redis
	$(PY) -m pytest

bench: $(STAMP) services ## print throughput and ratios
	$(PY) -m generators.bench

demo: $(STAMP) services render ## render, deploy the local stores through Airflow, and show how to reach everything
	$(PY) -m generators.demo

scenarios: $(STAMP) services ## run the PostgreSQL concurrency scenarios (unsafe vs fixed); exit 1 if one fails its point
	$(PY) -m generators.concurrency_pg

helm-check: $(STAMP) $(HELM) ## lint and render the chart, validate every manifest and the Airflow values offline
	$(HELM) lint --strict helm/promptsales
	$(PY) -m pytest -q tests/helm

lock: ## re-resolve and pin every dependency into constraints.txt
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q -e '.[dev,embeddings]'
	# torch's local label (+cpu) is dropped: ==2.13.0 matches the CPU build without naming a wheel variant.
	{ sed -n '1,2p' constraints.txt; .lockenv/bin/pip freeze --exclude-editable | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > constraints.new && mv constraints.new constraints.txt
	rm -rf .lockenv

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .airflow .tools

# mtkit — everything a fresh machine needs is done by `make run` and `make test`.
#
#   make run                      set up, migrate, seed demo data if empty, serve + background worker
#   make run HOST=0.0.0.0 PORT=8000
#   make test                     set up, pytest on SQLite, then on PostgreSQL if one answers
#   make test PYTEST_ARGS="-k foo -x"
#   MTKIT_REQUIRE_PG=1 make test  no PostgreSQL is a failure (what .ci/run does)
#   PG_TEST_URL=postgresql+psycopg://user@host:5432/db make test
#
# gunicorn's settings are in gunicorn.conf.py (the Server header, forwarded headers).
#
# Set-up is idempotent: system packages are checked with dpkg (apt runs only
# when one is missing, and waits for another apt's lock), pip runs only when
# requirements*.txt is newer than its stamp in .venv, npm ci only when
# package*.json is newer than node_modules/.installed.
# `make run` installs only what serving needs (requirements.txt, no Chromium);
# `make test` adds the test tools (requirements-test.txt, Chromium, poppler).

SHELL := /bin/bash
.DEFAULT_GOAL := help

HOST ?= 127.0.0.1
PORT ?= 5000
PYTHON ?= python3
PYTEST_ARGS ?=
DEMO_ARGS ?= --if-empty
export PYTEST_ARGS

VENV := .venv
FLASK := $(VENV)/bin/flask --app app
VENV_STAMP := $(VENV)/.installed
VENV_TEST_STAMP := $(VENV)/.installed-test
NODE_STAMP := node_modules/.installed
PIP := $(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -q
say = @printf '\n== %s ==\n' $(1)

.PHONY: help setup setup-test system-deps system-deps-test venv venv-test node-deps instance migrate demo run test clean

# List the targets.
help:
	@echo "make run      set up, migrate, seed demo data (empty DB only), serve on http://$(HOST):$(PORT) with the worker"
	@echo "make test     set up, run pytest on SQLite, then on PostgreSQL when one answers"
	@echo "              (PYTEST_ARGS=..., PG_TEST_URL=..., MTKIT_REQUIRE_PG=1)"
	@echo "make setup    install what serving needs and is missing: system packages, .venv, node_modules"
	@echo "make setup-test  that plus the test tools (pytest, playwright, Chromium, poppler)"
	@echo "make migrate  set up, apply database migrations"
	@echo "make demo     set up, migrate, seed demo data (DEMO_ARGS='$(DEMO_ARGS)')"
	@echo "make clean    remove caches (never databases, .venv or node_modules)"

# What serving needs: system packages, Python virtual environment, npm packages.
setup: system-deps venv node-deps

# That plus the test tools.
setup-test: system-deps-test venv-test node-deps

# Debian packages (fonts, WeasyPrint libraries); apt only if missing.
system-deps:
	$(call say,"1/3 系统软件包 (system packages)")
	@bash scripts/setup-system.sh run

# The same plus chromium and poppler-utils for the tests.
system-deps-test:
	$(call say,"1/3 系统软件包与测试用 Chromium (system packages and test tools)")
	@bash scripts/setup-system.sh test

# Python virtual environment with requirements.txt installed.
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt
	$(call say,"2/3 Python 依赖 (pip install -r requirements.txt)")
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.txt
	@touch $@

# The same plus pytest, playwright, schemathesis, pypdf.
venv-test: $(VENV_TEST_STAMP)

$(VENV_TEST_STAMP): requirements.txt requirements-test.txt
	$(call say,"2/3 Python 依赖与测试工具 (pip install -r requirements-test.txt)")
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-test.txt
	@touch $(VENV_STAMP) $@

# npm packages (htmx.org) from package-lock.json.
node-deps: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	$(call say,"3/3 前端依赖 htmx (npm ci)")
	npm ci --no-audit --no-fund
	@touch $@

# Folder for the SQLite database and uploads.
instance:
	@mkdir -p instance

# Apply database migrations.
migrate: setup instance
	$(call say,"数据库迁移 (flask db upgrade)")
	$(FLASK) db upgrade

# Seed demo data (by default only into an empty database) and print the log-ins.
demo: migrate
	$(FLASK) demo $(DEMO_ARGS)

# Set up, migrate, seed demo data if the database is empty, then serve: gunicorn and the background
# worker (flask queue worker: daily jobs, SMS every minute) started and stopped together by scripts/run-all.sh.
run: migrate
	$(call say,"演示数据 (flask demo --if-empty)")
	$(FLASK) demo --if-empty
	@echo "Serving on http://$(HOST):$(PORT) with the background worker  (Ctrl-C stops both)"
	exec bash scripts/run-all.sh $(HOST) $(PORT)

# Set up, then pytest on SQLite and (when reachable) PostgreSQL; see scripts/run-tests.sh.
test: setup-test
	$(call say,"测试 (pytest)")
	@bash scripts/run-tests.sh

# Remove caches and test artefacts; never databases, instance/, .venv or node_modules.
clean:
	find . -path ./.venv -prune -o -path ./node_modules -prune -o \
	  \( -name __pycache__ -o -name .pytest_cache \) -type d -print0 | xargs -0 -r rm -rf
	rm -rf test-results

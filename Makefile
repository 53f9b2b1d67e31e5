# mtkit — everything a fresh machine needs is done by `make run` and `make test`.
#
#   make run                      set up, migrate, seed demo data if empty, serve
#   make run HOST=0.0.0.0 PORT=8000
#   make test                     set up, pytest on SQLite, then on PostgreSQL if one answers
#   make test PYTEST_ARGS="-k foo -x"
#   MTKIT_REQUIRE_PG=1 make test  no PostgreSQL is a failure (what .ci/run does)
#   PG_TEST_URL=postgresql+psycopg://user@host:5432/db make test
#
# gunicorn's settings are in gunicorn.conf.py (the Server header, forwarded headers).
#
# Set-up is idempotent: system packages are checked with dpkg (apt runs only
# when one is missing), pip runs only when requirements.txt is newer than
# .venv/.installed, npm ci only when package*.json is newer than
# node_modules/.installed.

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
NODE_STAMP := node_modules/.installed

.PHONY: help setup system-deps venv node-deps instance migrate demo run test clean

# List the targets.
help:
	@echo "make run      set up, migrate, seed demo data (empty DB only), serve on http://$(HOST):$(PORT)"
	@echo "make test     set up, run pytest on SQLite, then on PostgreSQL when one answers"
	@echo "              (PYTEST_ARGS=..., PG_TEST_URL=..., MTKIT_REQUIRE_PG=1)"
	@echo "make setup    install what is missing: system packages, .venv, node_modules"
	@echo "make migrate  set up, apply database migrations"
	@echo "make demo     set up, migrate, seed demo data (DEMO_ARGS='$(DEMO_ARGS)')"
	@echo "make clean    remove caches (never databases, .venv or node_modules)"

# All installs: system packages, Python virtual environment, npm packages.
setup: system-deps venv node-deps

# Debian packages (chromium, fonts, WeasyPrint libraries, poppler-utils); apt only if missing.
system-deps:
	@bash scripts/setup-system.sh

# Python virtual environment with requirements.txt installed.
venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt
	@touch $@

# npm packages (htmx.org) from package-lock.json.
node-deps: $(NODE_STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Folder for the SQLite database and uploads.
instance:
	@mkdir -p instance

# Apply database migrations.
migrate: setup instance
	$(FLASK) db upgrade

# Seed demo data (by default only into an empty database) and print the log-ins.
demo: migrate
	$(FLASK) demo $(DEMO_ARGS)

# Set up, migrate, seed demo data if the database is empty, then serve with gunicorn.
run: migrate
	$(FLASK) demo --if-empty
	@echo "Serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	exec $(VENV)/bin/gunicorn -c gunicorn.conf.py -w 2 -b $(HOST):$(PORT) 'app:create_app()'

# Set up, then pytest on SQLite and (when reachable) PostgreSQL; see scripts/run-tests.sh.
test: setup
	@bash scripts/run-tests.sh

# Remove caches and test artefacts; never databases, instance/, .venv or node_modules.
clean:
	find . -path ./.venv -prune -o -path ./node_modules -prune -o \
	  \( -name __pycache__ -o -name .pytest_cache \) -type d -print0 | xargs -0 -r rm -rf
	rm -rf test-results

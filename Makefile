# Model Hub: `make run` serves the product with demo data; `make test` runs the tests.
# Both set themselves up on a fresh machine (virtualenv, Python and npm dependencies).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test setup setup-dev lint check clean-local

# The embedded default is a development setup; production leaves DEBUG off (its default).
run test: export DEBUG ?= true

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  Model Hub is starting on http://127.0.0.1:8000 (web, Celery worker and beat; Ctrl-C stops all three)"
	@$(PY) manage.py seed_demo --print-login
	@echo ""
	$(BIN)/honcho start -f Procfile.dev

test: setup-dev
	$(BIN)/pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/complexity_check.py

# The recipe editor's bundle (CodeMirror 6 and its npm packages, with our glue script),
# built from node_modules into the git-ignored build/static that STATICFILES_DIRS serves.
EDITOR_BUNDLE := build/static/recipes/editor.bundle.js

setup: $(VENV)/.requirements node_modules/.package-lock.json $(EDITOR_BUNDLE)

setup-dev: setup $(VENV)/.requirements-dev

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Model Hub needs Python 3.12 or newer (Django 6); found " + sys.version.split()[0] + ". With pyenv: pyenv install 3.12")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.requirements: requirements.txt | $(PY)
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-dev: requirements-dev.txt requirements.txt | $(PY)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

$(EDITOR_BUNDLE): node_modules/.package-lock.json recipes/static/recipes/editor.js
	npm run --silent build

clean-local:
	rm -rf var/hub.sqlite3* var/broker var/media build

# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup venv lint format bench clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

venv: $(BIN)/activate

## Set up everything (virtualenv, database, demo data, users) and serve the admin.
## A background worker (re-screening, scheduled jobs, webhooks) runs beside the server
## and is stopped when the server exits (Ctrl+C).
run: venv
	DEBUG=true $(BIN)/python manage.py migrate --no-input
	DEBUG=true $(BIN)/python manage.py setup_demo
	@DEBUG=true $(BIN)/python manage.py run_worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	trap 'exit 130' INT TERM; \
	echo "Background worker started (pid $$worker)"; \
	DEBUG=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

## Run the whole test suite (against DATABASE_URL if set, else SQLite).
test: venv
	$(BIN)/python -m pytest -q --ds=compliance.settings_test $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## `make bench BENCH_ARGS=--large` adds the 1 M-entity portfolio runs (about 15 minutes a database).
bench: venv
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles var .pytest_cache .hypothesis

# The two commands: `make run` (the site with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format mongo-migrations migrations clean

# The virtualenv is rebuilt only when the requirement files change.
$(BIN)/.runtime-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.dev-installed: $(BIN)/.runtime-installed requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(BIN)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "LiveShop on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	$(BIN)/daphne -b $(HOST) -p $(PORT) liveshop.asgi:application

test: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(BIN)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# After changing models: SQL migrations, then the MongoDB ones (no MongoDB server needed).
migrations: $(BIN)/.dev-installed
	$(BIN)/python manage.py makemigrations
	$(BIN)/python scripts/mongo_makemigrations.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles

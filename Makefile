# The two commands: `make run` (the site with demo data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test soak lint format mongo-migrations migrations screenshots clean

# The virtualenv is rebuilt only when the requirement files change.
$(BIN)/.runtime-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.dev-installed: $(BIN)/.runtime-installed requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# The demo live room gets a test-pattern broadcast (manage.py broadcast_demo) as its seller,
# beside the web server (it waits for the server to listen). Stopping (Ctrl-C, or the server
# exiting) ends the broadcast first, then the server. Both run in the background of this shell, where Ctrl-C
# reaches them only through the trap, so the order holds.
LOCAL_HOST = $(if $(filter 0.0.0.0 ::,$(HOST)),127.0.0.1,$(HOST))
run: $(BIN)/.runtime-installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "LiveShop on http://$(HOST):$(PORT)/  (Ctrl-C stops it)"
	@$(BIN)/python manage.py broadcast_demo --demo --url http://$(LOCAL_HOST):$(PORT) & demo=$$!; \
	$(BIN)/python -m liveshop.serve --host $(HOST) --port $(PORT) & web=$$!; \
	stop() { kill $$demo 2>/dev/null; wait $$demo; kill $$web 2>/dev/null; wait $$web; }; \
	trap 'stop; exit 130' INT; trap 'stop; exit 143' TERM; trap 'kill $$demo 2>/dev/null' EXIT; \
	wait $$web

test: $(BIN)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

# Issue 9's bounded load runs (bench/soak.py: 500-viewer fan-out for 60 s, a 400-buyer flash
# sale for 20 units, a server restart under 200 viewers), each checked; a few minutes. Needs
# redis-server, and PostgreSQL for the flash sale's second run. Figures in docs/reliability.md.
soak: $(BIN)/.dev-installed
	$(BIN)/python bench/soak.py

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

# The README's screenshots: the browser journeys (tests/test_journeys.py) save their key
# screens to docs/screenshots/ when LIVESHOP_SCREENSHOTS is set; a normal test run never does.
screenshots: $(BIN)/.dev-installed
	LIVESHOP_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/test_journeys.py -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles

# Handover: `make run` serves the demo organisation; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
# Test workers: two by default (CI machines have two cores).
WORKERS ?= 2
export FLASK_APP := wsgi

.PHONY: install run test lint bench clean

$(BIN)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Handover needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	@touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	@echo ""
	@echo "  Handover is starting on http://127.0.0.1:$(PORT)"
	@echo "  Demo sign-ins (password: lantern-orchid-demo-7):"
	@echo "    admin@riverside.example      admin"
	@echo "    director@riverside.example   director"
	@echo "    hr@riverside.example         hr"
	@echo "    it@riverside.example         it"
	@echo "    staff@riverside.example      staff (Jo Kim)"
	@echo ""
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# Gates before the suite (seconds): bandit finds no medium or high issue in app (each accepted one
# carries `# nosec BXXX  # reason` on its line), and the models match the migrations (flask db check
# against a scratch SQLite database upgraded to head).
CHECK_DB := $(shell mktemp -u /tmp/handover-dbcheck-XXXXXX).sqlite3

test: install
	$(BIN)/bandit -q -ll -r app
	@HANDOVER_ENV=testing HANDOVER_DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/flask db upgrade >/dev/null 2>&1 || \
		{ rm -f $(CHECK_DB); echo "flask db upgrade failed on a scratch database"; exit 1; }
	@HANDOVER_ENV=testing HANDOVER_DATABASE_URL=sqlite:///$(CHECK_DB) $(BIN)/flask db check >$(CHECK_DB).log 2>&1; \
		status=$$?; tail -1 $(CHECK_DB).log; rm -f $(CHECK_DB) $(CHECK_DB).log; exit $$status
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m ruff check app tests config.py wsgi.py
	$(BIN)/python -m ruff format --check app tests config.py wsgi.py

# Everything in one bench-results.json, scales S, M and L (BENCH_SCALES=S,M for a quicker run);
# BENCH_DB=postgres for PostgreSQL (BENCH_DATABASE_URL, or a throwaway cluster); BENCH_PARTS and
# BENCH_PAGES choose what runs (see tests/benchmarks/README.md).
bench: install
	$(BIN)/python -m tests.benchmarks.scale

clean:
	rm -rf $(VENV) .pytest_cache

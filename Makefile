# Beffroi developer commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: venv test lint typecheck unit faults demo lock clean

venv: $(VENV)/.installed

# Reinstall when the dependency list or the pinned constraints change.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

# The whole system on simulated fleets (local PostgreSQL/Mosquitto when they answer, embedded ones otherwise).
DEMO_ARGS ?=
demo: venv
	$(BIN)/beffroi demo $(DEMO_ARGS)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy ingest devices rules simulator dashboards

# PGlite + TimescaleDB (npm, pinned by package-lock.json) for the TimescaleDB DDL smoke test.
PGLITE := tests/timescale/pglite
$(PGLITE)/node_modules/.installed: $(PGLITE)/package-lock.json
	@if command -v npm >/dev/null; then cd $(PGLITE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the TimescaleDB smoke test will not run"; fi

unit: venv $(PGLITE)/node_modules/.installed
	$(BIN)/pytest -q -m "not faults"

test: lint typecheck unit

# Fault injection (tests/faults/: broker and database restarts, SIGKILLs, providers down, clock jumps), a second
# CI step; the measured recovery times are printed at the end (tests/faults/README.md).
faults: venv
	$(BIN)/pytest -q -m faults

# Regenerate the pinned versions after changing dependencies in pyproject.toml.
lock: venv
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

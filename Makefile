# Rodistaa Core. `make run` serves the API on SQLite; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench migrate clean

# The environment is rebuilt only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/rodistaa db upgrade

run: migrate
	WORKER_IN_PROCESS=true $(BIN)/rodistaa serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# Every scan fails the target on a finding (docs/security-scans.md). The dependency audit says
# "NOT CHECKED" instead of failing when its vulnerability database cannot be reached.
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/bandit --quiet --recursive src --configfile pyproject.toml
	VENV_BIN=$(BIN) bash scripts/audit-dependencies

bench: $(STAMP)
	@if [ -d bench ] && ls bench/*/run >/dev/null 2>&1; then for b in bench/*/run; do $$b; done; \
	else echo "no benchmarks yet"; fi

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

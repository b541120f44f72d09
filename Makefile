# Rodistaa Core. `make run` serves the API on SQLite; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench migrate clean loadtest loadtest-smoke

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
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# Every scan fails the target on a finding (docs/security-scans.md). The dependency audit says
# "NOT CHECKED" instead of failing when its vulnerability database cannot be reached.
lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/bandit --quiet --recursive src --configfile pyproject.toml
	VENV_BIN=$(BIN) bash scripts/audit-dependencies

bench: $(STAMP)
	@if [ -d bench ] && ls bench/*/run >/dev/null 2>&1; then for b in bench/*/run; do $$b; done; \
	else echo "no benchmarks yet"; fi

# The load generator (locust, py-spy) lives in its own environment: gevent patches the standard
# library. Both targets need PostgreSQL and Redis on loopback (LOAD_PG_URL, LOAD_REDIS_URL).
LOAD_VENV  := .venv-load
LOAD_STAMP := $(LOAD_VENV)/.installed

$(LOAD_STAMP): bench/load/requirements.txt
	test -x $(LOAD_VENV)/bin/python || $(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOAD_VENV)/bin/python -m pip install --quiet -r bench/load/requirements.txt
	touch $(LOAD_STAMP)

# The freight day at rising multiples of the peak, the ceiling comparison, docs/performance.md.
loadtest: $(STAMP) $(LOAD_STAMP)
	$(BIN)/python bench/load/run.py $(LOADTEST_ARGS)

# One minute at 1x the peak; fails on any server error or a missed target (CI runs it).
loadtest-smoke: $(STAMP) $(LOAD_STAMP)
	$(BIN)/python bench/load/run.py --smoke

clean:
	rm -rf $(VENV) $(LOAD_VENV) var .pytest_cache .mypy_cache .ruff_cache

# One command to run the API, one to run the tests (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every package with its hashes: requirements.lock (the app, what the Dockerfile installs) and
# requirements-dev.lock (the app and the dev extra, what make install and CI install).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# Resolved against PyPI alone, whatever this machine's pip configuration adds.
PIP_COMPILE := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= \
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --all-build-deps \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_FLAGS)

.PHONY: install lock run test stress fuzz audit lint format bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; \
		echo "pyproject.toml asks for what $(DEV_LOCK) lacks: run make lock" >&2; exit 1; }
	touch $(STAMP)

# Regenerate both lock files after changing a dependency in pyproject.toml. Pins already in the
# files are kept; LOCK_FLAGS=--upgrade moves everything to the newest allowed versions, and
# LOCK_FLAGS="--upgrade-package NAME" one package. The dev lock is constrained by the app's.
lock:
	test -x $(BIN)/pip-compile || $(MAKE) install
	$(PIP_COMPILE) --output-file $(LOCK) pyproject.toml
	$(PIP_COMPILE) --extra dev --constraint $(LOCK) --output-file $(DEV_LOCK) pyproject.toml

run: install
	$(BIN)/ledger db upgrade
	$(BIN)/ledger serve --demo

test: install
	$(BIN)/pytest -n 2 --dist loadfile

# The full concurrency soak (docs/reliability.md): 32 HTTP clients × 2,000 mixed commands;
# projector fail-over 20 times per fault (SIGKILL, pg_terminate_backend, half-open).
stress: install
	LEDGER_SOAK_CLIENTS=32 LEDGER_SOAK_COMMANDS=2000 $(BIN)/pytest tests/e2e/test_soak.py -q -s
	LEDGER_FAILOVER_REPETITIONS=20 $(BIN)/pytest tests/e2e/test_failover.py -q -s

# Schemathesis at length as every role, a new random seed each run (make test runs it briefly).
fuzz: install
	LEDGER_FUZZ_EXAMPLES=200 LEDGER_FUZZ_SEED=random \
		$(BIN)/pytest tests/e2e/test_hostile_input.py tests/e2e/test_account_roles.py -q -s -k schemathesis

# Known vulnerabilities in every installed (pinned) package; needs the vulnerability service.
audit: install
	$(BIN)/pip-audit --local --skip-editable --strict --progress-spinner off

lint: install
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Benchmarks against PostgreSQL at LEDGER_BENCH_DATABASE_URL (default: the local server); see
# docs/benchmarks.md. They create and drop their own databases and write bench/results/.
bench: install
	$(BIN)/python -m bench

bench-quick: install
	$(BIN)/python -m bench --quick

format: install
	$(BIN)/ruff format src tests migrations bench
	$(BIN)/ruff check --fix src tests migrations bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis .schemathesis

# One command to run the API, one to run the tests (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test stress fuzz audit lint format bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/ledger db upgrade
	$(BIN)/ledger serve

test: install
	$(BIN)/pytest

# The full concurrency soak (docs/reliability.md): 32 HTTP clients × 2,000 mixed commands.
stress: install
	LEDGER_SOAK_CLIENTS=32 LEDGER_SOAK_COMMANDS=2000 $(BIN)/pytest tests/e2e/test_soak.py -q -s

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

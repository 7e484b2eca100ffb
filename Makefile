# One command to run the service, one to run every check. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck unit bench clean sim tools

RUN_STAMP := $(VENV)/.installed-service
SOURCES := pyproject.toml setup.py src/observer/store/_tickcopy.c

# What the service needs, nothing more: `make run` does not wait for the test tools.
$(RUN_STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# The service plus the test and lint tools, the Kubernetes client of `observer verify cluster` and
# the analysis libraries whose examples (docs/using-the-data.md) the tests run.
$(STAMP): $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,verify,analysis]'
	touch $(STAMP) $(RUN_STAMP)

## run: start the service (the built-in simulator when no KIS credentials are configured)
run: $(RUN_STAMP)
	$(BIN)/observer run

## sim: run the KIS simulator alone on 127.0.0.1:9443
sim: $(RUN_STAMP)
	$(BIN)/observer sim --host 127.0.0.1 --port 9443

## tools: test tools that live outside the venv (checkov venv, Debian chromium)
tools: $(STAMP)
	bash scripts/install-test-tools.sh

## test: the whole gate: format, lint, types, tests (PostgreSQL found or started by the tests)
test: $(STAMP) tools lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

## bench: every benchmark under bench/, printing its figures
bench: $(STAMP)
	@failed=""; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "below a floor or failed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV) .venv-tools .mypy_cache .ruff_cache .pytest_cache

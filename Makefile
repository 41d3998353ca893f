# The two commands: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LISTEN ?= :9469
DEMO_ARGS ?=
STACK_ARGS ?=

.PHONY: run demo stack test check deps venv lint typecheck pytest bench clean

run: $(STAMP)
	$(BIN)/pitwatch run --listen $(LISTEN)

# The simulated platform and the exporter probing it, on $(LISTEN) like `make run` (stop that
# one first). DEMO_ARGS=--incident-tour plays a scripted incident.
demo: $(STAMP)
	$(BIN)/pitwatch demo --listen $(LISTEN) $(DEMO_ARGS)

# Prometheus (:9090) and Alertmanager (:9093) with rules/ and the shipped routing, scraping
# 127.0.0.1:9469; installs the Debian packages when missing. STACK_ARGS=--help for the options.
stack: $(STAMP)
	$(BIN)/python -m scripts.stack $(STACK_ARGS)

test: deps $(STAMP)
	$(MAKE) check

check: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

# Strict over the product and its tooling; the tests are checked with untyped test
# functions allowed (pyproject.toml, [[tool.mypy.overrides]]).
typecheck: $(STAMP)
	$(BIN)/mypy --strict exporter dashboards scripts devtools
	$(BIN)/mypy tests bench

pytest: $(STAMP)
	$(BIN)/pytest -n 4

deps:
	./scripts/install-test-deps.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pitwatch needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

bench: $(STAMP)
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

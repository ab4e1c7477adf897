# The commands a newcomer needs: `make run`, `make test`, `make bench`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/terrarium serve

test: $(STAMP)
	./scripts/ensure-postgres.sh
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/pip install -q -e '.[dev,bench]'
	TERRARIUM_BENCH_CASES="$$(./scripts/ensure-monty-cases.sh)" $(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check runtime client_surface sandbox flora_backend tests bench
	$(BIN)/ruff format --check runtime client_surface sandbox flora_backend tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .terrarium

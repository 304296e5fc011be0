# One command per job. `make run` and `make test` are all a newcomer needs.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench install clean

$(STAMP): pyproject.toml
	# A venv an interrupted run left without pip is made again.
	test -x $(BIN)/pip || $(PY) -m venv --clear $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m infra.preflight
	$(BIN)/python -m infra.runner all

test: $(STAMP)
	$(BIN)/python -m infra.preflight --for-tests
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check infra services gateway tests bench
	$(BIN)/ruff format --check infra services gateway tests bench
	$(BIN)/mypy infra gateway services

bench: $(STAMP)
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python -m bench

clean:
	rm -rf var var.keys .pytest_cache

# Everything a developer or CI needs, from a fresh clone, in one place.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench stress clean

install: $(STAMP)

# Re-install only when the project's dependency list changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: install
	$(BIN)/pue run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check consumers destinations schemas

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -n auto

test: lint typecheck unit

bench: install
	$(BIN)/python -m tests.benchmarks

stress: install
	$(BIN)/pytest -m stress tests/functional

clean:
	rm -rf $(VENV) .pue .mypy_cache .ruff_cache .hypothesis

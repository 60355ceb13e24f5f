# Two commands: `make demo` and `make test`. Each sets up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup services clean bench

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/headwater demo examples/shop

lint: $(STAMP)
	$(BIN)/ruff check headwater tests bench scripts
	$(BIN)/ruff format --check headwater tests bench scripts
	$(BIN)/mypy

services:
	bash scripts/ensure-services.sh

test: lint services
	$(BIN)/pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/ingest_files.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

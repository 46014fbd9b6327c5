# Two commands a newcomer needs: `make run` (set up, then start the bot) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run demo test lint bench ingest clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/kiji run

demo: $(BIN)/.installed
	$(BIN)/kiji demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.installed
	$(BIN)/python -m bench

ingest: $(BIN)/.installed
	$(BIN)/kiji ingest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info

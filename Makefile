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

# The search tokeniser in C, built in place with the system's gcc; if it cannot be built (no
# compiler, no Python headers), Kiji runs the Python one: same tokens, slower ingest.
$(BIN)/.native: $(BIN)/.installed setup.py bot/content/_search_tokens_c.c
	-$(BIN)/python setup.py --quiet build_ext --inplace >/dev/null 2>&1
	@$(BIN)/python -c "import bot.content._search_tokens_c" 2>/dev/null || \
		echo "could not compile bot/content/_search_tokens_c.c: using the Python tokeniser" >&2
	touch $@

run: $(BIN)/.native
	$(BIN)/kiji run

demo: $(BIN)/.native
	$(BIN)/kiji demo

test: $(BIN)/.native
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(BIN)/.native
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/.native
	$(BIN)/python -m bench

ingest: $(BIN)/.native
	$(BIN)/kiji ingest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build bot/content/_search_tokens_c.*.so

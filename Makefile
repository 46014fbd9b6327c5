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
NATIVE := bot/content/_search_tokens_c$(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
$(NATIVE): $(BIN)/.installed setup.py bot/content/_search_tokens_c.c
	-$(BIN)/python setup.py --quiet build_ext --inplace >/dev/null 2>&1
	@test -f $@ || echo "could not compile bot/content/_search_tokens_c.c: using the Python tokeniser" >&2

run: $(NATIVE)
	$(BIN)/kiji run

demo: $(NATIVE)
	$(BIN)/kiji demo

test: $(NATIVE)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(NATIVE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(NATIVE)
	$(BIN)/python -m bench

ingest: $(NATIVE)
	$(BIN)/kiji ingest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build bot/content/_search_tokens_c.*.so

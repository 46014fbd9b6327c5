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

# The search tokeniser and the near-duplicate remover in C, built in place with the system's gcc;
# what cannot be built (no compiler, no Python headers), Kiji runs in Python: same output, slower.
EXT_SUFFIX := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
NATIVE_SOURCES := bot/content/_search_tokens_c.c bot/content/_near_duplicates_c.c
NATIVE := $(NATIVE_SOURCES:.c=$(EXT_SUFFIX))
# One build_ext makes both (a grouped target, &:, runs it once for the two), forced to rebuild both
# so that each file is newer than its sources afterwards (or make would rebuild it on every run).
$(NATIVE) &: $(BIN)/.installed setup.py $(NATIVE_SOURCES)
	-$(BIN)/python setup.py --quiet build_ext --inplace --force >/dev/null 2>&1
	@for f in $(NATIVE); do test -f $$f || echo "could not compile $${f%%.*}.c: using its Python twin" >&2; done

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
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build bot/content/_search_tokens_c.*.so bot/content/_near_duplicates_c.*.so

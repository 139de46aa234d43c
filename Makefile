# Two entry points for a fresh machine: `make demo` and `make test` (see README.md).
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-convert
TORCH   := torch==2.13.0

.PHONY: demo test install

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first, CPU build: otherwise pip pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[convert,test]'
	# Tests build tiny Keras presets with keras-hub itself. Its tensorflow-text requirement
	# (only for tf.data tokenizers, unused here) would pull full tensorflow beside tensorflow-cpu.
	$(BIN)/pip install -q --no-deps keras-hub==0.32.0
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/edgekit convert --target android --out out/demo --force
	$(BIN)/edgekit validate out/demo/gemma-3-270m-int8.litertlm --report out/demo/validation.html

# Style and the direction of imports first (seconds), then the tests, in two workers: much of a
# test's time is single-threaded (imports, tracing, conversion), so two share 2 cores well.
# Tests sharing an expensive fixture stay in one worker (tests/conftest.py). The slowest tests
# are listed at the end, so a run that nears CI's limit shows where its time went.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20

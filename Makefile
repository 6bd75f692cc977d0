# Two entry points a newcomer needs: `make render` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SEED := seeds/luo-yonghao-yan-junjie.md

.PHONY: setup render test lint bench clean

# The voice pack (Kokoro's native voices, npm's kokoro-js@1.2.1, checked by sha256) goes
# to the user's cache folder; without npm or offline: one notice, Japanese voices only.
setup: $(VENV)/.installed
	$(BIN)/python -m audio_pipeline.voicepack install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,check,cluster]"
	$(BIN)/python -m compileall -q audio_pipeline  # bytecode, as a regular install has
	touch $@

render: setup
	$(BIN)/audio-pipeline render $(SEED)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf output

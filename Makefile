# Corolla: `make` sets everything up and runs the main job; `make test` runs the tests.
# Needs only Python 3.11+, g++ and make; every Python dependency comes from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two pytest workers: one per core of the reference machine.
PYTEST_ARGS ?= -n 2

.PHONY: all setup demo test lint clean

all: demo

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Corolla needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The main job on the built-in defaults: generate the default accelerator, compress the digits
# MLP, run test images on the simulated accelerator (dense and sparse) and print a summary.
demo: setup
	$(BIN)/corolla demo --config default --out build/demo

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) .pytest_cache .ruff_cache

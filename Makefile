# Two entry points: `make run` (set up, download MNIST, train the default config) and `make test`.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: a bare `pip install torch` pulls a multi-GB CUDA build.
# Elsewhere override, e.g. `make run TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
ARGS ?=

.PHONY: setup run test lint bench mutants clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: setup
	$(BIN)/mnist-scratch download
	$(BIN)/mnist-scratch train $(ARGS)

test: setup
	$(BIN)/python -m pytest -q

# Mutation testing of the math and the checkers (tools/mutants.py): tens of minutes, so not in `make test` or CI.
# `make mutants TARGETS="nn engines" JOBS=1` narrows it; survivors not listed in tools/mutants/equivalent.txt fail.
JOBS ?= 2
TARGETS ?=
mutants: setup
	$(BIN)/python tools/mutants.py --jobs $(JOBS) $(TARGETS)

lint: setup
	$(BIN)/ruff check mnist_scratch tests

clean:
	rm -rf $(VENV) build *.egg-info .mutants

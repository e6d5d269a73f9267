# Two entry points: `make run` (set up, download MNIST, train the default config) and `make test` (what CI runs).
PYTHON ?= python3
VENV ?= .venv
# torch is installed first and pinned: a bare `pip install torch` pulls a multi-GB CUDA build.
# Elsewhere override, e.g. `make run TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cpu"`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
ARGS ?=

.PHONY: setup setup-dev run test check lint bench mutants clean

# `make run` installs what running needs; `make test` and `make check` add the dev extra (pytest, ruff, ...).
setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: setup
	$(BIN)/mnist-scratch download
	$(BIN)/mnist-scratch train $(ARGS)

# Other CPUs round differently: the float-sensitive tests run a second time on torch's portable kernels and
# AVX2-only matrix multiplies (what a CPU without AVX-512 or AMX computes).
OTHER_KERNELS := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=AVX2 DNNL_MAX_CPU_ISA=AVX2

test: setup-dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q
	$(OTHER_KERNELS) $(BIN)/python -m pytest -q -m floats -p no:cacheprovider

# The edit loop (under 2 minutes): the import layers and every test not marked slow, stopping at the first failure.
check: setup-dev
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -x -m 'not slow'

# Mutation testing of the math and the checkers (tools/mutants.py): tens of minutes, so not in `make test` or CI.
# `make mutants TARGETS="nn engines" JOBS=1` narrows it; survivors not listed in tools/mutants/equivalent.txt fail.
JOBS ?= 2
TARGETS ?=
mutants: setup-dev
	$(BIN)/python tools/mutants.py --jobs $(JOBS) $(TARGETS)

lint: setup-dev
	$(BIN)/ruff check mnist_scratch tests

clean:
	rm -rf $(VENV) build *.egg-info .mutants

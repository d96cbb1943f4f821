# Two commands on a fresh machine (Linux or macOS, Python >= 3.10):
#
#   make lab     set up .venv, then open JupyterLab on notebooks/
#   make test    set up .venv, then run the test suite (what CI runs: .ci/run)
#
# The set-up creates the virtual environment if it is missing, installs torch (the
# CPU build on Linux machines without an NVIDIA driver, where PyPI's default wheel
# would bundle CUDA) and the project with its dev extras (notebooks, tests,
# TensorBoard, docs). It runs again only when pyproject.toml changes.
#
# Other targets: make docs (the site into docs/_build/html), make lint (ruff),
# make fast (the tests without the slow ones), make clean-venv.
# Variables: PYTHON=python3.12, VENV=path, TORCH='torch==2.13.0' (default: the newest
# torch for this Python), TORCH_INDEX=URL (empty: pip's configured index),
# PYTEST_ARGS='-k config', LAB_ARGS='--no-browser'.

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch
TORCH_INDEX ?= $(shell if [ "$$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null 2>&1; \
                 then echo https://download.pytorch.org/whl/cpu; fi)
EXTRAS ?= dev
PYTEST_ARGS ?=
LAB_ARGS ?=

BIN := $(VENV)/bin
# Jupyter refuses to run as root unless told (containers and cloud machines often are root).
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP := $(VENV)/.baryir-installed-$(EXTRAS)

.PHONY: setup lab test fast docs lint clean-venv

setup: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' || \
	    { echo "baryir needs Python >= 3.10; run e.g. make PYTHON=python3.12 ..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c 'import torch' 2>/dev/null; then \
	    echo "installing $(TORCH)$(if $(TORCH_INDEX), (CPU build, $(TORCH_INDEX)))"; \
	    $(BIN)/python -m pip install -q "$(TORCH)" $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)); \
	fi
	$(BIN)/python -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(AS_ROOT) $(LAB_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check .

clean-venv:
	rm -rf $(VENV)

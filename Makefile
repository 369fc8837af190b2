# Two commands: `make demo` and `make test`. Everything else is a helper for them.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test lint typecheck clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Re-install only when the project metadata or the C kernels change (pip builds them: setup.py).
NATIVE := setup.py src/pymk/features/_kernels.c
$(VENV)/.stamp-install: pyproject.toml $(NATIVE) | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml $(NATIVE) | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.stamp-install $@

demo: $(VENV)/.stamp-install
	$(BIN)/pymk demo

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) pymk-home .mypy_cache .ruff_cache .pytest_cache

# Two commands do all the set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
VENV := .venv
BIN := $(VENV)/bin

.PHONY: deps demo test lint typecheck pytest venv clean bench-registry

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet uv

$(BIN)/modelyard: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	@touch $@

venv: $(BIN)/modelyard

# System packages the suite starts (Chromium, Prometheus), from Debian's packages; idempotent.
deps:
	bash tests/support/system_deps.sh

demo: venv
	$(BIN)/modelyard demo

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25 $(PYTEST_ARGS)

test: lint typecheck pytest

bench-registry: venv
	$(BIN)/python benchmarks/registry.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache

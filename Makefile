# Creator Kit. Every target creates .venv on first use.
# torch is pinned to the CPU build here; with a GPU, install your own torch into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH_SPEC ?= torch==2.13.0
# JupyterLab's own options for `make lab`, e.g. make lab LAB_OPTIONS="--port 9999 --no-browser"
LAB_OPTIONS ?=

.PHONY: demo lab test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

lab: $(STAMP)
	$(BIN)/creator-kit lab $(LAB_OPTIONS)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	for bench in benchmarks/bench_*.py; do $(BIN)/python $$bench || exit 1; done

clean:
	rm -rf $(VENV) outputs .pytest_cache

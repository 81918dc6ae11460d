# Every target sets itself up: a fresh machine needs only python3 (with venv and pip) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench calibrate browser serve clean fuzz

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kremlinology whatif beria_detects_coup --scenario thaw --runs 20000 --seed 1 --chronicle

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser
	$(BIN)/pytest -n 2 -q

browser:
	sh scripts/ensure-chromium.sh

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python benchmarks/whatif_bench.py
	$(BIN)/python benchmarks/engines.py
	$(BIN)/python benchmarks/cluster_bench.py
	$(BIN)/python benchmarks/drivers_bench.py

fuzz: $(STAMP)
	KREMLINOLOGY_NO_CACHE=1 $(BIN)/python tests/fuzz.py --examples 10000 --jobs 2

serve: $(STAMP)
	$(BIN)/kremlinology serve

calibrate: $(STAMP)
	$(BIN)/kremlinology calibrate --scenario thaw

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

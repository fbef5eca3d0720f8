# spikeforge — two commands on a fresh machine (Python >= 3.10, gcc, make):
#   make flow   set up .venv, then run the whole flow on the embedded digits data
#   make test   set up .venv, then run the test suite
PY    ?= python3
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RUN   ?= runs/digits
PYTEST_ARGS ?=
# The interop tests' Sinabs and Norse, installed without their declared dependencies
# (nir<=1.0.4, samna, torchvision; docs/interop.md); their real runtime needs are in dev.
NODEPS := sinabs==3.1.3 norse==1.1.0

.PHONY: flow test test-all setup lint clean bench

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps $(NODEPS)
	@touch $(STAMP)

setup: $(STAMP)

flow: $(STAMP)
	$(BIN)/spikeforge flow -o $(RUN)

# pytest exits 5 when it collected no test: that is a failure here too.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything, including the slow RTL sweeps, synthesis and training benchmarks' tests.
test-all: $(STAMP)
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check quant pysim hdl sim spikeforge scripts tests

clean:
	rm -rf $(VENV) runs build .pytest_cache .hypothesis

# The cheap benchmarks in their quick settings (tables on stdout, JSON in runs/bench/).
bench: $(STAMP)
	$(BIN)/python scripts/bench_golden.py --quick --out runs/bench/golden.json
	$(BIN)/python scripts/bench_hdl_cycles.py --quick --out runs/bench/hdl_cycles.json
	$(BIN)/python scripts/bench_train.py --quick --out runs/bench/train.json
	$(BIN)/python scripts/bench_estimate.py --model-only --out runs/bench/estimate_model.json

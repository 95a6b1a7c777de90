# The README's commands. `make demo` and `make test` work on a fresh machine: they create .venv first.
PYTHON ?= python3
VENV ?= .venv
# torch is installed first, from this spec, so the package's own `torch>=2.2` range adds nothing.
# On a Mac the same spec gives the MPS build; on a CUDA box use e.g. TORCH_SPEC="torch==2.13.0" with
# PIP_INDEX_URL/--extra-index-url of your CUDA wheels.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
TASK := seeds/tasks/nanogpt_shakespeare
# The peer of the side-by-side benchmarks (OpenEvolve), in its own venv without torch: its evaluator
# calls our scoring with our venv's python. Defined before `test`, whose prerequisites it is among.
PEER := bench/.peer/bin/python

.PHONY: install data demo test lint bench bench-smoke clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

data: install
	$(BIN)/evolve data prepare

# The main job: a ~10 minute campaign on the built-in task with the offline operator (no key, no network).
# It ends by writing the campaign's HTML report and printing its path.
demo: data
	name=demo-$$(date +%Y%m%d-%H%M%S); \
	$(BIN)/evolve launch --config seeds/campaigns/demo.toml --name $$name && \
	$(BIN)/evolve report $$name

lint: install
	$(BIN)/ruff check .

# The whole suite, then every benchmark at tiny sizes (bench-smoke) so the benchmark code cannot rot.
test: lint $(PEER)
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory bench-smoke

$(PEER):
	$(PYTHON) -m venv bench/.peer
	$(PEER) -m pip install -q "openevolve==0.4.0"

# Every benchmark; regenerates BENCHMARKS.md (under an hour on 2 CPU cores).
bench: data $(PEER)
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/peer/compare.py
	$(BIN)/python bench/peer/render.py --write BENCHMARKS.md

# Every benchmark at tiny sizes, nothing written to BENCHMARKS.md: `make test` ends with it, so CI runs
# it and the benchmark code does not rot (under 5 minutes, the peer's venv included).
bench-smoke: data $(PEER)
	$(BIN)/python bench/search_depth.py --smoke   # run_all.py's --smoke --resume then only prints it
	$(BIN)/python bench/run_all.py --smoke
	$(BIN)/python bench/peer/compare.py --smoke
	$(BIN)/python bench/peer/render.py --json bench/out/peer-smoke.json > bench/out/peer-smoke.md
	$(BIN)/python bench/peer/history.py --before HEAD --sizes 20 --runs 1 --extra 5 > bench/out/history-smoke.md
	$(BIN)/python bench/peer/history.py --before HEAD --section utilization --smoke --runs 1 > bench/out/utilization-history-smoke.md

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

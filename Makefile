# The two front-door commands: `make demo` (the whole DAG on the offline demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 8

.PHONY: demo report test lint clean-results

# uv installs the same pinned set as pip, faster (torch's CUDA wheels are 5 GB unpacked), from the sources pip is
# configured with (tools/uv_index_flags.py, run by $(PYTHON): make expands a recipe before its first line)
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python $(shell $(PYTHON) tools/uv_index_flags.py)
# Byte-code is written at a module's first import, as Python does by default: the 3,800 modules a job imports, not
# all of the venv at install (uv --compile-bytecode: +20 s). With PYTHONDONTWRITEBYTECODE set, no job would write
# it and every job would compile torch's imports again (13 s against 5 s per job)
unexport PYTHONDONTWRITEBYTECODE

$(BIN)/.ccrk-installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	$(UV_INSTALL) -c constraints.txt -e ".[test]"
	$(UV_INSTALL) --no-deps -c constraints.txt easynmt
	touch $@

demo: $(BIN)/.ccrk-installed
	$(BIN)/snakemake --cores $(CORES) results/xflickrco_table.csv results/xflickrco_mrv.csv
	cat results/xflickrco_table.md

# every enabled protocol's tables, MRV and charts (demo: xFlickr&CO zero- and few-shot), then the HTML report
report: $(BIN)/.ccrk-installed
	$(BIN)/snakemake --cores $(CORES) tables
	$(BIN)/snakemake --report report.html tables

test: $(BIN)/.ccrk-installed
	$(BIN)/python -m pytest -q

lint: $(BIN)/.ccrk-installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/

clean-results:
	rm -rf results logs resources .snakemake

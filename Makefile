# Two commands do all the set-up: `make demo` and `make test` each create .venv when it is missing.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.mmdistill-installed
export HF_HUB_OFFLINE ?= 1

.PHONY: install demo test test-slow export clean-nbs

install: $(STAMP)

# Idempotent: re-runs only when the venv is missing or the requirements changed.
# torch is pinned first so that the package's `torch>=2.1` resolves to the local CPU build.
$(STAMP): settings.ini setup.py
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

# The main job on HAPT: teacher → evaluation → acc-only student alone and distilled → INT8 ONNX and its gate.
demo: install
	.venv/bin/mmdistill demo --out runs/demo

test: install
	$(PY) tools/run_tests.py

test-slow: install
	$(PY) tools/run_tests.py --slow --no-sync-check

# Developer helpers: regenerate the package from the notebooks and clean the notebooks.
export: install
	.venv/bin/nbdev_export && .venv/bin/nbdev_clean

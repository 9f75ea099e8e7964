# Two commands do all the set-up: `make demo` and `make test` each create .venv when it is missing.
SHELL := /bin/bash
PY := .venv/bin/python
STAMP := .venv/.mmdistill-installed
export HF_HUB_OFFLINE ?= 1

.PHONY: install demo bench test test-slow test-thirdparty test-browser test-firmware arm-toolchain espdl test-espdl screenshots chromium export clean-nbs outputs

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
	.venv/bin/mmdistill demo --out runs/demo --overwrite

# Benchmarks against pytorch-metric-learning and the paper's formula, the students' inference, the distillation table and
# the demo's stage times; they regenerate benchmarks/results.md (about an hour on 2 quiet cores: the two distillation tables train 5 seeds each).
BENCH_STAMP := .venv/.mmdistill-bench-installed
BENCH_THREADS ?= 2

$(BENCH_STAMP): $(STAMP) settings.ini setup.py
	$(PY) -m pip install --quiet -e ".[bench]"
	@touch $@

bench: install $(BENCH_STAMP)
	$(PY) benchmarks/supcon.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/sampler.py
	$(PY) benchmarks/inference.py
	$(PY) benchmarks/optimizer.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/distill_table.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/distill_table.py --recipe light --threads $(BENCH_THREADS)
	$(PY) benchmarks/end_to_end.py --threads $(BENCH_THREADS)

test: install
	$(PY) tools/run_tests.py

test-slow: install
	$(PY) tools/run_tests.py --slow --no-sync-check

# Tests with the REAL libraries users bring artifacts from (tests/thirdparty: Lightning + OmegaConf, DeepSpeed,
# pytorch-lifestream, transformers' save_pretrained). They go into their own venv, .venv-thirdparty, layered over .venv
# (a .pth file adds .venv's site-packages, so torch, mmdistill and the rest are the ones `make install` put there and
# nothing in .venv changes): hydra-core 1.3 needs omegaconf < 2.4 while mmdistill's CLI takes the newest, and with
# DeepSpeed importable accelerate prints an accelerator notice into every notebook's output. The constraints pin torch
# and the other shared packages at .venv's versions. pytorch-lifestream goes in with --no-deps: its declared
# dependencies pull spacy 3.7.4, which downgrades typer (and more); what the tests import of it needs only torch,
# lightning, torchmetrics and pyarrow. DeepSpeed runs on its CPU accelerator (DS_ACCELERATOR=cpu, one gloo process).
TP_VENV := .venv-thirdparty
TP_PY := $(TP_VENV)/bin/python
TP_STAMP := $(TP_VENV)/.mmdistill-thirdparty-installed
TP_CONSTRAINTS := $(TP_VENV)/constraints.txt
TP_PACKAGES := lightning==2.6.6 omegaconf==2.3.1 hydra-core==1.3.8 torchmetrics==1.9.0 pyarrow==26.0.1 deepspeed==0.19.8

$(TP_STAMP): $(STAMP) Makefile
	@test -x $(TP_PY) || $(PY) -m venv $(TP_VENV)
	$(TP_PY) -c "import pathlib, site, sys; main = sys.argv[1]; d = pathlib.Path(site.getsitepackages()[0]); (d / 'zz_mmdistill_main_venv.pth').write_text(f'import site; site.addsitedir({main!r})\n')" "$$($(PY) -c 'import site; print(site.getsitepackages()[0])')"
	$(PY) -m pip freeze --exclude-editable | grep -iE '^(torch|numpy|onnx|onnxruntime|transformers|accelerate|safetensors)==' > $(TP_CONSTRAINTS)
	@grep -qE '^torch==2\.13\.0' $(TP_CONSTRAINTS) || { echo "expected torch 2.13.0 in .venv: run make install"; exit 1; }
	$(TP_PY) -m pip install --quiet -c $(TP_CONSTRAINTS) $(TP_PACKAGES)
	$(TP_PY) -m pip install --quiet --no-deps pytorch-lifestream==0.7.0
	@touch $@

test-thirdparty: install $(TP_STAMP)
	OMP_NUM_THREADS=1 DS_ACCELERATOR=cpu $(TP_PY) tests/thirdparty/run.py

# The explorers in a real browser: JupyterLab + headless Chromium driven by Playwright (tests/browser/run_browser.py).
# Playwright uses Debian's chromium (installed here when missing; we run as root) and never downloads a browser.
test-browser: install chromium
	OMP_NUM_THREADS=1 $(PY) tests/browser/run_browser.py

# The README's screenshots of the explorers (docs/img/), taken by the browser test.
screenshots: install chromium
	OMP_NUM_THREADS=1 $(PY) tests/browser/run_browser.py --screenshots docs/img

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The student as firmware (tests/firmware/check_firmware.py, about 2 minutes): a trained student's generated C against
# onnxruntime on all 3,162 HAPT test windows, and cross-compiled for a Cortex-M4 run under QEMU's MPS2 AN386 board.
# Ends with one line `N passed, N failed` (one result for the file, as `make test` counts a pytest file), also when the
# toolchain cannot be installed.
test-firmware: install
	@{ $(MAKE) --no-print-directory arm-toolchain && OMP_NUM_THREADS=1 $(PY) -m pytest -q -s -p no:cacheprovider \
	    tests/firmware/check_firmware.py; } && echo '1 passed, 0 failed' || { echo '0 passed, 1 failed'; exit 1; }

# gcc for the host, arm-none-eabi-gcc with newlib and qemu-system-arm (installed here when missing; we run as root).
arm-toolchain:
	@command -v gcc >/dev/null && command -v arm-none-eabi-gcc >/dev/null && command -v qemu-system-arm >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm; }

# The student as an ESP-DL .espdl model for ESP32 chips (nbs/21_espdl.ipynb, mmdistill.espdl): Espressif's esp-ppq in a
# venv of its own, .venv-espdl, made from python3 and not layered over .venv: esp-ppq 1.3.12 requires onnx<1.20, and in
# .venv pip would replace onnx 1.23.2 by 1.19.1. tests/espdl/constraints.txt pins .venv's CPU build of torch (an unpinned
# torch would pull another build), numpy and onnxruntime. mmdistill never imports esp-ppq: it runs a worker script with
# .venv-espdl's Python (or $MMDISTILL_ESPDL_PYTHON). About 45 s to install.
ESPDL_VENV := .venv-espdl
ESPDL_PY := $(ESPDL_VENV)/bin/python
ESPDL_STAMP := $(ESPDL_VENV)/.mmdistill-espdl-installed

espdl: $(ESPDL_STAMP)

$(ESPDL_STAMP): tests/espdl/constraints.txt
	@test -x $(ESPDL_PY) || python3 -m venv $(ESPDL_VENV)
	$(ESPDL_PY) -m pip install --quiet --upgrade pip
	$(ESPDL_PY) -m pip install --quiet -c tests/espdl/constraints.txt torch==2.13.0 esp-ppq==1.3.12
	@touch $@

# The `#| espdl` cells (about 80 s): in nbs/21_espdl.ipynb the HAPT student trained for 6 epochs, exported to .espdl, its
# simulated INT8 accuracy on the test subjects through the gate, a broken calibration rejected; in nbs/18_cli.ipynb
# `mmdistill quantize --artifacts onnx,c,espdl`; in nbs/17_jobs.ipynb the demo's build_espdl. Ends with one line `N passed, N failed` (one result per notebook).
ESPDL_NOTEBOOKS := nbs/21_espdl.ipynb nbs/18_cli.ipynb nbs/17_jobs.ipynb
test-espdl: install espdl
	@p=0; f=0; for nb in $(ESPDL_NOTEBOOKS); do \
	  if OMP_NUM_THREADS=1 .venv/bin/nbdev_test --path $$nb --flags espdl; then p=$$((p+1)); else f=$$((f+1)); echo "FAILED: $$nb"; fi; \
	done; echo "$$p passed, $$f failed"; test $$f -eq 0

# Developer helpers: regenerate the package from the notebooks and clean the notebooks.
export: install
	.venv/bin/nbdev_export && .venv/bin/nbdev_clean

# Run the notebooks and save their outputs in place (what a reader sees on GitHub and in the docs); then commit them.
outputs: install
	$(PY) tools/save_outputs.py $(NOTEBOOKS)

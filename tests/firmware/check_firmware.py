"""The student as firmware, end to end: a trained microcontroller student, shipped as the main job ships it (export_student:
INT8 ONNX, 7-bit weights when 8-bit ones fail the validation check), turned into C by `export_c`, then

- compiled for this machine (gcc -std=c99 -Wall -Wextra -pedantic -Werror -O2) and compared with onnxruntime on all
  3,162 HAPT test windows (`verify_c`);
- cross-compiled for a Cortex-M4 (arm-none-eabi-gcc) and run under QEMU's MPS2 AN386 board on the same windows: its outputs
  must equal the host's bit for bit; its flash and RAM (arm-none-eabi-size -A) must fit 16 KB and 8 KB.

Needs gcc, arm-none-eabi-gcc and qemu-system-arm: run it with `make test-firmware`, which installs them. Not collected by
`make test` (the file name does not start with test_). Figures go to build/firmware/results.json."""
import json, time
from pathlib import Path

import numpy as np
import pytest
import torch

import m4

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "build" / "firmware" / "results.json"
EPOCHS = 8
FLASH_LIMIT, RAM_LIMIT = 16 * 1024, 8 * 1024
results = {}


def setup_module():
    if m4.missing_tools():
        pytest.fail(f"missing {m4.missing_tools()}: run `make test-firmware`, which installs gcc-arm-none-eabi and qemu-system-arm")


def teardown_module():
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, default=str))
    print("\n" + json.dumps(results, indent=1, default=str))


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    from mmdistill.datasets import load_hapt
    from mmdistill.firmware import export_c
    from mmdistill.jobs import export_student
    from mmdistill.recipes import DemoConfig, fit_hapt_student
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("firmware")
    data = {s: load_hapt(s) for s in ("train", "val", "test")}
    cfg = DemoConfig(student_epochs=EPOCHS)
    start = time.perf_counter()
    student = fit_hapt_student(data, out / "student", cfg).load_best().eval()
    results["train_s"] = round(time.perf_counter() - start, 1)
    fp32, int8 = export_student(student, data, out, cfg)
    results["int8"] = {"path": Path(int8["path"]).name, "reduce_range": int8["reduce_range"], "size_bytes": int8["int8_size_bytes"],
                       "validation_check_8bit": int8.get("validation_check_8bit")}
    c = export_c(int8["path"], out / "c")
    c_ff = export_c(int8["path"], out / "c_float_free", float_free=True)
    results["export_c"] = {k: c[k] for k in ("arena_bytes", "weight_bytes", "input_len", "output_len", "steps")}
    return {"fp32": fp32["path"], "int8": int8["path"], "c": c, "c_ff": c_ff, "data": data, "out": out}


def _summary(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "outputs"}


@pytest.fixture(scope="module")
def host(shipped):
    from mmdistill.firmware import verify_c
    start = time.perf_counter()
    r = verify_c(shipped["int8"], Path(shipped["c"]["header"]).parent, shipped["data"]["test"])
    r["seconds"] = round(time.perf_counter() - start, 1)
    results["host"] = _summary(r)
    return r


def test_host_c_matches_onnxruntime_on_all_test_windows(host):
    assert host["n"] == 3162
    assert host["float_entry_matches_int8_entry"]
    graph = host["vs_onnxruntime_unfused"]       # the QDQ graph as written: the model's definition
    assert graph["max_lsb"] <= 1 and graph["predictions_identical"], graph
    fused = host["vs_onnxruntime"]               # the shipped session; CPU-dependent kernels (see the Firmware chapter)
    assert fused["predictions_differing"] <= host["onnxruntime_fused_vs_unfused"]["predictions_differing"], fused


def test_seven_bit_weights_match_the_shipped_onnxruntime_session(shipped):
    "With 7-bit weights onnxruntime's fused kernels cannot saturate: the C program then matches the shipped session too."
    from mmdistill.firmware import export_c, verify_c
    from mmdistill.quantize import quantize_onnx
    int8 = quantize_onnx(shipped["fp32"], shipped["data"]["train"], shipped["out"] / "student_int8_7bit.onnx", num_samples=300,
                         reduce_range=True)
    export_c(int8["path"], shipped["out"] / "c_7bit")
    r = verify_c(int8["path"], shipped["out"] / "c_7bit", shipped["data"]["test"])
    results["host_7bit_weights"] = _summary(r)
    for ref in ("vs_onnxruntime", "vs_onnxruntime_unfused"):
        assert r[ref]["max_lsb"] <= 1 and r[ref]["predictions_identical"], (ref, r[ref])


def test_float_free_c_has_no_floating_point(shipped, host):
    from mmdistill.firmware import verify_c
    c_dir = Path(shipped["c_ff"]["header"]).parent
    r = verify_c(shipped["int8"], c_dir, shipped["data"]["test"])
    assert r["general_regs_only_compiles"]
    np.testing.assert_array_equal(r["outputs"], host["outputs"])
    calls = m4.soft_float_calls(c_dir)
    results["float_free"] = {"identical_to_float_build": True, "soft_float_calls": calls}
    assert calls == [], calls


# A caller written as firmware would be, knowing only student.h: not the package's harness. Windows and labels come in as
# raw binary files; it prints how many windows it classified right.
OUTSIDE_C = r"""#include <stdio.h>
#include "student.h"

int main(int argc, char **argv) {
    static float window[MMDISTILL_INPUT_LEN], logits[MMDISTILL_OUTPUT_LEN];
    FILE *xs, *ys;
    long n = 0, right = 0;
    int label;
    if (argc != 3 || !(xs = fopen(argv[1], "rb")) || !(ys = fopen(argv[2], "rb"))) return 3;
    while (fread(window, sizeof(float), MMDISTILL_INPUT_LEN, xs) == MMDISTILL_INPUT_LEN && fread(&label, sizeof label, 1, ys) == 1) {
        int best = 0, k;
        if (mmdistill_invoke(window, logits) != 0) return 2;
        for (k = 1; k < MMDISTILL_OUTPUT_LEN; k++) if (logits[k] > logits[best]) best = k;
        right += best == label;
        n++;
    }
    printf("%ld %ld\n", right, n);
    return 0;
}
"""


def test_outside_harness_reproduces_the_int8_accuracy(shipped, host):
    "An outside caller that includes only student.h and links student.c scores what onnxruntime scores running the INT8 graph."
    import subprocess
    from mmdistill.firmware import C_FLAGS
    c_dir, work = Path(shipped["c"]["header"]).parent, shipped["out"] / "outside"
    work.mkdir(exist_ok=True)
    (work / "main.c").write_text(OUTSIDE_C)
    exe = work / "outside"
    subprocess.run(["gcc", *C_FLAGS, "-I", str(c_dir), str(work / "main.c"), str(c_dir / "student.c"), "-o", str(exe)], check=True)
    test = shipped["data"]["test"]
    test.signals["acc"].numpy().astype("<f4").tofile(work / "windows.f32")
    np.asarray(test.labels).astype("<i4").tofile(work / "labels.i32")
    right, n = map(int, subprocess.run([str(exe), str(work / "windows.f32"), str(work / "labels.i32")], check=True,
                                       capture_output=True, text=True).stdout.split())
    results["outside_harness"] = {"windows": n, "right": right, "accuracy": right / n,
                                  "onnxruntime_int8_graph_accuracy": host["accuracy"]["onnxruntime_unfused"],
                                  "onnxruntime_session_accuracy": host["accuracy"]["onnxruntime"]}
    assert n == len(test) == 3162
    assert right / n == host["accuracy"]["onnxruntime_unfused"]     # onnxruntime running the INT8 graph as written


@pytest.mark.parametrize("float_free", [False, True], ids=["float_entry", "int8_entry"])
def test_cortex_m4_under_qemu_matches_host(shipped, host, float_free):
    from mmdistill.firmware import quantize_input
    c = shipped["c_ff" if float_free else "c"]
    work = shipped["out"] / f"m4_{'q' if float_free else 'f'}"
    elf = m4.build_elf(Path(c["header"]).parent, work, float_free=float_free)
    sizes = m4.elf_sizes(elf)
    x = shipped["data"]["test"].signals["acc"].numpy().astype(np.float32)
    start = time.perf_counter()
    if float_free:
        run = m4.run_qemu(elf, quantize_input(x, c["input_scale"], c["input_zero_point"]), np.int8, c["output_len"], work)
        q = run["outputs"].astype(np.int64)
    else:
        run = m4.run_qemu(elf, x, np.float32, c["output_len"], work)
        q = np.rint(run["outputs"].astype(np.float64) / np.float64(np.float32(c["output_scale"]))).astype(np.int64) + c["output_zero_point"]
    seconds = round(time.perf_counter() - start, 1)
    key = "m4_int8_entry" if float_free else "m4_float_entry"
    results[key] = {"windows": run.get("windows"), "qemu_s": seconds, "stack_peak_bytes": run.get("stack_peak_bytes"),
                    "stack_reserved_bytes": run.get("stack_size_bytes"), "flash_bytes": sizes["flash_bytes"],
                    "ram_bytes": sizes["ram_bytes"], "sections": sizes["sections"],
                    "identical_to_host": bool((q == host["outputs"]).all()),
                    "predictions_identical": bool((q.argmax(1) == host["outputs"].argmax(1)).all())}
    print(sizes["size_A"])
    assert run.get("windows") == len(x) == 3162
    np.testing.assert_array_equal(q, host["outputs"].astype(np.int64))
    assert run["stack_peak_bytes"] < run["stack_size_bytes"]
    assert sizes["flash_bytes"] <= FLASH_LIMIT and sizes["ram_bytes"] <= RAM_LIMIT, sizes["size_A"]

"""Inference of the students: PyTorch eager FP32, onnxruntime FP32 and onnxruntime INT8, latency and throughput.

For each student of `mmdistill.distill` (`mcu_student`, the microcontroller one the demo ships, and `phone_student`),
built with its default settings and **random initial weights** (timing does not depend on the weight values; the
distillation table reports accuracy), the script:

1. exports it to ONNX FP32 with `export_onnx` (parity with PyTorch checked), and quantizes it to INT8 with
   `quantize_onnx` (static, QDQ, per-channel, 300 calibration windows from the HAPT training subjects), as the demo does;
2. times PyTorch eager FP32 (`torch.inference_mode`), onnxruntime FP32 and onnxruntime INT8 on real HAPT test windows
   (acc, 128 × 3): latency p50 / p90 at batch 1 and throughput at batch 256, for each thread count in `--threads`
   (torch and onnxruntime intra-op threads alike). onnxruntime is timed with `mmdistill.quantize.benchmark_onnx`, eager
   with the same loop (`--warmup` runs, then `--repeats` timed runs; throughput = batch / mean time);
3. profiles both ONNX models at batch 256 with onnxruntime's profiler (at the first thread count, and wherever INT8 is
   not faster) and reports where the time goes.

    python benchmarks/inference.py                  # both students, 1 and 2 threads
    python benchmarks/inference.py --quick          # mcu student, 1 thread, few repeats: a smoke test
"""
from __future__ import annotations
import argparse, json, os, sys, tempfile, time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402


def students():
    from mmdistill.distill import mcu_student, phone_student
    return {"mcu": mcu_student, "phone": phone_student}


def time_eager(model, x: np.ndarray, batch_sizes, warmup, repeats) -> dict:
    "Latency at the first batch size and throughput at the last, as `benchmark_onnx` measures them."
    runs = []
    for bs in batch_sizes:
        batch = {"acc": torch.from_numpy(np.ascontiguousarray(x[np.arange(bs) % len(x)]))}
        with torch.inference_mode():
            for _ in range(warmup): model(batch)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter(); model(batch); times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1e3
        runs.append({"batch_size": bs, "p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
                     "samples_per_s": float(bs / (ms.mean() / 1e3))})
    return {"latency_p50_ms": runs[0]["p50_ms"], "latency_p90_ms": runs[0]["p90_ms"],
            "throughput_samples_per_s": runs[-1]["samples_per_s"], "runs": runs}


def ort_profile(path, x: np.ndarray, batch: int, threads: int, runs: int = 20) -> dict:
    "Share of onnxruntime's kernel time by operator type at `batch`, from its profiler, and the mean ms per run."
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.enable_profiling = True
    with tempfile.TemporaryDirectory(prefix="mmdistill-ortprof-") as tmp:
        so.profile_file_prefix = str(Path(tmp) / "prof")
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: np.ascontiguousarray(x[np.arange(batch) % len(x)])}
        for _ in range(5): sess.run(None, feed)
        events = json.loads(Path(sess.end_profiling()).read_text())
    by_op, nodes = defaultdict(float), defaultdict(set)
    model_runs = [e["dur"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    # the profile covers the 5 runs above; kernel events are named "<node>_kernel_time"
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e["args"].get("op_name", "?")
            by_op[op] += e["dur"]
            nodes[op].add(e["name"])
    total = sum(by_op.values()) or 1.0
    return {"ms_per_run": float(np.mean(model_runs)) / 1e3 if model_runs else None,
            "ops": {op: {"share": d / total, "ms_per_run": d / 1e3 / max(1, len(model_runs)), "nodes": len(nodes[op])}
                    for op, d in sorted(by_op.items(), key=lambda kv: -kv[1])}}


def describe_profile(p: dict, top: int = 6) -> str:
    return ", ".join(f"{op} ×{v['nodes']} {100 * v['share']:.0f}%" for op, v in list(p["ops"].items())[:top])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--students", nargs="+", default=["mcu", "phone"], choices=["mcu", "phone"])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--calibration", type=int, default=300, help="calibration windows from the training subjects")
    ap.add_argument("--out", default="runs/bench/inference", help="folder for the ONNX files")
    ap.add_argument("--quick", action="store_true", help="mcu student, 1 thread, 20 repeats")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results.md)")
    a = ap.parse_args()
    if a.quick: a.students, a.threads, a.warmup, a.repeats = ["mcu"], [1], 3, 20
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from mmdistill.core import count_parameters, seed_everything
    from mmdistill.data import collate_multimodal
    from mmdistill.datasets import load_hapt
    from mmdistill.export import export_onnx
    from mmdistill.footprint import mcu_summary
    from mmdistill.quantize import benchmark_onnx, quantize_onnx
    load = _results.load_busy()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    train, test = load_hapt("train"), load_hapt("test")
    x = test.signals["acc"][:256].numpy()
    example = collate_multimodal([train[i] for i in range(8)])
    result = {"rows": [], "profiles": {}, "models": {}}
    for name in a.students:
        seed_everything(0)
        model = students()[name]().eval()
        fp32 = export_onnx(model, example, out / f"{name}_fp32.onnx", modalities=["acc"])
        int8 = quantize_onnx(fp32["path"], train, out / f"{name}_int8.onnx", num_samples=a.calibration, seed=0)
        mcu = mcu_summary(int8["path"])
        result["models"][name] = {"params": count_parameters(model)["total"],
                                  "eager_bytes": sum(t.numel() * t.element_size() for t in model.state_dict().values()),
                                  "fp32_bytes": fp32["size_bytes"], "int8_bytes": int8["int8_size_bytes"], "macs": mcu["macs"]}
        for threads in a.threads:
            torch.set_num_threads(threads)
            timings = {"PyTorch eager FP32": time_eager(model, x, (1, 256), a.warmup, a.repeats),
                       "onnxruntime FP32": benchmark_onnx(fp32["path"], {"acc": x}, (1, 256), a.warmup, a.repeats, threads),
                       "onnxruntime INT8": benchmark_onnx(int8["path"], {"acc": x}, (1, 256), a.warmup, a.repeats, threads)}
            for runtime, t in timings.items():
                result["rows"].append({"student": name, "threads": threads, "runtime": runtime,
                                       "p50_ms": t["latency_p50_ms"], "p90_ms": t["latency_p90_ms"],
                                       "throughput": t["throughput_samples_per_s"]})
            print(json.dumps(result["rows"][-3:]), flush=True)
            slower = timings["onnxruntime INT8"]["throughput_samples_per_s"] < timings["onnxruntime FP32"]["throughput_samples_per_s"]
            if slower or threads == a.threads[0]:  # where the time goes: always for the first thread count, and wherever INT8 loses
                result["profiles"][f"{name}/{threads}"] = {k: ort_profile(p, x, 256, threads)
                                                           for k, p in (("FP32", fp32["path"]), ("INT8", int8["path"]))}
    Path(out / "results.json").write_text(json.dumps(result, indent=1))
    _results.write_section("inference", render(result, a, load), a.results)
    print(render(result, a, load))


def render(result, a, load) -> str:
    rows, verdicts = [], []
    for r in result["rows"]:
        m = result["models"][r["student"]]
        size = {"PyTorch eager FP32": m["eager_bytes"], "onnxruntime FP32": m["fp32_bytes"], "onnxruntime INT8": m["int8_bytes"]}[r["runtime"]]
        cmd = f"`python benchmarks/inference.py --students {r['student']} --threads {r['threads']}`"
        rows.append([f"{r['student']} ({m['params']:,} params)", r["threads"], r["runtime"], f"{r['p50_ms']:.3f}", f"{r['p90_ms']:.3f}",
                     f"{r['throughput']:,.0f}", f"{size / 1024:.1f} KB", cmd])
    for name in dict.fromkeys(r["student"] for r in result["rows"]):
        for threads in dict.fromkeys(r["threads"] for r in result["rows"]):
            got = {r["runtime"]: r["throughput"] for r in result["rows"] if r["student"] == name and r["threads"] == threads}
            if not got: continue
            ratio = got["onnxruntime INT8"] / got["onnxruntime FP32"]
            line = (f"- {name}, {threads} thread{'s' if threads > 1 else ''}: INT8 / FP32 throughput at batch 256 = {ratio:.2f}: "
                    f"target (INT8 no slower) {'met' if ratio >= 1 else 'NOT met'}.")
            prof = result["profiles"].get(f"{name}/{threads}")
            if prof:
                line += (f" onnxruntime profile at batch 256 (share of kernel time, after graph optimisation): "
                         f"FP32 {prof['FP32']['ms_per_run']:.2f} ms/run — {describe_profile(prof['FP32'])}; "
                         f"INT8 {prof['INT8']['ms_per_run']:.2f} ms/run — {describe_profile(prof['INT8'])}.")
            verdicts.append(line)
    models = "; ".join(f"{k}: {v['params']:,} parameters, {v['macs']:,} multiply-accumulates per window" for k, v in result["models"].items())
    quick = " — **quick run: a smoke test, not a result**" if a.quick else ""
    lines = [f"## 3. Inference of the students{quick}", "",
             f"{_results.today()}; {_results.machine(None, ('torch', 'onnxruntime'))}; {load}.", "",
             _results.table(["student", "threads", "runtime", "p50 ms (batch 1)", "p90 ms (batch 1)",
                             "throughput /s (batch 256)", "model size", "command"], rows), "",
             *verdicts, "",
             f"Students with **random initial weights** (timing does not depend on the values); {models}. Inputs: HAPT test "
             f"windows (acc, 128 × 3). {a.warmup} warm-up and {a.repeats} timed runs per cell; throughput = batch / mean "
             "time. Model size: FP32 state dict bytes (eager), .onnx file bytes (onnxruntime). INT8: static QDQ, per-channel "
             f"weights, int8 activations, {a.calibration} calibration windows from the training subjects (`quantize_onnx`, "
             "as in the demo).", "", f"Command: `{_results.command('inference.py')}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""End to end: wall time of each stage of `mmdistill demo`, the main job on HAPT.

Runs the real command (`mmdistill demo --out runs/bench/demo --no-progress --threads N`) in a subprocess and reads
the seconds per stage that `run_demo` writes into its `report.json` (`seconds`); the difference between the process's
wall time and the stages' total is start-up (Python, imports) and writing the report.

    python benchmarks/end_to_end.py              # the demo as `make demo` runs it (light recipe, about 3 minutes on 2 cores)
    python benchmarks/end_to_end.py --recipe full   # the full recipe (about 6 minutes)
    python benchmarks/end_to_end.py --quick      # `mmdistill demo --quick`: two epochs per model, a smoke test
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

from mmdistill.recipes import DEMO_RECIPES

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

STAGES = {"data": "load HAPT (train, val, test; cached arrays)",
          "teacher": "train the acc + gyro teacher (SupCon + CE)",
          "teacher_eval": "teacher: test predictions, k-NN on embeddings",
          "student_scratch": "train the acc-only student alone, test accuracy",
          "student_kd": "distil the acc-only student from the teacher, test accuracy",
          "export_quantize": "export ONNX FP32, quantize INT8 (calibration)",
          "verify": "FP32 vs INT8 accuracy gate on the test subjects",
          "benchmark": "onnxruntime latency / throughput, MCU summary (an estimate)",
          "firmware": "the INT8 student as portable C: compiled, checked on the test windows, judged by the gate, flash/RAM from a build",
          "espdl": "the student as .espdl for ESP32 (esp-ppq, when its venv is there): exported, its INT8 simulation judged by the gate",
          "plots": "training curves, confusion matrix, embedding map"}


def _artifacts(report: dict) -> str:
    "The other shipped artifacts' test accuracy and verdict, as the report gives them."
    gates = report.get("gates") or {}
    names = {"c": "C build", "espdl": ".espdl (esp-ppq simulation)"}
    return "".join(f", {names[k]} {100 * g['accuracy']:.1f}% ({'accepted' if g['accepted'] else 'rejected'})"
                   for k, g in gates.items() if k in names and g)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", default="light", choices=sorted(DEMO_RECIPES), help="the demo's --recipe (light, its default, or full)")
    ap.add_argument("--out", default="runs/bench/demo")
    ap.add_argument("--quick", action="store_true", help="mmdistill demo --quick: checks that the script works")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results.md)")
    a = ap.parse_args()
    out = Path(a.out)
    if out.exists(): shutil.rmtree(out)  # a fresh run folder: nothing is resumed
    exe = Path(sys.executable).with_name("mmdistill")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from mmdistill.cli import main; sys.exit(main())"]
    args = ["demo", "--out", str(out), "--seed", str(a.seed), "--recipe", a.recipe, "--threads", str(a.threads), "--no-progress"] + (["--quick"] if a.quick else [])
    load = _results.load_busy()
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    t0 = time.perf_counter()
    r = subprocess.run(cli + args, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"mmdistill demo failed (exit {r.returncode}):\n{r.stderr[-4000:]}")
    report = json.loads((out / "report.json").read_text())
    seconds = report["seconds"]
    total = seconds["total"]
    rows = [[stage, STAGES.get(stage, ""), f"{v:.1f}", f"{100 * v / total:.0f}%"] for stage, v in seconds.items() if stage != "total"]
    rows.append(["start-up and report", "Python start, imports, writing report.json / report.md", f"{wall - total:.1f}", ""])
    rows.append(["**wall time**", f"`mmdistill {' '.join(args)}`", f"**{wall:.1f}**", ""])
    quick = " — **quick run: a smoke test, not a result**" if a.quick else ""
    cfg = report["config"]
    text = "\n".join([
        f"## 5. End to end: stages of `mmdistill demo`{quick}", "",
        f"{_results.today()}; {_results.machine(a.threads, ('torch', 'onnxruntime'))}; {load}.", "",
        _results.table(["stage", "what", "seconds", "share of stages"], rows), "",
        f"Recipe {cfg.get('recipe', 'full')}: teacher {cfg['teacher_epochs']} epochs, students {cfg['student_epochs']} epochs each (early stopping may end them "
        f"sooner), seed {a.seed}. Stage times are `run_demo`'s own (`report.json`, `seconds`); the run's results: teacher "
        f"{100 * report['teacher']['accuracy']:.1f}%, student alone {100 * report['student_scratch']['accuracy']:.1f}%, "
        f"distilled {100 * report['student_kd']['accuracy']:.1f}%, INT8 {100 * report['int8']['accuracy']:.1f}% "
        f"({'accepted' if report['accepted'] else 'rejected'}){_artifacts(report)} on the test subjects.", "",
        f"Command: `{_results.command('end_to_end.py')}`"]) + "\n"
    Path(out / "end_to_end.json").write_text(json.dumps({"wall_s": wall, "seconds": seconds, "command": cli + args}, indent=1))
    _results.write_section("end_to_end", text, a.results)
    print(text)


if __name__ == "__main__":
    main()

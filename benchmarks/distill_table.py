"""Distillation table: teacher, acc-only student alone, student distilled, INT8 student, over several seeds.

Each seed runs mmdistill's main job (`mmdistill.jobs.run_demo`, the same code as `mmdistill demo`) on HAPT:
the acc + gyro teacher, the conv-only microcontroller student trained alone and distilled from the teacher,
then the distilled student exported to ONNX and quantized to INT8. Accuracies are on the nine test subjects;
every choice is made on the validation subjects.

    python benchmarks/distill_table.py --seeds 0 1 2 3 4 --out runs/distill_table
    python benchmarks/distill_table.py --quick     # one seed, two epochs per model: a smoke test, not a result
    python benchmarks/distill_table.py --recipe light --seeds 0 1 2 3 4   # what `mmdistill demo` runs

`--recipe` names a `DemoConfig.preset` (default full, the recipe of the README's main table); each recipe has its own
section of `benchmarks/results.md`.

writes `results.json` and `results.md` in `--out`, its section of `benchmarks/results.md`, and prints the table.
"""
import argparse, json, os, sys, time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from mmdistill.recipes import DEMO_RECIPES, DemoConfig
from mmdistill.jobs import run_demo
from mmdistill.evaluate import save_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--out", default="runs/distill_table")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--recipe", default="full", choices=sorted(DEMO_RECIPES), help="the DemoConfig.preset each seed runs")
    ap.add_argument("--quick", action="store_true", help="seed 0 only, two epochs per model: checks that the script works")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results.md)")
    ap.add_argument("--render-only", action="store_true", help="rewrite results.md from an existing results.json")
    a = ap.parse_args()
    if a.quick and a.seeds == ap.get_default("seeds"): a.seeds = [0]
    if a.quick and a.out == ap.get_default("out"): a.out = "runs/distill_table_quick"  # keep a real run's results.json
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    if a.render_only:
        result = json.loads((out / "results.json").read_text())
        result.setdefault("best_epochs", best_epochs(out, result["seeds"]))
        result.setdefault("last_epoch", last_epoch_accuracy(out, result["seeds"]))
        reports = [out / f"seed{seed}" / "report.json" for seed in result["seeds"]]
        if "reduce_range" not in result and all(f.exists() for f in reports):
            result["reduce_range"] = [bool(json.loads(f.read_text())["int8"].get("reduce_range")) for f in reports]
        (out / "results.md").write_text(render(result)); print(render(result))
        _results.write_section(section_name(result), render(result, section=True), a.results)
        return
    torch.set_num_threads(a.threads)
    load = _results.load_busy()
    reports = []
    for seed in a.seeds:
        r = run_demo(out / f"seed{seed}", DemoConfig.preset(a.recipe, seed=seed, quick=a.quick), overwrite=True)  # a rerun replaces the seed's run
        reports.append(r)
        print(json.dumps({"seed": seed, **{k: r[k]["accuracy"] for k in ("teacher", "student_scratch", "student_kd", "fp32", "int8")}}), flush=True)
    rows = [("teacher (acc + gyro), head", "teacher", "accuracy", "params", None),
            ("teacher (acc + gyro), k-NN", "teacher", "knn_accuracy", None, None),
            ("student alone (acc)", "student_scratch", "accuracy", "params", None),
            ("student distilled (acc)", "student_kd", "accuracy", "params", None),
            ("student distilled, ONNX FP32", "fp32", "accuracy", None, "size_bytes"),
            ("student distilled, ONNX INT8", "int8", "accuracy", None, "size_bytes")]
    summary = {}
    for label, part, key, pkey, skey in rows:
        v = np.array([r[part][key] for r in reports])
        summary[label] = {"mean": float(v.mean()), "std": float(v.std()), "values": v.tolist(),
                          "params": reports[0][part][pkey] if pkey else None, "bytes": reports[0][part][skey] if skey else None}
    kd_wins = sum(r["student_kd"]["accuracy"] > r["student_scratch"]["accuracy"] for r in reports)
    machine = f"{_results.machine(a.threads, ('torch', 'onnxruntime'))}; {load}"
    command = (f"python benchmarks/distill_table.py" + (f" --recipe {a.recipe}" if a.recipe != "full" else "")
               + f" --seeds {' '.join(map(str, a.seeds))}" + (" --quick" if a.quick else "")
               + (f" --threads {a.threads}" if a.threads != ap.get_default("threads") else ""))
    result = {"seeds": a.seeds, "summary": summary, "best_epochs": best_epochs(out, a.seeds),
              "last_epoch": last_epoch_accuracy(out, a.seeds), "kd_beats_scratch": f"{kd_wins}/{len(reports)} seeds",
              "accepted": [r["accepted"] for r in reports], "reduce_range": [bool(r["int8"].get("reduce_range")) for r in reports],
              "seconds": [r["seconds"]["total"] for r in reports],
              "config": reports[0]["config"], "machine": machine, "date": time.strftime("%Y-%m-%d"), "command": command,
              "quick": a.quick}
    save_json(result, out / "results.json")
    (out / "results.md").write_text(render(result))
    _results.write_section(section_name(result), render(result, section=True), a.results)
    print(render(result))


def section_name(result: dict) -> str:
    "The results.md section of a run: `distill` for the full recipe, `distill_<recipe>` for another."
    recipe = result["config"].get("recipe", "full")
    return "distill" if recipe == "full" else f"distill_{recipe}"


def paired_difference(distilled, alone) -> dict:
    "Distilled minus alone per seed (points), their mean and its 95% Student-t interval (None for fewer than 2 seeds)."
    d = 100 * (np.asarray(distilled, dtype=float) - np.asarray(alone, dtype=float))
    out = {"values": d.tolist(), "mean": float(d.mean()), "low": None, "high": None}
    if len(d) >= 2:
        half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        out.update(low=out["mean"] - half, high=out["mean"] + half)
    return out


def best_epochs(out: Path, seeds) -> dict:
    "Per seed, the epoch each student's checkpoint was chosen at (best validation accuracy), from the run folders' histories."
    def best(path):
        h = json.loads(path.read_text()) if path.exists() else []
        return max(h, key=lambda r: r["val_accuracy"])["epoch"] if h else None
    return {str(seed): {m: best(out / f"seed{seed}" / m / "history.json") for m in ("student_scratch", "student_kd")} for seed in seeds}


def last_epoch_accuracy(out: Path, seeds) -> dict | None:
    "Test accuracy of each student's last-epoch weights (`latest.safetensors`): how much choosing the epoch on 3 validation subjects moves."
    from mmdistill.core import load_checkpoint
    from mmdistill.datasets import load_hapt
    from mmdistill.jobs import head_accuracy
    paths = {seed: {m: out / f"seed{seed}" / m / "latest.safetensors" for m in ("student_scratch", "student_kd")} for seed in seeds}
    if not all(f.exists() for d in paths.values() for f in d.values()): return None
    test = load_hapt("test")
    return {str(seed): {m: head_accuracy(load_checkpoint(f)[0].eval(), test) for m, f in d.items()} for seed, d in paths.items()}


def per_seed(result: dict) -> list:
    "Markdown rows, one per seed: each model's test accuracy, distilled minus alone, and the students' chosen epochs."
    s, epochs = result["summary"], result.get("best_epochs") or {}
    cols = ["teacher (acc + gyro), head", "student alone (acc)", "student distilled (acc)", "student distilled, ONNX INT8"]
    lines = ["| seed | teacher | student alone | student distilled | INT8 | distilled − alone (points) | chosen epoch, alone / distilled |",
             "|---|---|---|---|---|---|---|"]
    for i, seed in enumerate(result["seeds"]):
        v = [s[c]["values"][i] for c in cols]
        e = epochs.get(str(seed), {})
        chosen = f"{e.get('student_scratch')} / {e.get('student_kd')}" if e else ""
        lines.append(f"| {seed} | " + " | ".join(f"{100 * x:.1f}%" for x in v) + f" | {100 * (v[2] - v[1]):+.1f} | {chosen} |")
    return lines


def render(result: dict, section: bool = False) -> str:
    "The results as a Markdown table; `section` adds the title and a command column for `benchmarks/results.md`."
    quick = " — **quick run: a smoke test, not a result**" if result.get("quick") else ""
    recipe = result["config"].get("recipe", "full")
    number, seeds = ("4" if recipe == "full" else "4b"), f"{len(result['seeds'])} seed{'s' if len(result['seeds']) > 1 else ''}"
    head = ([f"## {number}. Distillation table, {recipe} recipe: HAPT test subjects, {seeds}{quick}", "",
             f"{result['date']}; {result['machine']}.", ""] if section else
            [f"HAPT distillation, {recipe} recipe, {seeds} ({result['date']}, {result['machine']})", ""])
    cmd = f" `{result['command']}` |" if section else ""
    lines = head + ["| model | test accuracy (mean ± std) | parameters | file |" + (" command |" if section else ""),
                    "|---|---|---|---|" + ("---|" if section else "")]
    for label, s in result["summary"].items():
        params = f"{s['params']:,}" if s["params"] else ""
        size = f"{s['bytes'] / 1024:.1f} KB" if s["bytes"] else ""
        lines.append(f"| {label} | {100 * s['mean']:.1f} ± {100 * s['std']:.1f}% | {params} | {size} |{cmd}")
    lines += ["", f"Distilled student beats the student alone on {result['kd_beats_scratch']}; INT8 accepted (≤ 1 point below FP32) "
              f"on {sum(result['accepted'])}/{len(result['accepted'])} seeds"
              + (f" ({sum(result['reduce_range'])} of them with 7-bit weights, their 8-bit version having lost more than the "
                 "threshold on the validation subjects)" if "reduce_range" in result else "")
              + f"; {np.mean(result['seconds']):.0f} s per seed."]
    d = paired_difference(result["summary"]["student distilled (acc)"]["values"], result["summary"]["student alone (acc)"]["values"])
    interval = (f" (95% interval {d['low']:+.1f} to {d['high']:+.1f}, Student t over {len(d['values'])} paired seeds)"
                if d["low"] is not None else " (one seed: no interval)")
    lines += ["", f"Distilled minus alone, paired by seed: {d['mean']:+.1f} points{interval}.", ""] + per_seed(result) + ([] if section else [""])
    last = result.get("last_epoch")
    if last:
        alone, kd = ([last[str(seed)][m] for seed in result["seeds"]] for m in ("student_scratch", "student_kd"))
        dl = paired_difference(kd, alone)
        span = f" ({dl['low']:+.1f} to {dl['high']:+.1f})" if dl["low"] is not None else ""
        lines += ([] if lines[-1] == "" else [""]) + [f"The same students' last-epoch weights instead of the epoch chosen on the validation subjects (a diagnostic "
                  f"read on the test subjects, not a choice): alone {100 * np.mean(alone):.1f} ± {100 * np.std(alone):.1f}%, "
                  f"distilled {100 * np.mean(kd):.1f} ± {100 * np.std(kd):.1f}%, paired {dl['mean']:+.1f} points{span}.", ""]
    if section:
        c = result["config"]
        lines += ["", f"Recipe `DemoConfig.preset('{recipe}')`: teacher {c['teacher_epochs']} epochs (dropout "
                  f"{c.get('teacher_dropout', 0.2)}), students {c['student_epochs']} epochs, KD alpha {c['kd_alpha']}, "
                  f"temperature {c['kd_temperature']}.",
                  "", "Each seed runs the main job (`mmdistill.jobs.run_demo`, as `mmdistill demo --recipe " + recipe + "`): the acc + gyro teacher, the "
                  "conv-only microcontroller student trained alone and distilled from it, and the distilled student exported "
                  "to ONNX and quantized to INT8. Accuracy on the nine test subjects; every choice made on the validation "
                  "subjects. Parameters: PyTorch model; file: .onnx bytes. Every row comes from the one command below."]
    lines += [f"Command: `{result['command']}`" if not section else f"\nCommand: `{result['command']}`"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""Class-balanced batch sampling: one epoch of indices from mmdistill against pytorch-metric-learning.

Both samplers make batches of P distinct classes × K samples of each, about one pass over the labels per epoch:

- `mmdistill`: `ClassBalancedBatchSampler(labels, classes_per_batch=P, samples_per_class=K)`, which yields batches;
- `pml`: `MPerClassSampler(labels, m=K, batch_size=P*K, length_before_new_iter=len(labels))`, which yields the indices
  that a `DataLoader(batch_size=P*K)` cuts into the same batches.

Labels: 1,000,000 integers drawn uniformly from 1,000 classes (seed 0). Times are medians over `--repeats`: the
sampler's construction, and one epoch (`list(iter(sampler))`) after it; the target is judged on construction + one
epoch. Every batch of both is checked to hold exactly P classes × K samples.

    python benchmarks/sampler.py                # 1,000,000 labels, 1,000 classes, P=32, K=8
    python benchmarks/sampler.py --quick        # 100,000 labels, 100 classes: a smoke test
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

TARGET = 10.0


def build(name, labels, P, K):
    if name == "mmdistill":
        from mmdistill.samplers import ClassBalancedBatchSampler
        return ClassBalancedBatchSampler(labels, classes_per_batch=P, samples_per_class=K, seed=0)
    from pytorch_metric_learning.samplers import MPerClassSampler
    return MPerClassSampler(labels, m=K, batch_size=P * K, length_before_new_iter=len(labels))


def batches(name, epoch, P, K) -> np.ndarray:
    "The epoch as an array (batches, P*K)."
    if name != "pml": return np.asarray(epoch)
    flat = np.asarray(epoch)
    return flat[: len(flat) // (P * K) * (P * K)].reshape(-1, P * K)


def check(b: np.ndarray, labels: np.ndarray, P: int, K: int) -> bool:
    "Every batch holds exactly P classes with K samples each."
    lab = np.sort(labels[b], axis=1).reshape(len(b), P, K)
    same = (lab == lab[:, :, :1]).all(axis=(1, 2))
    distinct = (np.diff(lab[:, :, 0], axis=1) != 0).all(axis=1)
    return bool(same.all() and distinct.all())


def run(name, labels, P, K, repeats):
    init, epoch = [], []
    for r in range(repeats):
        np.random.seed(r)  # PML draws from numpy's global generator
        t0 = time.perf_counter(); s = build(name, labels, P, K); t1 = time.perf_counter()
        e = list(iter(s)); t2 = time.perf_counter()
        init.append(t1 - t0); epoch.append(t2 - t1)
    b = batches(name, e, P, K)
    return {"init_s": float(np.median(init)), "epoch_s": float(np.median(epoch)),
            "total_s": float(np.median(np.add(init, epoch))), "batches": int(len(b)), "samples": int(b.size),
            "balanced": check(b, labels, P, K), "repeats": repeats}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=int, default=1_000_000)
    ap.add_argument("--classes", type=int, default=1_000)
    ap.add_argument("--P", type=int, default=32, help="classes per batch")
    ap.add_argument("--K", type=int, default=8, help="samples per class")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100,000 labels over 100 classes, one repeat")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results.md)")
    ap.add_argument("--json", default="runs/bench/sampler.json")
    a = ap.parse_args()
    if a.quick: a.labels, a.classes, a.repeats = 100_000, 100, 1
    labels = np.random.default_rng(0).integers(0, a.classes, a.labels)
    import mmdistill.samplers, pytorch_metric_learning.samplers  # noqa: F401  imports are not part of the timing
    load = _results.load_busy()
    res = {k: run(k, labels, a.P, a.K, a.repeats) for k in ("mmdistill", "pml")}
    print(json.dumps(res), flush=True)
    m, p = res["mmdistill"], res["pml"]
    ratio, ratio_epoch = p["total_s"] / m["total_s"], p["epoch_s"] / m["epoch_s"]
    verdict = "met" if ratio >= TARGET else "NOT met"
    cmd = _results.command("sampler.py")
    quick = " — **quick run: a smoke test, not a result**" if a.quick else ""
    rows = [[name, f"{r['init_s']:.3f}", f"{r['epoch_s']:.3f}", f"{r['total_s']:.3f}", f"{r['batches']:,}", f"{r['samples']:,}",
             "yes" if r["balanced"] else "NO"] for name, r in (("mmdistill ClassBalancedBatchSampler", m),
                                                              ("PML MPerClassSampler", p))]
    text = "\n".join([
        f"## 2. Class-balanced sampler: one epoch of indices{quick}", "",
        f"{_results.today()}; {_results.machine(None, ('pytorch-metric-learning', 'numpy'))}; {load}.", "",
        _results.table(["sampler", "construction s", "one epoch s", "construction + epoch s", "batches", "samples",
                        f"every batch {a.P} classes × {a.K}"], rows), "",
        f"**PML / mmdistill: {ratio:.1f}× (construction + epoch), {ratio_epoch:.1f}× (epoch alone); "
        f"target ≥{TARGET:g}×: {verdict}.**", "",
        f"{a.labels:,} labels drawn uniformly from {a.classes:,} classes; batches of P={a.P} classes × K={a.K}; "
        f"medians of {a.repeats} runs. PML: `MPerClassSampler(labels, m={a.K}, batch_size={a.P * a.K}, "
        "length_before_new_iter=len(labels))`. Single-threaded numpy / Python on both sides.", "",
        f"Command: `{cmd}`"])
    text += "\n"
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps({**res, "ratio": ratio, "ratio_epoch": ratio_epoch, "command": cmd,
                                        "date": _results.today()}, indent=1))
    _results.write_section("sampler", text, a.results)
    print(text)


if __name__ == "__main__":
    main()

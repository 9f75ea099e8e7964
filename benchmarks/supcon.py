"""SupCon loss: forward + backward time and peak memory of mmdistill against pytorch-metric-learning and the paper's formula.

Three implementations of the same loss, L_out of Khosla et al. (2020) at temperature 0.1 on L2-normalised features,
the mean over the anchors that have a positive:

- `mmdistill`: `mmdistill.losses.SupConLoss` (custom autograd function, closed-form backward);
- `pml`: `pytorch_metric_learning.losses.SupConLoss(temperature=0.1)` with its default distance (`CosineSimilarity`,
  which normalises the embeddings) and reducer (`AvgNonZeroReducer`: the mean over anchors with a non-zero loss,
  i.e. those with a positive);
- `paper`: the formula written directly in PyTorch with autograd (below, `paper_supcon`), as in the authors' code.

Labels have 16 samples per class (N/16 classes, shuffled); features are (N, 128) float32, a random centre per class
plus Gaussian noise (cosine ~0.67 within a class, ~0 across), so the softmax is far from uniform.
Time: median of `--repeats` forward + backward passes after `--warmup`, the implementations interleaved so that a
busy machine slows them alike. Peak memory: each (implementation, N) runs once more in a fresh subprocess; on CPU
it resets the kernel's resident-set high-water mark (`/proc/self/clear_refs`) after a warm-up pass and reads
`VmHWM - VmRSS` after one forward + backward, with glibc told to serve every allocation of 64 KiB or more by mmap
(`MALLOC_MMAP_THRESHOLD_=65536`) so that freed buffers leave the resident set at once; on CUDA it uses
`torch.cuda.max_memory_allocated`. Values: the loss and the gradient with respect to the features of each
implementation are compared with the paper formula's on the same inputs.

    python benchmarks/supcon.py                 # N = 256, 1024, 4096 (about 2 minutes on 2 cores)
    python benchmarks/supcon.py --quick         # N = 128, 512: a smoke test
"""
from __future__ import annotations
import argparse, gc, json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402

IMPLS = ("mmdistill", "pml", "paper")
TARGETS = {1024: 2.5, 4096: 3.0}  # speed-up over pytorch-metric-learning required at these batch sizes


def paper_supcon(features: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    "L_out of Khosla et al. (2020), eq. 2, written as the formula reads (the structure of the authors' reference code)."
    z = F.normalize(features, dim=1)
    n = z.shape[0]
    logits = z @ z.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()  # numerical stability; the loss is unchanged
    not_self = 1 - torch.eye(n, device=z.device)
    positives = (labels[:, None] == labels[None, :]).float() * not_self
    log_prob = logits - torch.log((torch.exp(logits) * not_self).sum(1, keepdim=True))
    n_pos = positives.sum(1)
    has = n_pos > 0
    return -((positives * log_prob).sum(1)[has] / n_pos[has]).mean()


def make_impl(name: str, temperature: float):
    if name == "mmdistill":
        from mmdistill.losses import SupConLoss
        return SupConLoss(temperature)
    if name == "pml":
        from pytorch_metric_learning.losses import SupConLoss
        return SupConLoss(temperature=temperature)
    if name == "paper":
        return lambda f, y: paper_supcon(f, y, temperature)
    raise ValueError(name)


def make_inputs(n: int, dim: int, device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed + n)
    labels = (torch.arange(n) % max(2, n // 16))[torch.randperm(n, generator=g)]
    centres = torch.randn(int(labels.max()) + 1, dim, generator=g)
    feats = centres[labels] + 0.7 * torch.randn(n, dim, generator=g)  # clustered, as trained embeddings are
    return feats.to(device), labels.to(device)


def step(loss_fn, feats, labels):
    "One forward + backward; returns the loss and the gradient with respect to the features."
    f = feats.detach().requires_grad_(True)
    loss = loss_fn(f, labels)
    loss.backward()
    return loss.detach(), f.grad


def sync(device):
    if device.startswith("cuda"): torch.cuda.synchronize()


def time_all(n, args):
    "Median seconds of forward + backward per implementation, interleaved."
    feats, labels = make_inputs(n, args.dim, args.device)
    fns = {k: make_impl(k, args.temperature) for k in args.impls}
    warmup = args.warmup if n < 4096 else max(1, args.warmup // 2)
    repeats = args.repeats if n < 4096 else max(3, args.repeats // 2)
    for _ in range(warmup):
        for k in args.impls: step(fns[k], feats, labels)
    times = {k: [] for k in args.impls}
    for _ in range(repeats):
        for k in args.impls:
            sync(args.device); t0 = time.perf_counter()
            step(fns[k], feats, labels)
            sync(args.device); times[k].append(time.perf_counter() - t0)
    return {k: {"median_ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v)), "max_ms": 1e3 * float(np.max(v)),
                "repeats": repeats} for k, v in times.items()}


def agreement(n, args):
    "Max absolute differences of the loss and of the feature gradient against the paper formula."
    feats, labels = make_inputs(n, args.dim, args.device)
    out = {k: step(make_impl(k, args.temperature), feats, labels) for k in args.impls}
    ref_loss, ref_grad = out["paper"]
    res = {k: {"loss": float(out[k][0]), "loss_diff": float((out[k][0] - ref_loss).abs()),
               "grad_diff": float((out[k][1] - ref_grad).abs().max()), "grad_scale": float(ref_grad.abs().max())} for k in args.impls}
    res["mmdistill_vs_pml"] = {"loss_diff": float((out["mmdistill"][0] - out["pml"][0]).abs()),
                               "grad_diff": float((out["mmdistill"][1] - out["pml"][1]).abs().max())}
    return res


def _status(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"): return int(line.split()[1]) * 1024
    raise KeyError(key)


def memory_child(impl, n, args):
    "Peak bytes of one forward + backward above what was resident before it (run in a fresh process)."
    fn = make_impl(impl, args.temperature)
    feats, labels = make_inputs(n, args.dim, args.device)
    if args.device.startswith("cuda"):
        step(fn, feats, labels); gc.collect(); torch.cuda.synchronize(); torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
        step(fn, feats, labels); torch.cuda.synchronize()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - base, "method": "torch.cuda.max_memory_allocated"}
    step(fn, feats, labels)  # warm-up: lazy initialisation, thread pools
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
        base = _status("VmRSS")
        step(fn, feats, labels)
        return {"peak_bytes": _status("VmHWM") - base, "method": "VmHWM - VmRSS (clear_refs)"}
    except OSError:  # no /proc: the process-lifetime high-water mark, less what was resident before the pass
        import resource
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        step(fn, feats, labels)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
        return {"peak_bytes": peak - base, "method": "ru_maxrss delta (a lower bound)"}


def memory(impl, n, args):
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": str(args.threads)}
    cmd = [sys.executable, __file__, "--_memory", impl, str(n), "--dim", str(args.dim), "--device", args.device,
           "--threads", str(args.threads), "--temperature", str(args.temperature)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f"memory run {impl} N={n} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def mib(b): return f"{b / 2**20:.1f}"


def render(result, args) -> str:
    rows = []
    for r in result["rows"]:
        n, t, m, a = r["n"], r["time"], r["memory"], r["agreement"]
        vs_pml = t["pml"]["median_ms"] / t["mmdistill"]["median_ms"]
        vs_paper = t["paper"]["median_ms"] / t["mmdistill"]["median_ms"]
        mem_ok = m["mmdistill"]["peak_bytes"] <= min(m["pml"]["peak_bytes"], m["paper"]["peak_bytes"])
        checks = []
        if n in TARGETS: checks.append(f"≥{TARGETS[n]:g}× PML: {'met' if vs_pml >= TARGETS[n] else 'NOT met'}")
        checks.append(f"≥1× paper: {'met' if vs_paper >= 1 else 'NOT met'}")
        checks.append(f"memory ≤ both: {'met' if mem_ok else 'NOT met'}")
        diff = max(a["mmdistill"]["loss_diff"], a["pml"]["loss_diff"], a["mmdistill_vs_pml"]["loss_diff"])
        gdiff = max(a["mmdistill"]["grad_diff"], a["pml"]["grad_diff"], a["mmdistill_vs_pml"]["grad_diff"])
        cmd = f"`python benchmarks/supcon.py --batch-sizes {n}" + (f" --threads {args.threads}" if args.threads != 2 else "") + "`"
        rows.append([n, *(f"{t[k]['median_ms']:.1f}" for k in IMPLS), f"{vs_pml:.2f}×", f"{vs_paper:.2f}×",
                     *(mib(m[k]["peak_bytes"]) for k in IMPLS), f"{diff:.1e} / {gdiff:.1e}", "; ".join(checks), cmd])
    quick = " — **quick run: a smoke test, not a result**" if args.quick else ""
    lines = [f"## 1. SupCon loss: forward + backward{quick}", "",
             f"{result['date']}; {result['machine']}; {result['load']}; device {args.device}.", "",
             _results.table(["N", "mmdistill ms", "PML ms", "paper ms", "PML / mmdistill", "paper / mmdistill",
                             "mmdistill MiB", "PML MiB", "paper MiB", "max abs diff loss / grad", "targets", "command"], rows), "",
             f"Dimension {args.dim}, float32, temperature {args.temperature}, 16 samples per class. Time: median of "
             f"{args.repeats} interleaved forward + backward passes after {args.warmup} warm-up passes (half as many at N=4096). "
             "Peak memory: one forward + backward in a fresh process, after a warm-up pass; "
             f"{result['rows'][0]['memory']['mmdistill']['method']}, glibc allocations of 64 KiB or more by mmap so freed "
             "buffers leave the resident set; it counts everything the pass allocates, the feature gradient included. "
             "Max abs diff: the largest of the loss and feature-gradient differences between any two implementations "
             "(float32). PML = pytorch-metric-learning `SupConLoss(temperature=0.1)`; paper = `paper_supcon` in "
             "`benchmarks/supcon.py`, the formula with autograd.", "",
             f"Command: `{result['command']}`"]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to time on the GPU")
    ap.add_argument("--quick", action="store_true", help="N = 128 and 512, 3 repeats: checks that the script works")
    ap.add_argument("--results", default=None, help="results file (default benchmarks/results.md)")
    ap.add_argument("--json", default="runs/bench/supcon.json", help="where to keep the raw figures")
    ap.add_argument("--_memory", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args._memory:
        print(json.dumps(memory_child(args._memory[0], int(args._memory[1]), args)))
        return
    args.impls = IMPLS
    if args.quick: args.batch_sizes, args.repeats, args.warmup = [128, 512], 3, 1
    load = _results.load_busy()
    result = {"command": _results.command("supcon.py"), "machine": _results.machine(args.threads), "date": _results.today(),
              "load": load, "rows": []}
    for n in args.batch_sizes:
        row = {"n": n, "agreement": agreement(n, args), "time": time_all(n, args),
               "memory": {k: memory(k, n, args) for k in args.impls}}
        result["rows"].append(row)
        print(json.dumps({"n": n, **{k: round(row["time"][k]["median_ms"], 2) for k in args.impls},
                          **{f"{k}_MiB": round(row["memory"][k]["peak_bytes"] / 2**20, 1) for k in args.impls}}), flush=True)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    text = render(result, args)
    _results.write_section("supcon", text, args.results)
    print(text)


if __name__ == "__main__":
    main()

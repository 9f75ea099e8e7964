"""The optimizer step of the HAPT teacher: torch's AdamW as a Python loop, with `foreach` (torch's default) and `fused`.

`mmdistill.train.Optimization(fused=True)` asks torch for its fused Adam / AdamW kernel. This script measures what that
buys on the main job's teacher (`hapt_teacher()`, its parameters with gradients of the same shapes): the median time of
one `optimizer.step()` over `--steps` steps after `--warmup`, for each implementation, and the ratio against torch's
default (`foreach`), the one a user gets without asking. It also checks that the three give the same parameters after
the same steps (to 1e-5), so the speed is not bought with a different update.

    python benchmarks/optimizer.py --threads 2
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _results  # noqa: E402


def step_times(kind: str, steps: int, warmup: int, seed: int = 0) -> tuple[list, list]:
    from mmdistill.recipes import hapt_teacher
    torch.manual_seed(seed)
    model = hapt_teacher()
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.Generator().manual_seed(seed + 1)
    grads = [torch.randn(p.shape, generator=g) * 1e-2 for p in params]
    opts = {"loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}[kind]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.1, **opts)
    times = []
    for i in range(warmup + steps):
        for p, gr in zip(params, grads): p.grad = gr
        t = time.perf_counter(); opt.step(); dt = time.perf_counter() - t
        if i >= warmup: times.append(dt)
    return times, [p.detach().clone() for p in params]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2); ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20); ap.add_argument("--results", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    busy = _results.load_busy()
    runs = {k: step_times(k, a.steps, a.warmup) for k in ("loop", "foreach", "fused")}
    ref = runs["foreach"][1]
    for k, (_, params) in runs.items():
        worst = max((p - r).abs().max().item() for p, r in zip(params, ref))
        if worst > 1e-5: raise SystemExit(f"{k} AdamW ended {worst:.2e} away from foreach: not the same update")
    med = {k: statistics.median(t) * 1e3 for k, (t, _) in runs.items()}
    n = sum(p.numel() for p in runs["fused"][1])
    rows = [[k, f"{med[k]:.2f}", f"{med['foreach'] / med[k]:.2f}×"] for k in ("loop", "foreach", "fused")]
    body = (f"## 6. Optimizer step of the HAPT teacher: AdamW loop, foreach, fused\n\n"
            f"`{_results.command('optimizer.py')}` · {_results.today()} · {_results.machine(a.threads, ('torch',))} · {busy}\n\n"
            f"One `AdamW.step()` over the teacher's {len(runs['fused'][1])} parameter tensors ({n:,} values), median of "
            f"{a.steps} steps after {a.warmup}; the three end with the same parameters (to 1e-5).\n\n"
            + _results.table(["implementation", "ms per step", "speed-up against foreach (torch's default)"], rows) + "\n")
    print(body)
    _results.write_section("optimizer", body, a.results)


if __name__ == "__main__":
    main()

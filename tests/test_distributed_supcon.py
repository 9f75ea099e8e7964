"""SupConLoss under torch.distributed: every rank returns the global loss, and gradients after DDP averaging equal the
single-process gradients of the concatenated batch. Two CPU processes on gloo; this cannot run inside a notebook."""
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from mmdistill.losses import DegenerateBatchWarning, SupConLoss

WORLD_SIZE = 2
# name: (batch size, views, labelled, samples on rank 0); rank 1 gets the rest of the batch
CASES = {
    "equal halves": (12, 1, True, 6),
    "unequal halves, two views": (11, 2, True, 7),
    "unlabelled (SimCLR), unequal halves": (9, 2, False, 4),
    "one rank empty": (8, 1, True, 8),
    "no positive pair": (6, 1, False, 3),
}


def _case(name):
    "Fixed inputs (batch, views, 5), labels and per-rank sizes of the case called `name`, in float64."
    batch, views, labelled, first = CASES[name]
    gen = torch.Generator().manual_seed(sum(map(ord, name)))
    x = torch.randn(batch, views, 5, generator=gen, dtype=torch.float64)
    labels = torch.randint(0, 3, (batch,), generator=gen) if labelled else None
    return x, labels, [first, batch - first]


def _model():
    "The same small linear embedding in every process."
    torch.manual_seed(0)
    return nn.Linear(5, 4).double()


def _loss_and_grads(model, x, labels):
    "SupCon loss of `model(x)` (squeezed to (B, D) for one view), its stats, and the parameter gradients."
    out = model(x)
    loss_fn = SupConLoss(temperature=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateBatchWarning)
        loss = loss_fn(out[:, 0] if x.shape[1] == 1 else out, labels)
    loss.backward()
    return {"loss": loss.detach(), "stats": loss_fn.last_stats,
            "grads": {n: p.grad.detach().clone() for n, p in model.named_parameters()}}


def _worker(rank, init_file, out_dir):
    "One process: each case on this rank's slice of the batch, with the model in DistributedDataParallel."
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE,
                            timeout=timedelta(seconds=60))
    try:
        results = {}
        for name in CASES:
            x, labels, sizes = _case(name)
            start = sum(sizes[:rank])
            part = slice(start, start + sizes[rank])
            model = DistributedDataParallel(_model())
            results[name] = _loss_and_grads(model, x[part], None if labels is None else labels[part])
            results[name]["grads"] = {k.removeprefix("module."): v for k, v in results[name]["grads"].items()}
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_distributed_loss_and_grads_equal_single_process(tmp_path):
    # an exception in a child re-raises here (torch.multiprocessing.ProcessRaisedException) with its traceback
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    for name in CASES:
        x, labels, _ = _case(name)
        expected = _loss_and_grads(_model(), x, labels)
        for rank, results in enumerate(ranks):
            got = results[name]
            where = f"{name}, rank {rank}"
            torch.testing.assert_close(got["loss"], expected["loss"], rtol=0, atol=1e-10, msg=lambda m: f"{where}: {m}")
            assert got["stats"] == expected["stats"], where
            assert got["grads"].keys() == expected["grads"].keys(), where
            for param, grad in expected["grads"].items():
                torch.testing.assert_close(got["grads"][param], grad, rtol=1e-8, atol=1e-10,
                                           msg=lambda m: f"{where}, grad of {param}: {m}")
    assert ranks[0]["no positive pair"]["loss"] == 0 and ranks[0]["no positive pair"]["stats"]["positive_pairs"] == 0
    assert all(g.abs().max() > 0 for g in ranks[0]["unequal halves, two views"]["grads"].values())

"""Train three small teachers with the REAL DeepSpeed (CPU accelerator, one process, gloo) and save them as DeepSpeed does.

Run by test_deepspeed.py in its own process (a user's training job is one; it also keeps DeepSpeed's process group
out of the test process). Writes into `out`:
- conv/: `engine.save_checkpoint(conv)` with DeepSpeed's default tag: conv/global_step{N}/mp_rank_00_model_states.pt, conv/latest
- gru/:  the same for a GRU teacher
- tr/epoch=2-step={N}.ckpt/: what Lightning's DeepSpeedStrategy writes (it refuses CPU accelerators, so its call is made
  here by hand on a real engine): `save_checkpoint(<name>.ckpt, client_state=<Lightning's checkpoint without state_dict
  and optimizer_states>, tag="checkpoint")` of an engine over Lightning's wrapper, whose weights are therefore under
  `_forward_module.model.`; a transformer teacher trained on windows of 64 steps (8 positions), not 128
- reference.npz: each teacher's logits on fixed windows, computed by the trained engine's module
"""
import json, os, socket, sys
from pathlib import Path

os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("OMP_NUM_THREADS", "1")
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
import deepspeed
import deepspeed.comm.torch   # `deepspeed.comm.torch` as an attribute is the torch package itself: use sys.modules
# On a CPU accelerator DeepSpeed JIT-compiles its shared-memory all-reduce op when the process group starts (about
# 200 s with a C++ compiler on 2 cores, cached afterwards in ~/.cache/torch_extensions). One process never uses it:
sys.modules["deepspeed.comm.torch"].build_shm_op = lambda: None

sys.path.insert(0, str(Path(__file__).parent))
from _common import TinyConv, TinyGRU, TinyTransformer, smooth_task

torch.set_num_threads(1)
CONFIG = {"train_micro_batch_size_per_gpu": 32, "gradient_accumulation_steps": 1, "zero_optimization": {"stage": 0},
          "steps_per_print": 10**9}


def train(module: nn.Module, forward, x, y, epochs: int, lr: float):
    engine, *_ = deepspeed.initialize(model=module, optimizer=torch.optim.Adam(module.parameters(), lr=lr), config=CONFIG)
    g = torch.Generator().manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(32):
            loss = F.cross_entropy(forward(engine, xt[idx]), yt[idx])
            engine.backward(loss)
            engine.step()
    engine.eval()
    return engine


class LitTransformer(nn.Module):
    "Stands for the user's LightningModule: the network under `self.model` (Lightning itself cannot run DeepSpeed on CPU)."
    def __init__(self, **cfg):
        super().__init__()
        self.model = TinyTransformer(**cfg)


class LightningWrapper(nn.Module):
    "What lightning.pytorch.overrides.base._LightningModuleWrapperBase is to DeepSpeed: the LightningModule under `_forward_module`."
    def __init__(self, lit: nn.Module):
        super().__init__()
        self._forward_module = lit

    def forward(self, x): return self._forward_module.model(x)


def main(out: Path):
    deepspeed.init_distributed(dist_backend="gloo")
    torch.manual_seed(0)
    x, y = smooth_task(512, seed=11)
    x64, y64 = smooth_task(512, seed=11, length=64)
    probe, probe64 = torch.from_numpy(smooth_task(16, seed=5)[0]), torch.from_numpy(smooth_task(16, seed=5, length=64)[0])
    ref = {}

    conv = train(TinyConv(), lambda e, xb: e(xb.transpose(1, 2)), x, y, epochs=15, lr=1e-2)
    conv.save_checkpoint(str(out / "conv"))
    with torch.no_grad(): ref["conv"] = conv.module(probe.transpose(1, 2)).numpy()

    gru = train(TinyGRU(), lambda e, xb: e(xb), x, y, epochs=6, lr=1e-2)
    gru.save_checkpoint(str(out / "gru"))
    with torch.no_grad(): ref["gru"] = gru.module(probe).numpy()

    tr_cfg = {"n_positions": 8, "dim": 32, "patch": 8}
    tr = train(LightningWrapper(LitTransformer(**tr_cfg)), lambda e, xb: e(xb), x64, y64, epochs=10, lr=3e-3)
    ckpt = out / "tr" / f"epoch=5-step={tr.global_steps}.ckpt"
    client_state = {"epoch": 5, "global_step": tr.global_steps, "pytorch-lightning_version": "2.6.6",
                    "hyper_parameters": {"model": tr_cfg}, "loops": {}, "callbacks": {}, "lr_schedulers": []}
    tr.save_checkpoint(str(ckpt), client_state=client_state, tag="checkpoint")
    with torch.no_grad(): ref["tr64"] = tr.module(probe64).numpy()
    torch.save(tr.module._forward_module.model.state_dict(), out / "tr_state_for_reference.pt")
    np.savez(out / "reference.npz", **ref)
    deepspeed.comm.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))

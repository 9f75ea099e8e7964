"""Train a few steps of the HAPT teacher, either under `torchrun` (one process per rank) or in one process
on the same global batches; used by test_distributed_train.py."""
import argparse, os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from mmdistill.core import save_checkpoint
from mmdistill.data import collate_multimodal
from mmdistill.datasets import load_hapt
from mmdistill.encoders import SensorEncoder
from mmdistill.fusion import CrossAttentionFusion
from mmdistill.losses import SupConCELoss
from mmdistill.models import MultimodalModel
from mmdistill.samplers import ClassBalancedBatchSampler
from mmdistill.train import Trainer

P, K, SEED = 6, 4, 0


class PairedBatches(Sampler):
    "The single-process batches of a ClassBalancedBatchSampler, two at a time: the global batch of a two-rank step."
    def __init__(self, labels): self.inner = ClassBalancedBatchSampler(labels, P, K, seed=SEED)
    def set_epoch(self, epoch): self.inner.set_epoch(epoch)
    def __len__(self): return len(self.inner) // 2
    def __iter__(self):
        batches = list(self.inner)
        for i in range(len(self)): yield batches[2 * i] + batches[2 * i + 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--single", action="store_true", help="one process, global batches of two sampler batches")
    ap.add_argument("--steps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    enc = {m: SensorEncoder(3, dim=32, patch_size=16, depth=1, num_heads=2, dropout=0.0) for m in ("acc", "gyro")}
    model = MultimodalModel(enc, CrossAttentionFusion({m: 32 for m in enc}, dim=32, num_tokens=2, num_heads=2, dropout=0.0),
                            num_classes=12)
    data = load_hapt("train")
    if a.single: data = DataLoader(data, batch_sampler=PairedBatches(data.labels), collate_fn=collate_multimodal)
    # SGD: its update is linear in the gradient, so float rounding in the all-reduce is not amplified as
    # Adam's normalisation amplifies it for near-zero gradients; the comparison stays tight.
    trainer = Trainer(model, data, SupConCELoss(0.1), epochs=2, lr=0.05, optimizer="sgd", classes_per_batch=P, samples_per_class=K,
                      max_steps_per_epoch=a.steps, progress=False, seed=SEED)
    assert trainer.accelerator.num_processes == (1 if a.single else int(os.environ.get("WORLD_SIZE", 1)))
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.fit()
    if trainer.accelerator.is_main_process:
        final = trainer.unwrapped.state_dict()
        moved = max((final[k] - initial[k]).abs().max().item() for k in initial if initial[k].is_floating_point())
        save_checkpoint(Path(a.out), trainer.unwrapped, steps=trainer.global_step, processes=trainer.accelerator.num_processes,
                        moved=moved)


if __name__ == "__main__":
    main()

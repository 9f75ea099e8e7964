"""One microcontroller-student run on HAPT, alone or distilled from saved teachers: a row for a recipe sweep.

The main job trains its teacher and both students in one go (`benchmarks/distill_table.py`); this script trains
only the student, against teachers already saved (for example `runs/demo/teacher`), so that student recipes can be
compared over many seeds at the cost of the student alone. Every setting the student alone and the distilled
student share (windows, augmentation, window mixing, schedule) applies to both modes; only the teacher differs.

    python benchmarks/student_sweep.py --mode alone --epochs 90 --mix mixup --seed 1
    python benchmarks/student_sweep.py --mode kd --teacher runs/demo/teacher --alpha 1.0 --feat 0 --epochs 90 --seed 1

prints one JSON line (the settings, best validation accuracy, test accuracy of the best-on-validation checkpoint,
seconds) and appends it to `--results` (default runs/student_sweep.jsonl). Test subjects are never used to choose.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch
from fastcore.basics import compose

from mmdistill.core import seed_everything
from mmdistill.datasets import load_hapt
from mmdistill.distill import Distiller, load_teacher, mcu_student
from mmdistill.jobs import head_accuracy
from mmdistill.train import MixWindows, SensorAugment, Trainer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("alone", "kd"), default="kd")
    ap.add_argument("--teacher", nargs="+", default=["runs/demo/teacher"], help="checkpoint files or run folders (several: an ensemble)")
    ap.add_argument("--epochs", type=int, default=30); ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the KD term against cross-entropy")
    ap.add_argument("--temperature", type=float, default=4.0); ap.add_argument("--feat", type=float, default=1.0, help="feature-translation weight")
    ap.add_argument("--stride", type=int, default=0, help="training windows every STRIDE steps (0: the split's own)")
    ap.add_argument("--mix", choices=("", "mixup", "splice"), default="", help="MixWindows mode (p=0.5, max_fraction=0.5)")
    ap.add_argument("--channels", default="16,32,32"); ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1); ap.add_argument("--tag", default="")
    ap.add_argument("--results", default="runs/student_sweep.jsonl")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    start = time.perf_counter()
    data = {s: load_hapt(s) for s in ("train", "val", "test")}
    train = data["train"]
    if a.stride:
        train = load_hapt("train", window=train.window, stride=a.stride, stats=train.stats, subjects=np.unique(train.subjects).tolist())
    transform = SensorAugment(8, 0.1, 0.05)
    if a.mix: transform = compose(transform, MixWindows(a.mix))
    seed_everything(a.seed)
    model = mcu_student(channels=tuple(int(c) for c in a.channels.split(",")))
    common = dict(epochs=a.epochs, lr=a.lr, weight_decay=0.01, classes_per_batch=6, samples_per_class=16, seed=a.seed,
                  out_dir=tempfile.mkdtemp(prefix="student_sweep-"), batch_transform=transform)
    if a.mode == "alone": run = Trainer(model, train, torch.nn.CrossEntropyLoss(), data["val"], **common)
    else:
        teachers = {f"teacher{i}": load_teacher(p) for i, p in enumerate(a.teacher)}
        run = Distiller(model, teachers, train, data["val"], temperature=a.temperature, alpha=a.alpha, feat_weight=a.feat, **common)
    run.fit()
    val = [h["val_accuracy"] for h in run.history]
    row = {**vars(a), "teacher": a.teacher if a.mode == "kd" else None, "val": max(val), "best_epoch": int(np.argmax(val)),
           "test": head_accuracy(run.load_best().eval(), data["test"]), "train_windows": len(train),
           "seconds": round(time.perf_counter() - start, 1)}
    print(json.dumps(row), flush=True)
    Path(a.results).parent.mkdir(parents=True, exist_ok=True)
    with open(a.results, "a") as f: f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

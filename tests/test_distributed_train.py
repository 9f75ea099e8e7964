"""`torchrun --nproc_per_node 2` (CPU, gloo) trains the HAPT teacher like one process on the same global batches."""
import os, shutil, subprocess, sys
from pathlib import Path

import torch

from mmdistill.core import load_checkpoint

HERE = Path(__file__).parent


def test_two_processes_match_one_process_on_the_same_global_batches(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun is not installed next to this Python"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two, one = tmp_path / "two.safetensors", tmp_path / "one.safetensors"
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(HERE / "_dist_train.py"), "--out", str(two)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = subprocess.run([sys.executable, str(HERE / "_dist_train.py"), "--single", "--out", str(one)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    sd2, meta2 = load_checkpoint(two)
    sd1, meta1 = load_checkpoint(one)
    assert (meta2["processes"], meta1["processes"]) == (2, 1)
    assert meta2["steps"] == meta1["steps"] == 6
    assert meta1["moved"] > 1e-3 and meta2["moved"] > 1e-3  # both runs really trained
    for k, b in sd1.state_dict().items():
        torch.testing.assert_close(sd2.state_dict()[k], b, rtol=1e-4, atol=1e-6, msg=lambda m: f"{k}: {m}")

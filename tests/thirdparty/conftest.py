import os, sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")   # DeepSpeed's CPU accelerator (no GPU is needed or used)
sys.path.insert(0, str(Path(__file__).parent))   # _common

import torch
torch.set_num_threads(1)

"""A teacher trained and saved by the REAL Lightning (a `.ckpt` whose hyper-parameters are an OmegaConf DictConfig, as
Hydra users have them), brought to mmdistill as a user would: the model class built from the run's YAML, `load_teacher`."""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from _common import TinyConv, Windows, accuracy, smooth_task
from mmdistill.core import CheckpointError, load_checkpoint
from mmdistill.distill import Distiller, load_teacher, mcu_student
from mmdistill.models import adapt

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


class LitTeacher(L.LightningModule):
    "What a Lightning + Hydra user writes: the config saved as hyper-parameters, the network under `self.model`."
    def __init__(self, cfg: DictConfig):
        super().__init__()
        self.save_hyperparameters(cfg)
        self.model = TinyConv(**cfg.model)

    def forward(self, x): return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x.transpose(1, 2)), y)

    def configure_optimizers(self): return torch.optim.Adam(self.parameters(), lr=self.hparams.optim.lr)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A real Lightning run: 12 epochs on the smooth task, its checkpoint and the model_config.yaml written next to it."
    out = tmp_path_factory.mktemp("lightning")
    cfg = OmegaConf.create({"model": {"channels": 3, "hidden": 32, "num_classes": 8},
                            "optim": {"lr": 0.02}, "data": {"window": 128, "classes": ["walk", "run"]}})
    x, y = smooth_task(512, seed=1)
    L.seed_everything(0, verbose=False)
    lit = LitTeacher(cfg)
    trainer = L.Trainer(accelerator="cpu", max_epochs=12, logger=False, enable_checkpointing=True, default_root_dir=out,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(lit, DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=32, shuffle=True))
    ckpt = Path(trainer.checkpoint_callback.best_model_path)
    OmegaConf.save(cfg, ckpt.parent / "model_config.yaml")
    lit.eval()
    return {"ckpt": ckpt, "yaml": ckpt.parent / "model_config.yaml", "lit": lit, "cfg": cfg}


def _user_model(run) -> TinyConv:
    "The user's class built from the run's YAML, read with plain PyYAML (no OmegaConf needed)."
    return TinyConv(**yaml.safe_load(run["yaml"].read_text())["model"])


def test_the_checkpoint_is_the_hard_case(run):
    "The file really pickles OmegaConf containers: torch's weights-only loader alone refuses it."
    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(run["ckpt"]))
    assert any(g.startswith("omegaconf.") for g in unsafe), unsafe
    with pytest.raises(Exception): torch.load(run["ckpt"], weights_only=True)


def test_load_teacher_gives_the_lightning_logits(run):
    teacher = load_teacher(run["ckpt"], model=_user_model(run))
    x = torch.from_numpy(smooth_task(16, seed=5)[0]).transpose(1, 2)
    with torch.no_grad(): expected = run["lit"](x)
    assert torch.allclose(teacher(x), expected, atol=1e-6), (teacher(x) - expected).abs().max()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


def _is_plain(obj) -> bool:
    if isinstance(obj, dict): return type(obj) is dict and all(isinstance(k, str) and _is_plain(v) for k, v in obj.items())
    if isinstance(obj, list): return type(obj) is list and all(_is_plain(v) for v in obj)
    return obj is None or type(obj) in (bool, int, float, str)


def test_metadata_is_plain_data(run):
    state, meta = load_checkpoint(run["ckpt"], build=False)
    ref = torch.load(run["ckpt"], weights_only=False, map_location="cpu")   # the reference: we trust our own file
    assert meta["hyper_parameters"] == OmegaConf.to_container(run["cfg"])
    assert _is_plain(meta["hyper_parameters"]), meta["hyper_parameters"]
    assert meta["epoch"] == ref["epoch"] and meta["global_step"] == ref["global_step"]
    assert set(state) == set(ref["state_dict"])
    for k, v in ref["state_dict"].items(): assert torch.equal(state[k], v), k


_NO_OMEGACONF = r"""
import json, sys
for name in ("omegaconf", "hydra", "lightning", "lightning_fabric", "pytorch_lightning", "yaml"):
    sys.modules[name] = None                  # `import omegaconf` now raises ImportError
sys.path.insert(0, sys.argv[3])
import numpy as np, torch
from _common import TinyConv, smooth_task
from mmdistill.core import load_checkpoint
from mmdistill.distill import load_teacher
before = set(sys.modules)
state, meta = load_checkpoint(sys.argv[1], build=False)
teacher = load_teacher(sys.argv[1], model=TinyConv(**json.loads(sys.argv[2])))
new = sorted({m.split(".")[0] for m in set(sys.modules) - before})
x = torch.from_numpy(smooth_task(16, seed=5)[0]).transpose(1, 2)
with torch.no_grad(): logits = teacher(x)
print(json.dumps({"new_modules": new, "hyper_parameters": meta["hyper_parameters"], "logits": logits.tolist()}))
"""


def test_loading_needs_no_omegaconf_and_imports_nothing_new(run, tmp_path):
    "In a process where omegaconf, hydra, lightning and yaml cannot be imported, the load still works, and imports only the standard library."
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", _NO_OMEGACONF, str(run["ckpt"]), json.dumps(dict(run["cfg"].model)), str(HERE)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["hyper_parameters"] == OmegaConf.to_container(run["cfg"])
    outside = [m for m in out["new_modules"] if m not in sys.stdlib_module_names and m not in ("torch", "numpy", "mmdistill", "safetensors")]
    assert not outside, f"loading imported {outside}"
    x = torch.from_numpy(smooth_task(16, seed=5)[0]).transpose(1, 2)
    with torch.no_grad(): expected = run["lit"](x)
    assert torch.allclose(torch.tensor(out["logits"]), expected, atol=1e-5)


class _Evil:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f"touch {self.marker}",))


def test_a_ckpt_that_would_run_code_is_refused(run, tmp_path):
    "The real checkpoint with one more entry that calls os.system when unpickled: refused, and nothing ran."
    ck = torch.load(run["ckpt"], weights_only=False)
    marker = tmp_path / "ran"
    ck["loops"] = {"fit_loop": _Evil(marker)}
    bad = tmp_path / "evil.ckpt"
    torch.save(ck, bad)
    with pytest.raises(CheckpointError, match="system"): load_checkpoint(bad, build=False)
    with pytest.raises(CheckpointError): load_teacher(bad, model=_user_model(run))
    assert not marker.exists()


def test_distiller_with_the_lightning_teacher(run, tmp_path):
    teacher = load_teacher(run["ckpt"], model=_user_model(run))
    xt, yt = smooth_task(128, seed=2)
    xv, yv = smooth_task(64, seed=3)
    assert accuracy(teacher, xv, yv, channels_first=True) > 0.5   # a teacher worth distilling
    student = mcu_student(in_channels=3, num_classes=8, channels=(8, 16))
    d = Distiller(student, {"lightning": adapt(teacher, inputs="acc", layout="channels_first")}, Windows(xt, yt),
                  Windows(xv, yv), epochs=1, batch_size=32, progress=False, teacher_feature_paths=None, seed=0)
    history = d.fit()
    assert len(history) == 1 and np.isfinite(history[0]["train_loss"]) and "val_accuracy" in history[0]


def test_distiller_given_only_the_ckpt_path_says_to_pass_the_model(run):
    "A Lightning file holds no mmdistill model config: a path alone cannot rebuild the user's class, and the error says what to do."
    xt, yt = smooth_task(16, seed=2)
    with pytest.raises(CheckpointError, match="model="):
        Distiller(mcu_student(in_channels=3, num_classes=8), {"t": str(run["ckpt"])}, Windows(xt, yt), epochs=1, progress=False)

"""Three teachers saved by the REAL DeepSpeed (one of them in the layout Lightning's DeepSpeed strategy writes, and trained
on shorter windows), loaded with `load_teacher(folder, model=...)`, distilled together into ONE microcontroller student on
unlabelled data, and the student evaluated 5-way 1-shot."""
import copy, os, subprocess, sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _common import TinyConv, TinyGRU, TinyTransformer, Windows, accuracy, smooth_task
from mmdistill.data import eval_loader
from mmdistill.distill import Distiller, Unlabelled, load_teacher, mcu_student
from mmdistill.evaluate import extract_embeddings, fewshot_evaluate
from mmdistill.models import adapt

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("deepspeed")
    env = {**os.environ, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(HERE / "_deepspeed_save.py"), str(out)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    (tr_ckpt,) = (out / "tr").iterdir()
    return {"out": out, "tr": tr_ckpt, "ref": dict(np.load(out / "reference.npz"))}


def test_the_folders_are_deepspeeds(saved):
    "The layouts a user finds: `latest` naming the tag; the weights under `module` of mp_rank_00_model_states.pt."
    out = saved["out"]
    for name in ("conv", "gru"):
        tag = (out / name / "latest").read_text().strip()
        assert tag.startswith("global_step") and (out / name / tag / "mp_rank_00_model_states.pt").is_file()
    assert (saved["tr"] / "latest").read_text().strip() == "checkpoint"
    states = torch.load(saved["tr"] / "checkpoint" / "mp_rank_00_model_states.pt", weights_only=True)
    assert all(k.startswith("_forward_module.model.") for k in states["module"])


def _probe(length=128):
    return torch.from_numpy(smooth_task(16, seed=5, length=length)[0])


def test_load_teacher_reads_deepspeed_folders(saved):
    out, ref = saved["out"], saved["ref"]
    conv = load_teacher(out / "conv", model=TinyConv())
    with torch.no_grad(): np.testing.assert_allclose(conv(_probe().transpose(1, 2)).numpy(), ref["conv"], atol=1e-5)
    gru = load_teacher(out / "gru", model=TinyGRU())
    with torch.no_grad(): np.testing.assert_allclose(gru(_probe()).numpy(), ref["gru"], atol=1e-5)


def test_the_lightning_deepspeed_teacher_at_its_own_length(saved):
    "Keys under `_forward_module.model.` found for the user's class: the logits of the trained engine."
    tr = load_teacher(saved["tr"], model=TinyTransformer(n_positions=8))
    with torch.no_grad(): np.testing.assert_allclose(tr(_probe(64)).numpy(), saved["ref"]["tr64"], atol=1e-5)


def test_the_lightning_deepspeed_teacher_at_another_length(saved):
    "Built for 16 patches (128 steps) from a checkpoint of 8: the positional embedding resampled linearly, everything else as saved."
    tr = load_teacher(saved["tr"], model=TinyTransformer(n_positions=16))
    saved_state = torch.load(saved["out"] / "tr_state_for_reference.pt", weights_only=True)
    pos = saved_state["pos_embedding"]                                    # (1, 8, D)
    expected = F.interpolate(pos.transpose(1, 2), size=16, mode="linear", align_corners=False).transpose(1, 2)
    torch.testing.assert_close(tr.pos_embedding.detach(), expected, atol=1e-6, rtol=0)
    for k, v in saved_state.items():
        if k != "pos_embedding": assert torch.equal(tr.state_dict()[k], v), k
    x, y = smooth_task(256, seed=7)
    assert accuracy(tr, x, y) > 0.5, "the teacher trained on 64 steps should still classify 128-step windows"


def test_three_teachers_one_student_fewshot(saved):
    out = saved["out"]
    teachers = {"conv": adapt(load_teacher(out / "conv", model=TinyConv()), inputs="acc", layout="channels_first"),
                "gru": adapt(load_teacher(out / "gru", model=TinyGRU()), inputs="acc"),
                "tr": adapt(load_teacher(saved["tr"], model=TinyTransformer(n_positions=16)), inputs="acc")}
    xt, yt = smooth_task(256, seed=3)
    for name, t in teachers.items():   # measured: conv 0.68, gru 0.93, tr 0.97 (at 128 steps, trained at 64)
        acc = accuracy(t.module, xt, yt, channels_first=name == "conv")
        assert acc > 0.5, f"teacher {name} is at {acc:.2f}"
    x_unl, _ = smooth_task(1024, seed=21)
    torch.manual_seed(0)
    student = mcu_student(in_channels=3, num_classes=8, channels=(16, 32, 32))
    untrained = copy.deepcopy(student)
    d = Distiller(student, teachers, Unlabelled(Windows(x_unl)), epochs=12, batch_size=64, lr=1e-2,
                  teacher_feature_paths=None, progress=False, seed=0)
    d.fit()
    test = eval_loader(Windows(xt, yt))
    shots = {name: fewshot_evaluate((e := extract_embeddings(m, test))["embeddings"], e["labels"], n_way=5, k_shot=1,
                                    n_query=10, episodes=200, seed=0)["mean"]
             for name, m in (("distilled", d.student), ("untrained", untrained))}
    print("5-way 1-shot:", shots)
    assert shots["distilled"] > 0.6, shots                       # chance is 0.2
    assert shots["distilled"] > shots["untrained"] + 0.2, shots   # and it is the teachers' doing (untrained: about 0.24)

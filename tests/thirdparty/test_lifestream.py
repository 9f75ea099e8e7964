"""A REAL pytorch-lifestream encoder (`RnnSeqEncoder(TrxEncoder(...))`), CoLES-pretrained with ptls's `CoLESModule` and a
Lightning trainer on synthetic event sequences of variable length, then fine-tuned for a binary target with mmdistill's
`EncoderClassifier` (progressive unfreezing with `FreezeEncoder`, ROC-AUC with `BinaryROCAUC`).

The glue a user writes today is marked `# GLUE`; see the report for what would remove it."""
import copy
from functools import partial

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import roc_auc_score
from torch.utils.data import DataLoader

from ptls.data_load.padded_batch import PaddedBatch
from ptls.data_load.utils import collate_feature_dict
from ptls.frames.coles import CoLESModule, ColesDataset
from ptls.frames.coles.split_strategy import SampleSlices
from ptls.nn import RnnSeqEncoder, TrxEncoder

from mmdistill.core import load_checkpoint
from mmdistill.data import to_device
from mmdistill.evaluate import extract_embeddings
from mmdistill.finetune import BinaryROCAUC, EncoderClassifier, FreezeEncoder, MLPHead, load_pretrained_encoder, roc_auc
from mmdistill.train import Callback, Trainer

N_MCC = 12


def clients(n: int, seed: int) -> list:
    "Event sequences of 20-60 events (merchant code `mcc`, `amount`, `event_time`) whose habits depend on a binary `target`."
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        target = i % 2
        length = int(rng.integers(20, 61))
        prefs = np.full(N_MCC - 1, 1.0); prefs[[0, 1, 2] if target else [5, 6, 7]] += 3.0
        mcc = rng.choice(np.arange(1, N_MCC), size=length, p=prefs / prefs.sum())
        amount = rng.lognormal(0.3 * target, 1.0, length)
        out.append({"mcc": torch.from_numpy(mcc).long(), "amount": torch.from_numpy(np.log1p(amount)).float(),
                    "event_time": torch.arange(length).float(), "target": target})
    return out


def seq_encoder() -> RnnSeqEncoder:
    return RnnSeqEncoder(trx_encoder=TrxEncoder(embeddings={"mcc": {"in": N_MCC, "out": 8}},
                                                numeric_values={"amount": "identity"}),
                         hidden_size=16, type="gru")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    "CoLES pretraining with ptls: 2 epochs over 3 slices of each of 128 unlabelled clients; the Lightning checkpoint too."
    pl.seed_everything(0, verbose=False)
    # a list of feature dicts (ptls's MemoryMapDataset wraps the same; its package needs duckdb, not installed here)
    data = ColesDataset([{k: v for k, v in c.items() if k != "target"} for c in clients(128, 0)],
                        splitter=SampleSlices(split_count=3, cnt_min=10, cnt_max=30))
    module = CoLESModule(seq_encoder=seq_encoder(), optimizer_partial=partial(torch.optim.Adam, lr=5e-3),
                         lr_scheduler_partial=partial(torch.optim.lr_scheduler.StepLR, step_size=10, gamma=0.9))
    out = tmp_path_factory.mktemp("ptls")
    trainer = pl.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=out)
    trainer.fit(module, DataLoader(data, batch_size=32, shuffle=True, collate_fn=data.collate_fn))
    trainer.save_checkpoint(out / "coles.ckpt")
    return {"encoder": module.seq_encoder, "ckpt": out / "coles.ckpt",
            "state": {k: v.detach().clone() for k, v in module.seq_encoder.state_dict().items()}}


class Labelled(torch.utils.data.Dataset):
    "The library's sample dicts: the client's feature dict under 'trx' and its binary 'label'."
    def __init__(self, rows): self.rows, self.labels = rows, np.array([r["target"] for r in rows])
    def __len__(self): return len(self.rows)
    def __getitem__(self, i):
        r = self.rows[i]
        return {"trx": {k: v for k, v in r.items() if k != "target"}, "label": r["target"]}


def collate(samples):   # GLUE: collate_multimodal cannot batch variable-length feature dicts into ptls's PaddedBatch
    return {"trx": collate_feature_dict([s["trx"] for s in samples]), "label": torch.tensor([s["label"] for s in samples])}


class EncoderSnapshots(Callback):
    "The encoder's weights at the end of every epoch."
    def __init__(self): self.weights = []
    def on_epoch_end(self, trainer, epoch, metrics):
        self.weights.append({k: v.detach().clone() for k, v in trainer.unwrapped.encoder.state_dict().items()})


def test_to_device_moves_a_padded_batch(pretrained):
    "mmdistill moves ptls's PaddedBatch with the rest of the batch (to 'meta' here: a device every machine has)."
    batch = collate([Labelled(clients(4, 1))[i] for i in range(4)])
    moved = to_device(batch, "meta")
    assert isinstance(moved["trx"], PaddedBatch)
    assert moved["trx"].payload["amount"].device.type == "meta" and moved["trx"].seq_lens.device.type == "meta"
    assert moved["label"].device.type == "meta"


def test_finetune_coles_encoder(pretrained):
    encoder = copy.deepcopy(pretrained["encoder"])
    before = pretrained["state"]
    model = EncoderClassifier(encoder, MLPHead(in_dim=encoder.embedding_size, hidden_dims=(16,), n_classes=2),  # GLUE: in_dim (no out_dim on ptls encoders)
                              modality="trx")
    train = DataLoader(Labelled(clients(256, 2)), batch_size=32, shuffle=True, collate_fn=collate)   # GLUE: DataLoaders with collate
    val = DataLoader(Labelled(clients(128, 3)), batch_size=64, collate_fn=collate)
    snaps = EncoderSnapshots()
    trainer = Trainer(model, train, torch.nn.CrossEntropyLoss(), val, epochs=3, lr=5e-3, monitor="val_roc_auc",
                      callbacks=[FreezeEncoder(1), BinaryROCAUC(), snaps], progress=False)
    history = trainer.fit()
    assert [h["encoder_frozen"] for h in history] == [True, False, False]
    for k, v in before.items(): assert torch.equal(snaps.weights[0][k], v), f"{k} changed while the encoder was frozen"
    assert any(not torch.equal(snaps.weights[-1][k], v) for k, v in before.items() if v.is_floating_point())
    res = extract_embeddings(model, val, return_logits=True)
    scores = torch.from_numpy(res["logits"]).softmax(1)[:, 1].numpy()
    reference = roc_auc_score(res["labels"], scores)
    assert history[-1]["val_roc_auc"] == pytest.approx(reference, abs=1e-9)
    assert roc_auc(res["labels"], scores) == pytest.approx(reference, abs=1e-12)
    print("val ROC-AUC by epoch:", [round(h["val_roc_auc"], 3) for h in history])
    assert reference > 0.7, history


def test_load_the_encoder_from_the_coles_checkpoint(pretrained):
    "The Lightning checkpoint of the CoLES run: its `seq_encoder.` weights found for a fresh RnnSeqEncoder."
    enc = seq_encoder()
    missing, unexpected = load_pretrained_encoder(enc, pretrained["ckpt"])
    assert missing == []
    for k, v in pretrained["state"].items(): assert torch.equal(enc.state_dict()[k], v), k

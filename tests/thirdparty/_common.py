"""Shared pieces of the third-party tests: a smooth synthetic task and the kind of model classes users bring.

The model classes are plain `nn.Module`s over tensors, as a user of Lightning or DeepSpeed writes them (not registered
with mmdistill): the tests build them from the user's config and hand them to mmdistill's loaders.
"""
from __future__ import annotations
import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


def smooth_task(n: int, n_classes: int = 8, length: int = 128, channels: int = 3, noise: float = 0.3,
                nuisance: float = 0.8, seed: int = 0, task_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows `(n, length, channels)` of smooth class curves (a few low-frequency sines per class and channel) with a
    random amplitude and time shift plus noise, and their labels. The curves are functions of time in [0, 1), so the
    task at another sampling rate (`length`) is the same task: what a teacher trained on shorter windows needs.
    A per-sample offset and slow drift of size `nuisance` per channel, unrelated to the class, dominate what an untrained
    network sees, so that telling the classes apart has to be learned."""
    task = np.random.default_rng(task_seed)
    freqs = task.integers(1, 4, (n_classes, channels, 2))
    phases = task.uniform(0, 2 * math.pi, (n_classes, channels, 2))
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % n_classes)
    t = np.arange(length) / length
    shift = rng.uniform(-0.03, 0.03, (n, 1, 1))
    amp = rng.uniform(0.8, 1.2, (n, 1, 1))
    tt = t[None, :, None, None] + shift[..., None]                                          # (n, T, 1, 1)
    curves = np.sin(2 * math.pi * freqs[y][:, None] * tt + phases[y][:, None]).sum(-1)     # (n, T, C)
    offset = nuisance * rng.standard_normal((n, 1, channels))
    drift = nuisance * rng.standard_normal((n, 1, channels)) * np.sin(2 * math.pi * (t[None, :, None] * rng.uniform(0.2, 0.6, (n, 1, 1)) + rng.uniform(0, 1, (n, 1, 1))))
    x = amp * curves + offset + drift + noise * rng.standard_normal((n, length, channels))
    return x.astype(np.float32), y.astype(np.int64)


class Windows(Dataset):
    "The library's sample dicts `{'acc': (T, C), 'label': int}` over arrays, with the `labels` array its balanced sampler reads."
    def __init__(self, x: np.ndarray, y: np.ndarray | None = None):
        self.x, self.labels = torch.from_numpy(x), y

    def __len__(self): return len(self.x)

    def __getitem__(self, i):
        item = {"acc": self.x[i]}
        if self.labels is not None: item["label"] = int(self.labels[i])
        return item


class TinyConv(nn.Module):
    "A user's Conv1d classifier over windows `(B, C, T)` (channels first, as Conv1d takes them)."
    def __init__(self, channels: int = 3, hidden: int = 16, num_classes: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(channels, hidden, 7, stride=2, padding=3), nn.BatchNorm1d(hidden), nn.ReLU(),
                                  nn.Conv1d(hidden, hidden, 5, stride=2, padding=2), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                                  nn.Flatten())
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x): return self.head(self.body(x))


class TinyGRU(nn.Module):
    "A user's GRU classifier over windows `(B, T, C)`."
    def __init__(self, channels: int = 3, hidden: int = 16, num_classes: int = 8):
        super().__init__()
        self.rnn = nn.GRU(channels, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        _, h = self.rnn(x[:, ::4])   # every 4th step: the curves are smooth, and a GRU step is slow on CPU
        return self.head(h[-1])


class TinyTransformer(nn.Module):
    "A user's transformer encoder over windows `(B, T, C)`: a patch embedding, a learned positional embedding of `n_positions` patches, mean pooling."
    def __init__(self, channels: int = 3, dim: int = 32, n_positions: int = 16, patch: int = 8, num_classes: int = 8):
        super().__init__()
        self.patch = patch
        self.embed = nn.Linear(channels * patch, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, n_positions, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, 2, 2 * dim, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        b, t, c = x.shape
        tokens = self.embed(x.reshape(b, t // self.patch, self.patch * c))
        if tokens.shape[1] != self.pos_embedding.shape[1]:
            raise ValueError(f"TinyTransformer built for {self.pos_embedding.shape[1]} patches got {tokens.shape[1]}")
        return self.head(self.encoder(tokens + self.pos_embedding).mean(1))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, channels_first: bool = False) -> float:
    "Accuracy of a module over tensors on windows `x` (B, T, C)."
    with torch.no_grad():
        xt = torch.from_numpy(x)
        logits = model.eval()(xt.transpose(1, 2) if channels_first else xt)
    return float((logits.argmax(1).numpy() == y).mean())

"""The minimal plain-PyTorch training loop the throughput benchmarks compare with."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn


def plain_loop_throughput(model: nn.Module, split, epochs: int) -> float:
    """Train ``model`` on ``split`` as a minimal reference loop would (Adam 1e-3, batch 64,
    BCE with pos_weight, clip 1.0, no validation); return training samples per second."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    labels = torch.from_numpy(split.labels.astype(np.float32))
    pw = (labels.shape[0] - labels.sum(0)) / labels.sum(0).clamp(min=1)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    feats = {m: torch.from_numpy(x) for m, x in split.features.items()}
    n = labels.shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n)
        for i in range(0, n, 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            loss = loss_fn(model({m: x[idx] for m, x in feats.items()}), labels[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
    return n * epochs / (time.perf_counter() - start)

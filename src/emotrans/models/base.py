"""The interface every emotion model implements.

A model maps a batch of utterances to one logit per emotion of its *current emotion list*:

``forward(features, lengths) -> logits``

* ``features``: dict modality -> float tensor (B, T_m, D_m), left zero padded (valid steps at
  the end of each row), for exactly the model's ``modalities``;
* ``lengths``: dict modality -> int64 tensor (B,), valid steps per row (>= 0);
* ``logits``: float tensor (B, K), K = ``len(model.emotions)``.

The emotion list is set with :meth:`EmotionModel.set_emotions`. The transferable model scores
any list of names from their embedding vectors; models without embeddings (the baselines) keep
one output unit per name they were trained on and get a fresh, untrained unit for a new name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torch import nn


class EmotionModel(nn.Module):
    """Base class: subclasses implement :meth:`forward` and :meth:`set_emotions`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_embeddings: ClassVar[bool] = False

    def __init__(self, modalities: Sequence[str]) -> None:
        super().__init__()
        self.modalities: tuple[str, ...] = tuple(modalities)
        self.emotions: list[str] = []

    def set_emotions(
        self, names: Sequence[str], vectors: np.ndarray | torch.Tensor | None = None
    ) -> None:
        """Choose the K emotions the model scores; ``vectors`` (K, d) for embedding models."""
        raise NotImplementedError

    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:  # (B, K)
        raise NotImplementedError

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

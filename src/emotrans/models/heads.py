"""One output unit per emotion name, for models without emotion embeddings (the baselines).

:class:`EmotionHead` is a linear layer whose rows are indexed by emotion *name*. Changing the
emotion list keeps the trained row of every name the head has seen (also names that were
dropped from the list for a while) and gives a name it has never seen a fresh, untrained row.
The fresh row depends only on the name and the input size, so a baseline's zero-shot score
for an unseen emotion is a reproducible "untrained unit" reference.

:class:`HeadModel` is the base class of the baselines: an encoder to one vector per utterance
followed by an :class:`EmotionHead`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrans.errors import ConfigError
from emotrans.models.base import EmotionModel


def _name_seed(name: str) -> int:
    """A stable 63-bit seed from an emotion name (same on every machine and run)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little") >> 1


def fresh_row(name: str, in_features: int) -> torch.Tensor:
    """The untrained (weight row, bias) of ``name`` as one float32 tensor (in_features + 1,).

    Same distribution as :class:`torch.nn.Linear`'s default initialisation,
    U(-1/sqrt(in_features), 1/sqrt(in_features)) for weights and bias, drawn from a generator
    seeded by the name, so it does not depend on (or disturb) the global random state.
    """
    generator = torch.Generator().manual_seed(_name_seed(name))
    bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
    return (torch.rand(in_features + 1, generator=generator) * 2 - 1) * bound


class EmotionHead(nn.Module):
    """Linear output layer with one unit (weight row + bias) per emotion name.

    The parameters are ``weight`` (K, in_features) and ``bias`` (K,) for the current list, in
    its order, and nothing else: the state dict round-trips through safetensors, and after
    :meth:`set_emotions` an optimiser created on the model trains exactly the current units.
    To load a state dict, call ``set_emotions(names)`` with the saved names first.

    Parameters
    ----------
    in_features : size H of the utterance vector
    """

    def __init__(self, in_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.weight = nn.Parameter(torch.empty(0, in_features))
        self.bias = nn.Parameter(torch.empty(0))
        self.emotions: list[str] = []
        # rows of every name seen so far (also ones not in the current list): name -> (H + 1,)
        self._known: dict[str, torch.Tensor] = {}

    def _remember_current(self) -> None:
        rows = torch.cat([self.weight.detach(), self.bias.detach().unsqueeze(1)], 1)  # (K, H+1)
        for name, row in zip(self.emotions, rows):
            self._known[name] = row.clone()

    def set_emotions(self, names: Sequence[str]) -> None:
        """Score ``names`` from now on: known names keep their rows, new names get fresh ones."""
        names = [str(n) for n in names]
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"emotion list names {', '.join(duplicates)} more than once")
        self._remember_current()
        device, dtype = self.weight.device, self.weight.dtype
        rows = [
            self._known[n] if n in self._known else fresh_row(n, self.in_features) for n in names
        ]
        table = (
            torch.stack(rows).to(device=device, dtype=dtype)
            if rows
            else torch.empty(0, self.in_features + 1, device=device, dtype=dtype)
        )  # (K, H+1)
        grad = self.weight.requires_grad
        self.weight = nn.Parameter(table[:, :-1].contiguous(), requires_grad=grad)  # (K, H)
        self.bias = nn.Parameter(table[:, -1].contiguous(), requires_grad=grad)  # (K,)
        self.emotions = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_features) -> logits (B, K)."""
        if not self.emotions:
            raise ConfigError("no emotions set; call set_emotions first")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, emotions={len(self.emotions)}"


class HeadModel(EmotionModel):
    """Base class of models that end in an :class:`EmotionHead` stored as ``self.head``."""

    head: EmotionHead

    def set_emotions(
        self, names: Sequence[str], vectors: np.ndarray | torch.Tensor | None = None
    ) -> None:
        """Choose the K emotions scored; ``vectors`` is ignored (no embeddings used). In the
        sentiment task the one row ``"sentiment"`` is a linear regression of the score."""
        self._check_sentiment_names(names)
        self.head.set_emotions(names)
        self.emotions = list(self.head.emotions)

    def modality_scores(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> None:
        """``None``: the head scores the fused utterance vector, not each modality."""
        return None

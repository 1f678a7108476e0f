"""EF-LSTM baseline: early fusion of the modalities into one recurrent encoder.

The modalities' features are concatenated at every time step (so the inputs must be aligned:
the same number of steps T in every modality), encoded by one (bidirectional) LSTM or GRU into
an utterance vector, and scored by a linear head with one output unit per emotion name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from emotrans.config import POSITIVE, setting
from emotrans.errors import ConfigError
from emotrans.models.encoders import EncoderSettings, RNNEncoder
from emotrans.models.heads import EmotionHead, HeadModel


@dataclass(frozen=True)
class EFLSTMSettings(EncoderSettings):
    """Settings of :class:`EFLSTM` (the encoder's settings, then these)."""

    bidirectional: bool = setting(True, "bidirectional encoders (directions concatenated)")
    ef_hidden: int = setting(300, "EF-LSTM hidden size", valid=POSITIVE)


class EFLSTM(HeadModel):
    """Early-fusion recurrent baseline.

    Parameters
    ----------
    modalities : subset of ("text", "audio", "vision"), canonical order
    dims : feature dimension D per modality
    hidden : hidden size H of the encoder
    num_layers, dropout, cell, bidirectional, pooling, padding : encoder settings (see
        :class:`~emotrans.models.encoders.RNNEncoder`); the two directions are concatenated,
        so the utterance vector has 2H values when bidirectional
    output_dropout : dropout on the utterance vector before the head

    Notes
    -----
    The features are concatenated step by step, so step t of every modality must describe the
    same moment: the inputs must be word-aligned (equal T). A row's length is the largest of
    its modalities' lengths; a shorter modality contributes zeros on its padded steps (its
    padding values are zeroed, whatever they hold).
    """

    name = "ef-lstm"
    description = "early fusion: modalities concatenated per step, one recurrent encoder"
    uses_embeddings = False
    Settings = EFLSTMSettings

    def __init__(
        self,
        modalities: Sequence[str],
        dims: dict[str, int],
        hidden: int = 300,
        num_layers: int = 2,
        dropout: float = 0.15,
        cell: str = "lstm",
        bidirectional: bool = True,
        pooling: str = "last",
        output_dropout: float | None = None,
        padding: str = "aligned",
    ) -> None:
        super().__init__(modalities)
        self.dims = {m: int(dims[m]) for m in self.modalities}
        self.encoder = RNNEncoder(
            sum(self.dims.values()),
            hidden,
            num_layers,
            dropout,
            cell,
            bidirectional,
            "concat",
            pooling,
            padding,
        )
        self.dropout = nn.Dropout(dropout if output_dropout is None else output_dropout)
        self.head = EmotionHead(self.encoder.output_size)

    @classmethod
    def from_settings(
        cls,
        settings: EFLSTMSettings,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
    ) -> EFLSTM:
        return cls(
            modalities,
            dims,
            hidden=settings.ef_hidden,
            num_layers=settings.layers,
            dropout=settings.dropout,
            cell=settings.rnn,
            bidirectional=settings.bidirectional,
            pooling=settings.pooling,
            padding=settings.padding,
        )

    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        steps = {m: features[m].shape[1] for m in self.modalities}
        if len(set(steps.values())) > 1:
            shown = ", ".join(f"{m} {t}" for m, t in steps.items())
            raise ConfigError(
                f"ef-lstm needs aligned inputs (the same number of steps in every modality), "
                f"got {shown}: use aligned data, or the lf-lstm or mult model for unaligned data"
            )
        x = torch.cat(
            [_zero_padding(features[m], lengths[m]) for m in self.modalities], dim=2
        )  # (B, T, sum D_m)
        length = torch.stack([lengths[m] for m in self.modalities]).amax(0)  # (B,)
        vec = self.encoder(x, length)  # (B, 2H) or (B, H)
        return self.head(self.dropout(vec))  # (B, K)


def _zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``x`` (B, T, D) with the left padding (all but the last ``lengths`` steps) set to 0."""
    t = x.shape[1]
    if bool((lengths >= t).all()):
        return x
    valid = torch.arange(t, device=x.device).unsqueeze(0) >= (t - lengths).unsqueeze(1)  # (B, T)
    return x.masked_fill(~valid.unsqueeze(2), 0.0)

"""LF-LSTM baseline: late fusion of per-modality recurrent encoders.

Each modality has its own (bidirectional) LSTM or GRU; their utterance vectors are
concatenated and scored by a linear head with one output unit per emotion name. The
modalities are encoded separately, so they may have different numbers of steps (unaligned).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from emotrans.config import NON_NEGATIVE, POSITIVE, setting
from emotrans.models.encoders import EncoderSettings, RNNEncoder
from emotrans.models.heads import EmotionHead, HeadModel

DEFAULT_HIDDEN = {"text": 300, "audio": 200, "vision": 100}


@dataclass(frozen=True)
class LFLSTMSettings(EncoderSettings):
    """Settings of :class:`LFLSTM` (the encoders' settings, then these)."""

    bidirectional: bool = setting(True, "bidirectional encoders (directions concatenated)")
    hidden_text: int = setting(0, "text hidden size (0: 300)", valid=NON_NEGATIVE)
    hidden_audio: int = setting(200, "audio hidden size", valid=POSITIVE)
    hidden_vision: int = setting(100, "vision hidden size", valid=POSITIVE)


class LFLSTM(HeadModel):
    """Late-fusion recurrent baseline.

    Parameters
    ----------
    modalities : subset of ("text", "audio", "vision"), canonical order
    dims : feature dimension D per modality
    hidden : hidden size per modality (default text 300, audio 200, vision 100)
    num_layers, dropout, cell, bidirectional, pooling, padding : encoder settings (see
        :class:`~emotrans.models.encoders.RNNEncoder`); the two directions are concatenated,
        so modality m contributes 2 H_m values when bidirectional
    output_dropout : dropout on the concatenated utterance vector before the head
    """

    name = "lf-lstm"
    description = "late fusion: one recurrent encoder per modality, vectors concatenated"
    uses_embeddings = False
    Settings = LFLSTMSettings

    def __init__(
        self,
        modalities: Sequence[str],
        dims: dict[str, int],
        hidden: dict[str, int] | None = None,
        num_layers: int = 2,
        dropout: float = 0.15,
        cell: str = "lstm",
        bidirectional: bool = True,
        pooling: str = "last",
        output_dropout: float | None = None,
        padding: str = "aligned",
    ) -> None:
        super().__init__(modalities)
        hidden = {**DEFAULT_HIDDEN, **(hidden or {})}
        self.encoders = nn.ModuleDict(
            {
                m: RNNEncoder(
                    dims[m],
                    hidden[m],
                    num_layers,
                    dropout,
                    cell,
                    bidirectional,
                    "concat",
                    pooling,
                    padding,
                )
                for m in self.modalities
            }
        )
        self.dropout = nn.Dropout(dropout if output_dropout is None else output_dropout)
        self.head = EmotionHead(sum(e.output_size for e in self.encoders.values()))

    @classmethod
    def from_settings(
        cls,
        settings: LFLSTMSettings,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
    ) -> LFLSTM:
        hidden = {
            "text": settings.hidden_text or DEFAULT_HIDDEN["text"],
            "audio": settings.hidden_audio,
            "vision": settings.hidden_vision,
        }
        return cls(
            modalities,
            dims,
            hidden=hidden,
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
        vectors = [self.encoders[m](features[m], lengths[m]) for m in self.modalities]
        vec = torch.cat(vectors, dim=1)  # (B, sum of 2 H_m)
        return self.head(self.dropout(vec))  # (B, K)

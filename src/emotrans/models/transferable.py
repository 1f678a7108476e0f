"""The modality-transferable emotion-embedding model (Dai et al., AACL 2020).

Each emotion is a frozen word/phrase embedding e_k (text space, dimension d). Learned linear
maps carry the embeddings into the audio and vision spaces (E_a = E W_a + b_a,
E_v = E W_v + b_v). Each modality is encoded into an utterance vector r_m by a bidirectional
recurrent encoder with summed directions; emotion k scores s_mk = r_m . E_mk in each modality,
and the logits are the weighted sum of the per-modality scores with one learned weight per
modality (initialised to 1/M). Because the maps are shared, any emotion name with an embedding
can be scored, including ones never seen in training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from emotrans.config import NON_NEGATIVE, POSITIVE, setting
from emotrans.errors import ConfigError
from emotrans.models.base import EmotionModel
from emotrans.models.encoders import EncoderSettings, RNNEncoder

SCORES = ("dot", "cosine")


@dataclass(frozen=True)
class TransferableSettings(EncoderSettings):
    """Settings of :class:`TransferableModel` (the encoders' settings, then these)."""

    hidden_text: int = setting(
        0,
        "text hidden size: it must equal the emotion-embedding dimension d (0: d)",
        valid=NON_NEGATIVE,
    )
    hidden_audio: int = setting(200, "audio hidden size", valid=POSITIVE)
    hidden_vision: int = setting(100, "vision hidden size", valid=POSITIVE)
    score: str = setting("dot", "utterance-emotion score", SCORES)


class TransferableModel(EmotionModel):
    """Scores utterances against emotion embeddings mapped into each modality's space.

    Parameters
    ----------
    modalities : subset of ("text", "audio", "vision")
    dims : feature dimension D per modality
    embedding_dim : emotion-embedding dimension d; the text hidden size equals d
    hidden : hidden size per non-text modality (reference: audio 200, vision 100)
    cell, num_layers, dropout, pooling, padding : encoder settings (see :class:`RNNEncoder`)
    score : ``"dot"`` (reference) or ``"cosine"`` with a learned temperature
    hidden_text : text hidden size; must equal ``embedding_dim`` (0 means "equal to it")
    """

    name = "transferable"
    description = "modality-transferable emotion embeddings (Dai et al. 2020)"
    uses_embeddings = True
    Settings = TransferableSettings

    def __init__(
        self,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
        hidden: dict[str, int] | None = None,
        cell: str = "lstm",
        num_layers: int = 2,
        dropout: float = 0.15,
        pooling: str = "last",
        score: str = "dot",
        hidden_text: int = 0,
        padding: str = "packed",
    ) -> None:
        super().__init__(modalities)
        if hidden_text and hidden_text != embedding_dim:
            raise ConfigError(
                f"transferable: the text hidden size ({hidden_text}) must equal the emotion "
                f"embedding dimension ({embedding_dim}); leave hidden_text at 0"
            )
        hidden = {"audio": 200, "vision": 100, **(hidden or {})}
        hidden["text"] = embedding_dim
        self.embedding_dim = embedding_dim
        self.score = score
        self.encoders = nn.ModuleDict(
            {
                m: RNNEncoder(
                    dims[m], hidden[m], num_layers, dropout, cell, True, "sum", pooling, padding
                )
                for m in self.modalities
            }
        )
        # text uses E directly; audio and vision get learned maps d -> H_m
        self.maps = nn.ModuleDict(
            {m: nn.Linear(embedding_dim, hidden[m]) for m in self.modalities if m != "text"}
        )
        m_count = len(self.modalities)
        self.modality_weights = nn.Parameter(torch.full((m_count,), 1.0 / m_count))
        if score == "cosine":
            self.log_temperature = nn.Parameter(torch.tensor(math.log(10.0)))
        self.register_buffer("emotion_vectors", torch.zeros(0, embedding_dim), persistent=False)

    @classmethod
    def from_settings(
        cls,
        settings: TransferableSettings,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
    ) -> TransferableModel:
        return cls(
            modalities,
            dims,
            embedding_dim,
            hidden={"audio": settings.hidden_audio, "vision": settings.hidden_vision},
            cell=settings.rnn,
            num_layers=settings.layers,
            dropout=settings.dropout,
            pooling=settings.pooling,
            score=settings.score,
            hidden_text=settings.hidden_text,
            padding=settings.padding,
        )

    def set_emotions(
        self, names: Sequence[str], vectors: np.ndarray | torch.Tensor | None = None
    ) -> None:
        """Score ``names`` from now on, with their embedding ``vectors`` (K, d)."""
        if vectors is None:
            raise ConfigError("transferable: set_emotions needs the emotions' embedding vectors")
        vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape != (len(names), self.embedding_dim):
            raise ConfigError(
                f"transferable: emotion vectors have shape {tuple(vectors.shape)}, expected "
                f"({len(names)}, {self.embedding_dim}) for {len(names)} names"
            )
        device = self.modality_weights.device
        self.emotion_vectors = vectors.to(device)
        self.emotions = list(names)

    def emotion_space(self) -> dict[str, torch.Tensor]:
        """The current emotions' vectors in each modality's space: modality -> (K, H_m)."""
        e = self.emotion_vectors  # (K, d)
        return {m: e if m == "text" else self.maps[m](e) for m in self.modalities}

    def utterance_vectors(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Encoder outputs per modality: modality -> (B, H_m)."""
        return {m: self.encoders[m](features[m], lengths[m]) for m in self.modalities}

    def modality_scores(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The scores s_m = r_m . E_m^T of each modality: modality -> (B, K)."""
        if not self.emotions:
            raise ConfigError("transferable: no emotions set; call set_emotions first")
        r = self.utterance_vectors(features, lengths)  # modality -> (B, H_m)
        spaces = self.emotion_space()  # modality -> (K, H_m)
        scores = {}
        for m in self.modalities:
            u, e = r[m], spaces[m].to(r[m].dtype)
            if self.score == "cosine":
                s = F.normalize(u, dim=-1) @ F.normalize(e, dim=-1).T * self.log_temperature.exp()
            else:
                s = u @ e.T  # (B, K)
            scores[m] = s
        return scores

    def fusion_weights(self) -> dict[str, float]:
        """The weight w_m of each modality's scores in the logits (with one modality the
        logits are its scores: weight 1)."""
        if len(self.modalities) == 1:
            return {self.modalities[0]: 1.0}
        return {m: float(w) for m, w in zip(self.modalities, self.modality_weights.detach())}

    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        scores = list(self.modality_scores(features, lengths).values())  # M x (B, K)
        if len(scores) == 1:
            return scores[0]
        stacked = torch.stack(scores, dim=0)  # (M, B, K)
        weights = self.modality_weights.to(stacked.dtype)
        return (weights[:, None, None] * stacked).sum(0)  # (B, K)

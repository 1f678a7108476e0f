"""The modality-transferable emotion-embedding model (Dai et al., AACL 2020).

Each emotion is a frozen word/phrase embedding e_k (text space, dimension d). Learned linear
maps carry the embeddings into the audio and vision spaces (E_a = E W_a + b_a,
E_v = E W_v + b_v). Each modality is encoded into an utterance vector r_m by a bidirectional
recurrent encoder with summed directions; emotion k scores s_mk = r_m . E_mk in each modality,
and the logits are the weighted sum of the per-modality scores with one learned weight per
modality (initialised to 1/M). Because the maps are shared, any emotion name with an embedding
can be scored, including ones never seen in training.

Sentiment (one score per utterance, docs/design.md "The model"): by default
(``sentiment_head: poles``) the model scores the two pole names (``sentiment_positive``,
``sentiment_negative``, default "positive" and "negative") exactly as it scores emotions,
and the score is a learned affine map of their difference, ``a (s_pos - s_neg) + b``, so
sentiment stays a reading of the same embedding space. ``sentiment_head: linear`` is a plain
regression head on the concatenated utterance vectors instead.
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
SENTIMENT_HEADS = ("poles", "linear")


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
    sentiment_head: str = setting(
        "poles",
        "sentiment task: a (s_pos - s_neg) + b through the pole names' embeddings (poles), "
        "or a linear regression head on the utterance vectors (linear)",
        SENTIMENT_HEADS,
    )
    sentiment_positive: str = setting("positive", "sentiment task: the positive pole's name")
    sentiment_negative: str = setting("negative", "sentiment task: the negative pole's name")


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
    sentiment_head : ``"poles"`` or ``"linear"`` (module docstring), for the sentiment task
    poles : the (positive, negative) pole names of the ``poles`` sentiment head
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
        padding: str = "aligned",
        sentiment_head: str = "poles",
        poles: tuple[str, str] = ("positive", "negative"),
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
        self.sentiment_head = sentiment_head
        self.poles = tuple(poles)
        self.hidden = {m: hidden[m] for m in self.modalities}
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
            sentiment_head=settings.sentiment_head,
            poles=(settings.sentiment_positive, settings.sentiment_negative),
        )

    @classmethod
    def embedding_names(
        cls, settings: TransferableSettings, names: Sequence[str], task: str
    ) -> list[str]:
        """The two pole names for the ``poles`` sentiment head, else ``names``."""
        if task == "sentiment" and settings.sentiment_head == "poles":
            return [settings.sentiment_positive, settings.sentiment_negative]
        return list(names)

    def set_task(self, task: str) -> None:
        """As :meth:`EmotionModel.set_task`; the sentiment task adds the head's parameters:
        ``sentiment_affine`` (a, b) for ``poles``, ``sentiment_linear`` (sum_m H_m -> 1) for
        ``linear``."""
        super().set_task(task)
        for name in ("sentiment_affine", "sentiment_linear"):
            if hasattr(self, name):
                delattr(self, name)
        if task != "sentiment":
            return
        device = self.modality_weights.device
        if self.sentiment_head == "poles":
            self.sentiment_affine = nn.Parameter(torch.tensor([1.0, 0.0], device=device))
        else:
            self.sentiment_linear = nn.Linear(sum(self.hidden.values()), 1).to(device)

    def set_emotions(
        self, names: Sequence[str], vectors: np.ndarray | torch.Tensor | None = None
    ) -> None:
        """Score ``names`` from now on, with their embedding ``vectors`` (K, d).

        In the sentiment task ``names`` is ``["sentiment"]`` and ``vectors`` are those of
        :meth:`embedding_names`: the two poles (2, d) for the ``poles`` head; ignored (may be
        None) for the ``linear`` head."""
        self._check_sentiment_names(names)
        if self.task == "sentiment":
            names_embedded = self.poles if self.sentiment_head == "poles" else None
            if names_embedded is None:
                self.emotion_vectors = torch.zeros(0, self.embedding_dim)
                self.emotions = list(names)
                return
            self._set_vectors(list(names_embedded), vectors)
            self.emotions = list(names)
            return
        self._set_vectors(list(names), vectors)
        self.emotions = list(names)

    def _set_vectors(self, names: list[str], vectors: np.ndarray | torch.Tensor | None) -> None:
        """Keep the embedding ``vectors`` (K, d) of ``names``, checked, on the model's device."""
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
        """The scores s_m = r_m . E_m^T of each modality: modality -> (B, K).

        Sentiment (K = 1): with the ``poles`` head a (s_m,pos - s_m,neg); with the ``linear``
        head the modality's share of the regression, r_m . u_m. Either way the score is
        ``sum_m w_m s_m + b`` (:meth:`fusion_weights`; b is the head's bias)."""
        if not self.emotions:
            raise ConfigError("transferable: no emotions set; call set_emotions first")
        r = self.utterance_vectors(features, lengths)  # modality -> (B, H_m)
        if self.task == "sentiment" and self.sentiment_head == "linear":
            weight = self.sentiment_linear.weight[0]  # (sum_m H_m,)
            out, start = {}, 0
            for m in self.modalities:
                h = r[m].shape[1]
                out[m] = (r[m] @ weight[start : start + h].to(r[m].dtype))[:, None]  # (B, 1)
                start += h
            return out
        spaces = self.emotion_space()  # modality -> (K, H_m)
        scores = {}
        for m in self.modalities:
            u, e = r[m], spaces[m].to(r[m].dtype)
            if self.score == "cosine":
                s = F.normalize(u, dim=-1) @ F.normalize(e, dim=-1).T * self.log_temperature.exp()
            else:
                s = u @ e.T  # (B, K)
            scores[m] = s
        if self.task == "sentiment":  # poles: (B, 2) -> a (s_pos - s_neg), (B, 1)
            a = self.sentiment_affine[0]
            scores = {m: a * (s[:, :1] - s[:, 1:2]) for m, s in scores.items()}
        return scores

    def fusion_weights(self) -> dict[str, float]:
        """The weight w_m of each modality's scores in the logits (with one modality the
        logits are its scores: weight 1)."""
        if len(self.modalities) == 1 or (
            self.task == "sentiment" and self.sentiment_head == "linear"
        ):
            return dict.fromkeys(self.modalities, 1.0)
        return {m: float(w) for m, w in zip(self.modalities, self.modality_weights.detach())}

    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        scores = list(self.modality_scores(features, lengths).values())  # M x (B, K)
        if self.task == "sentiment" and self.sentiment_head == "linear":
            return torch.stack(scores, 0).sum(0) + self.sentiment_linear.bias  # (B, 1)
        if len(scores) == 1:
            fused = scores[0]
        else:
            stacked = torch.stack(scores, dim=0)  # (M, B, K)
            weights = self.modality_weights.to(stacked.dtype)
            fused = (weights[:, None, None] * stacked).sum(0)  # (B, K)
        if self.task == "sentiment":
            return fused + self.sentiment_affine[1]  # (B, 1): a (s_pos - s_neg) fused, + b
        return fused

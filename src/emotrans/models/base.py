"""The contract every emotion model implements (docs/design.md, "The model").

A model maps a batch of utterances to one logit per emotion of its *current emotion list*:

``forward(features, lengths) -> logits``

* ``features``: dict modality -> float tensor (B, T_m, D_m), left zero padded (valid steps at
  the end of each row), for exactly the model's ``modalities``;
* ``lengths``: dict modality -> int64 tensor (B,), valid steps per row (>= 0);
* ``logits``: float tensor (B, K), K = ``len(model.emotions)``.

The *task* (:meth:`EmotionModel.set_task`, from the data) says what the outputs mean:
``"emotion"``, one logit per emotion (binary cross-entropy), or ``"sentiment"``, one output
named ``"sentiment"`` (K = 1) that is the score itself, in [-3, 3] (regression). Baselines need
nothing for sentiment (their one head row is a linear regression); a model that scores
through embeddings may score sentiment differently (the transferable model uses the
embeddings of two pole names, :meth:`EmotionModel.embedding_names`).

The emotion list is set with :meth:`EmotionModel.set_emotions`. The transferable model scores
any list of names from their embedding vectors; models without embeddings (the baselines) keep
one output unit per name they were trained on and get a fresh, untrained unit for a new name.

A model declares its settings as a dataclass, ``Settings``, of
:func:`emotrans.config.setting` fields (defaults, help, choices, valid ranges); the CLI flags,
``emotrans models`` and :func:`emotrans.models.registry.resolve_config` are built from it, and
:meth:`EmotionModel.from_settings` builds the model from one instance of it. A new model is a
module with a subclass of :class:`EmotionModel` and one line in the registry
(:func:`emotrans.models.registry.register_model`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from emotrans.config import RunConfig, check_setting, coerce_setting
from emotrans.data.dataset import SENTIMENT, TASKS
from emotrans.errors import ConfigError
from emotrans.modalities import parse_modalities


class EmotionModel(nn.Module, abc.ABC):
    """Base class of the models.

    Class attributes
    ----------------
    name : the registry name (``"transferable"``, ``"mult"``, ...)
    description : one line for ``emotrans models``
    uses_embeddings : whether :meth:`set_emotions` needs the emotions' embedding vectors
    Settings : the dataclass of the model's settings (its defaults are the reference ones)

    Subclasses implement :meth:`from_settings`, :meth:`forward`, :meth:`set_emotions` and
    :meth:`modality_scores`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_embeddings: ClassVar[bool] = False
    Settings: ClassVar[type]

    def __init__(self, modalities: Sequence[str]) -> None:
        super().__init__()
        self.modalities: tuple[str, ...] = tuple(modalities)
        self.emotions: list[str] = []
        self.task: str = "emotion"

    # -- construction ----------------------------------------------------------------------
    @classmethod
    @abc.abstractmethod
    def from_settings(
        cls,
        settings: Any,
        modalities: Sequence[str],
        dims: dict[str, int],
        embedding_dim: int,
    ) -> EmotionModel:
        """Build the model.

        Parameters
        ----------
        settings : an instance of ``cls.Settings``
        modalities : the modalities used, canonical order (text, audio, vision)
        dims : feature dimension D_m per modality (at least those of ``modalities``)
        embedding_dim : emotion-embedding dimension d (0 for models without embeddings)
        """

    @classmethod
    def from_config(
        cls, config: RunConfig, dims: dict[str, int], embedding_dim: int
    ) -> EmotionModel:
        """Build from a run's settings: ``config.model_settings`` must hold only settings of
        this model (see :func:`emotrans.models.registry.resolve_config`); missing ones take
        their defaults."""
        modalities = parse_modalities(config.modalities)
        missing = [m for m in modalities if m not in dims]
        if missing:
            raise ConfigError(
                f"{cls.name}: modality {', '.join(missing)} requested but the data has only "
                f"{', '.join(dims) or 'none'}"
            )
        settings = cls.settings_from(config.model_settings)
        return cls.from_settings(settings, modalities, dims, embedding_dim)

    @classmethod
    def settings_from(cls, values: Mapping[str, Any], where: str = "") -> Any:
        """``cls.Settings`` from a mapping of (possibly string) values, converted to the
        declared types and checked against the choices and ranges; an unknown key, or a bad
        value, raises a one-line :class:`ConfigError`."""
        where = where or f"model {cls.name}"
        fields = {f.name: f for f in dataclasses.fields(cls.Settings)}
        kwargs = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in fields:
                raise ConfigError(
                    f"{where}: unknown setting {key!r}; {cls.name} takes "
                    f"{', '.join(fields) or 'no settings'}"
                )
            kwargs[name] = coerce_setting(fields[name], value, where)
            check_setting(fields[name], kwargs[name], where)
        return cls.Settings(**kwargs)

    @classmethod
    def embedding_names(cls, settings: Any, names: Sequence[str], task: str) -> list[str]:
        """The names whose embedding vectors :meth:`set_emotions` needs to score ``names``
        in ``task`` (default: ``names`` themselves)."""
        return list(names)

    # -- use -------------------------------------------------------------------------------
    def set_task(self, task: str) -> None:
        """Choose the task, ``"emotion"`` (default) or ``"sentiment"``, before
        :meth:`set_emotions` and before loading weights (a model may add parameters for it).
        For sentiment the emotion list must be ``["sentiment"]``."""
        if task not in TASKS:
            raise ConfigError(f"{self.name}: unknown task {task!r} (use {', '.join(TASKS)})")
        self.task = task

    def _check_sentiment_names(self, names: Sequence[str]) -> None:
        if self.task == "sentiment" and list(names) != [SENTIMENT]:
            raise ConfigError(
                f"{self.name}: the sentiment task scores the one output {SENTIMENT!r}, not "
                f"{', '.join(map(str, names)) or 'nothing'}"
            )

    @abc.abstractmethod
    def set_emotions(
        self, names: Sequence[str], vectors: np.ndarray | torch.Tensor | None = None
    ) -> None:
        """Choose the K emotions the model scores; ``vectors`` (K, d) for embedding models."""

    @abc.abstractmethod
    def forward(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits (B, K) of the current emotions (see the module docstring for the inputs)."""

    @abc.abstractmethod
    def modality_scores(
        self, features: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor] | None:
        """Per-modality scores, modality -> (B, K), for models whose logits fuse them (the
        transferable model's s_m); ``None`` for models without such scores."""

    def num_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

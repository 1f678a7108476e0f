"""Models by name. Classes are imported lazily so ``emotrans --help`` does not load torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from emotrans.errors import ConfigError

if TYPE_CHECKING:
    from emotrans.config import RunConfig
    from emotrans.models.base import EmotionModel

_MODELS: dict[str, str] = {
    "transferable": "emotrans.models.transferable:TransferableModel",
    "ef-lstm": "emotrans.models.ef_lstm:EFLSTM",
    "lf-lstm": "emotrans.models.lf_lstm:LFLSTM",
    "mult": "emotrans.models.mult:MulT",
}


def model_names() -> list[str]:
    return list(_MODELS)


def model_class(name: str) -> type[EmotionModel]:
    """The class registered under ``name``; a :class:`ConfigError` for an unknown name."""
    try:
        module, attr = _MODELS[name].split(":")
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(_MODELS)}") from None
    return getattr(importlib.import_module(module), attr)


def build_model(config: RunConfig, dims: dict[str, int], embedding_dim: int) -> EmotionModel:
    """Instantiate ``config.model`` for feature dims ``dims`` (modality -> D).

    ``embedding_dim`` is the emotion-embedding dimension d (used by embedding models).
    The caller then sets the emotion list with ``model.set_emotions(names, vectors)``.
    """
    return model_class(config.model).from_config(config, dims, embedding_dim)


def resolve_config(config: RunConfig) -> RunConfig:
    """``config`` with its model's settings validated and complete (every default filled in).

    Call it before anything is read or written, so a bad model setting fails early and the run
    directory stores every setting the model was built with.
    """
    model_class(config.model)  # an unknown model name fails here
    return config

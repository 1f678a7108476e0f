"""Models by name, and their settings.

A model is one module with a subclass of :class:`~emotrans.models.base.EmotionModel`, listed
here under its name (or added at run time with :func:`register_model`). Classes are imported
lazily, when first asked for, so ``emotrans --help`` does not load torch; everything that
lists models or their settings (the CLI flags, ``emotrans models``, the grids' key check,
:func:`resolve_config`) asks this module.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING

from emotrans.config import RunConfig
from emotrans.errors import ConfigError

if TYPE_CHECKING:
    from emotrans.models.base import EmotionModel

_MODELS: dict[str, str | type[EmotionModel]] = {
    "transferable": "emotrans.models.transferable:TransferableModel",
    "ef-lstm": "emotrans.models.ef_lstm:EFLSTM",
    "lf-lstm": "emotrans.models.lf_lstm:LFLSTM",
    "mult": "emotrans.models.mult:MulT",
}


def model_names() -> list[str]:
    """Registered model names, in registration order (the order of ``emotrans models``)."""
    return list(_MODELS)


def register_model(name: str, model: str | type[EmotionModel]) -> None:
    """Make ``model`` (a class, or ``"package.module:Class"`` imported when first used)
    available as ``name`` to :func:`build_model`, the CLI and the grids.

    A class's ``name`` attribute must be ``name``; registering a taken name is an error.
    """
    if name in _MODELS:
        raise ValueError(f"a model named {name!r} is already registered")
    if not isinstance(model, str) and getattr(model, "name", None) != name:
        raise ValueError(f"{model!r} has name {getattr(model, 'name', None)!r}, not {name!r}")
    _MODELS[name] = model


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (e.g. a model registered by a test)."""
    _MODELS.pop(name, None)


def model_class(name: str) -> type[EmotionModel]:
    """The class registered under ``name``; a :class:`ConfigError` for an unknown name."""
    try:
        target = _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(_MODELS)}") from None
    if isinstance(target, str):
        module, attr = target.split(":")
        target = getattr(importlib.import_module(module), attr)
    return target


def model_settings_fields() -> dict[str, dict[str, dataclasses.Field]]:
    """Every model setting: setting name -> {model name: its field in that model's Settings},
    in order of first appearance (models in registration order). Imports the models."""
    table: dict[str, dict[str, dataclasses.Field]] = {}
    for model in model_names():
        for f in dataclasses.fields(model_class(model).Settings):
            table.setdefault(f.name, {})[model] = f
    return table


def resolve_config(config: RunConfig, *, strict: bool = False, where: str = "") -> RunConfig:
    """``config`` with its model's settings validated and complete (every default filled in).

    Values are converted to their declared types and checked against their choices and
    ranges. A key no registered model takes is an error naming the key and what the model
    takes. A key of another model (``mult_dim`` for ``transferable``) is dropped, as the flat
    settings of old run directories and grid bases shared by several models hold them; with
    ``strict`` it is an error ("mult_dim applies to model mult, not transferable").
    Resolving a resolved config returns an equal one (with an equal :meth:`RunConfig.digest`).

    Call it before anything is read or written, so a bad model setting fails early and the run
    directory stores every setting the model was built with.
    """
    cls = model_class(config.model)  # an unknown model name fails here
    where = where or f"model {config.model}"
    own = {f.name for f in dataclasses.fields(cls.Settings)}
    others = model_settings_fields()
    values = {}
    for key, value in config.model_settings.items():
        name = str(key).replace("-", "_")
        if name not in own and name in others:
            if strict:
                users = ", ".join(others[name])
                noun = "model" if len(others[name]) == 1 else "models"
                raise ConfigError(f"{where}: {name} applies to {noun} {users}, not {config.model}")
            continue
        values[name] = value
    settings = cls.settings_from(values, where)
    return config.replace(model_settings=dataclasses.asdict(settings))


def build_model(config: RunConfig, dims: dict[str, int], embedding_dim: int) -> EmotionModel:
    """Instantiate ``config.model`` for feature dims ``dims`` (modality -> D).

    ``embedding_dim`` is the emotion-embedding dimension d (used by embedding models). The
    model settings are resolved first (:func:`resolve_config`: settings of other models are
    ignored), so a config read from an old run directory builds the same model. The caller
    then sets the emotion list with ``model.set_emotions(names, vectors)``.
    """
    config = resolve_config(config)
    return model_class(config.model).from_config(config, dims, embedding_dim)

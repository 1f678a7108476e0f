"""Models: the contract every model implements, the registry, and the models themselves.

>>> from emotrans import models
>>> models.model_names()
['transferable', 'ef-lstm', 'lf-lstm', 'mult']
>>> model = models.build_model(RunConfig(hidden_audio=64), {"text": 300, "audio": 74,
...                                                          "vision": 35}, embedding_dim=300)

The registry functions are light; the contract (:class:`EmotionModel`) and the model classes
import torch, so they are loaded on first use (PEP 562) and ``import emotrans.models`` stays
fast. Adding a model: docs/design.md, "Extending emotrans".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emotrans.lazy import lazy_exports
from emotrans.models.registry import (
    build_model,
    model_class,
    model_names,
    model_settings_fields,
    register_model,
    resolve_config,
    unregister_model,
)

if TYPE_CHECKING:
    from emotrans.models.base import EmotionModel
    from emotrans.models.ef_lstm import EFLSTM, EFLSTMSettings
    from emotrans.models.lf_lstm import LFLSTM, LFLSTMSettings
    from emotrans.models.mult import MulT, MulTSettings
    from emotrans.models.transferable import TransferableModel, TransferableSettings

# name -> submodule that defines it (each imports torch)
_LAZY: dict[str, str] = {
    "EmotionModel": "base",
    "TransferableModel": "transferable",
    "TransferableSettings": "transferable",
    "EFLSTM": "ef_lstm",
    "EFLSTMSettings": "ef_lstm",
    "LFLSTM": "lf_lstm",
    "LFLSTMSettings": "lf_lstm",
    "MulT": "mult",
    "MulTSettings": "mult",
}


__getattr__, __dir__ = lazy_exports(
    globals(), {name: f"{__name__}.{module}:{name}" for name, module in _LAZY.items()}
)


__all__ = [
    "EFLSTM",
    "LFLSTM",
    "EFLSTMSettings",
    "EmotionModel",
    "LFLSTMSettings",
    "MulT",
    "MulTSettings",
    "TransferableModel",
    "TransferableSettings",
    "build_model",
    "model_class",
    "model_names",
    "model_settings_fields",
    "register_model",
    "resolve_config",
    "unregister_model",
]

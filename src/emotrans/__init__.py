"""emotrans: modality-transferable emotion embeddings for low-resource multimodal emotion
recognition (Dai et al., AACL 2020).

Data flows one way::

    files -> Dataset -> protocol -> model + embeddings -> trainer -> run directory -> report

The public API, in the scikit-learn / Hugging Face style::

    import emotrans

    data = emotrans.load("data/mosei")                   # any supported format, detected
    rec = emotrans.train(data, epochs=10, seed=0)        # RunConfig settings by name
    rec.metrics["splits"]["test"]["average"]["wacc"]
    rec.save("runs/first")                               # the run directory `emotrans train` writes
    rec = emotrans.Recognizer.load("runs/first")
    table = rec.predict(data, emotions=["anger", "boredom", "pride"])  # a pandas DataFrame

Also here: :class:`RunConfig` (every setting), :class:`Dataset`, the error classes, and the
packages ``emotrans.models`` (``model_names()``, ``build_model``) and ``emotrans.metrics``
(pure NumPy). Heavy dependencies (torch, sentence-transformers, matplotlib) are imported on
first use, so ``import emotrans`` stays fast: :func:`train`, :class:`Recognizer` and
``emotrans.models`` load when first touched (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emotrans import metrics
from emotrans.config import RunConfig
from emotrans.data import load
from emotrans.data.dataset import Dataset, Split
from emotrans.errors import (
    ConfigError,
    DataFormatError,
    EmbeddingError,
    EmotransError,
    RunDirError,
)
from emotrans.lazy import lazy_exports
from emotrans.modalities import MODALITIES
from emotrans.version import __version__

if TYPE_CHECKING:
    from emotrans import models
    from emotrans.recognizer import Recognizer, train

# name -> (module, attribute or None for the module itself), imported on first use
_LAZY: dict[str, tuple[str, str | None]] = {
    "Recognizer": ("emotrans.recognizer", "Recognizer"),
    "train": ("emotrans.recognizer", "train"),
    "models": ("emotrans.models", None),
}


__getattr__, __dir__ = lazy_exports(
    globals(),
    {name: module + (f":{attr}" if attr else "") for name, (module, attr) in _LAZY.items()},
)


__all__ = [
    "MODALITIES",
    "ConfigError",
    "DataFormatError",
    "Dataset",
    "EmbeddingError",
    "EmotransError",
    "Recognizer",
    "RunConfig",
    "RunDirError",
    "Split",
    "__version__",
    "load",
    "metrics",
    "models",
    "train",
]

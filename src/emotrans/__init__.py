"""emotrans: modality-transferable emotion embeddings for low-resource multimodal emotion
recognition (Dai et al., AACL 2020).

Data flows one way::

    files -> Dataset -> protocol -> model + embeddings -> trainer -> run directory -> report

Heavy dependencies (torch, sentence-transformers, matplotlib) are imported lazily, so
``import emotrans`` stays fast.
"""

from __future__ import annotations

from emotrans.data.dataset import Dataset, Split
from emotrans.errors import (
    ConfigError,
    DataFormatError,
    EmbeddingError,
    EmotransError,
    RunDirError,
)
from emotrans.modalities import MODALITIES
from emotrans.version import __version__

__all__ = [
    "MODALITIES",
    "ConfigError",
    "DataFormatError",
    "Dataset",
    "EmbeddingError",
    "EmotransError",
    "RunDirError",
    "Split",
    "__version__",
]

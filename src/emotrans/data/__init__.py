"""Datasets: the unified :class:`Dataset` type, the formats (one module each, one registry:
:mod:`emotrans.data.formats`), the native format, and the synthetic generator.

>>> from emotrans.data import load
>>> ds = load("data/mosei")          # format detected from the files
>>> ds["train"].features["text"].shape
(16326, 20, 300)

Importing this package never imports torch.
"""

from __future__ import annotations

from emotrans.data.dataset import SPLITS, Dataset, Split
from emotrans.data.formats import Format, register_format
from emotrans.data.formats.native import load_native, save_native
from emotrans.data.loader import FORMATS, detect_format, load
from emotrans.data.synthetic import generate, oracle_logits, write_synthetic
from emotrans.modalities import MODALITIES

__all__ = [
    "FORMATS",
    "MODALITIES",
    "SPLITS",
    "Dataset",
    "Format",
    "Split",
    "detect_format",
    "generate",
    "load",
    "load_native",
    "oracle_logits",
    "register_format",
    "save_native",
    "write_synthetic",
]

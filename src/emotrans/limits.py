"""Bounds on what an input file may ask for: bytes of one array in memory, and inflation.

A file declares sizes (an HDF5 dataset's shape, an ``.npy`` header's shape, a zip member's
uncompressed size) before its data; the readers check each against these bounds before
anything is allocated for it. Two environment variables raise them for unusual real data:
``EMOTRANS_MAX_ARRAY_BYTES`` and ``EMOTRANS_MAX_INFLATION`` (see docs/design.md, "Declared
sizes"). The HDF5 and ``.csd`` readers (``emotrans.data``) and the ``.npz`` reader
(:mod:`emotrans.npz`) share them.
"""

from __future__ import annotations

import math
import os

from emotrans.errors import ConfigError

MAX_ARRAY_BYTES_ENV = "EMOTRANS_MAX_ARRAY_BYTES"
"""Environment variable: the most bytes one array read from a file may take in memory."""

DEFAULT_MAX_ARRAY_BYTES = 16 << 30
"""16 GiB: 20 times the whole of CMU-MOSEI's arrays (0.75 GB), far below what a hostile
declared shape asks for (a (2**40, 6) label array: 24 TiB)."""

MAX_INFLATION_ENV = "EMOTRANS_MAX_INFLATION"
"""Environment variable: the largest ratio of an array's declared bytes to the bytes the
file stores for it."""

DEFAULT_MAX_INFLATION = 200.0
"""Real feature files compress 1.1x (float noise) to about 10x (long zero padding); 200x is
generous for them and stops decompression bombs (gzip reaches 1032x)."""

SMALL_ARRAY_BYTES = 64 << 20
"""Arrays (and chunks) up to 64 MiB pass the ratio test whatever the file stores for them:
a small array never written reads as its fill value, a tiny one compresses without limit."""


def max_array_bytes() -> int:
    """:data:`DEFAULT_MAX_ARRAY_BYTES`, or the value of ``EMOTRANS_MAX_ARRAY_BYTES``."""
    return int(_env_number(MAX_ARRAY_BYTES_ENV, DEFAULT_MAX_ARRAY_BYTES))


def max_inflation() -> float:
    """:data:`DEFAULT_MAX_INFLATION`, or the value of ``EMOTRANS_MAX_INFLATION``."""
    return _env_number(MAX_INFLATION_ENV, DEFAULT_MAX_INFLATION)


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={text!r}: expected a positive number")
    return value


def human_bytes(n: float) -> str:
    """``"512 B"``, ``"3.4 MB"``, ``"24.2 TB"``: decimal units, for messages."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns first

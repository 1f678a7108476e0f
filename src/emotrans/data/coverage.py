"""Rows with no valid step: samples whose features of one modality are all zero.

Public h5 sets sometimes hold many such rows (a modality the extractor missed for a whole
segment); a model then learns that modality from padding alone. ``emotrans data inspect``
reports them per split and modality and warns when they are many.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emotrans.data.dataset import Dataset

WARN_FRACTION = 0.2
"""Share of a split's rows without a valid step of one modality above which inspect warns."""

_BLOCK_BYTES = 8 << 20


def empty_rows(dataset: Dataset) -> dict[str, dict[str, dict[str, Any]]]:
    """Per split and modality, the rows whose features are all zero.

    Returns
    -------
    ``{split: {modality: {"rows": k, "of": n, "fraction": k / n}}}`` (fraction 0.0 for an
    empty split), JSON-serialisable.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, split in dataset.splits.items():
        out[name] = {}
        for m, x in split.features.items():
            n = x.shape[0]
            k = int(_all_zero(x).sum())
            out[name][m] = {"rows": k, "of": n, "fraction": round(k / n, 4) if n else 0.0}
    return out


def empty_row_warnings(
    counts: dict[str, dict[str, dict[str, Any]]], threshold: float = WARN_FRACTION
) -> list[str]:
    """One sentence per split and modality whose share of empty rows exceeds ``threshold``,
    e.g. ``"125 of 173 train rows have no valid audio step"``."""
    lines = []
    for split, per_modality in counts.items():
        for m, c in per_modality.items():
            if c["of"] and c["fraction"] > threshold:
                lines.append(
                    f"{c['rows']:,} of {c['of']:,} {split} rows have no valid {m} step "
                    f"({c['fraction']:.0%}: all its features are zero)"
                )
    return lines


def _all_zero(x: np.ndarray) -> np.ndarray:
    """Whether each row of ``x`` (N, T, D) is all zero, (N,) bool; in blocks of rows."""
    n = x.shape[0]
    flat = x.reshape(n, -1)  # (N, T*D), a view of the contiguous array
    row_bytes = max(1, flat.shape[1] * flat.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    out = np.empty(n, dtype=bool)
    for start in range(0, n, step):
        out[start : start + step] = ~flat[start : start + step].any(axis=1)
    return out

"""What the ``y_{split}.h5`` label files of other public repositories mean, from their shape.

Shared by :mod:`.mfn_xy` and :mod:`.y_h5`. Two kinds are found in public code:

- **sentiment**: one score per sample in [-3, 3] (CMU-MOSI, CMU-MOSEI), stored as (N,),
  (N, 1) or (N, 1, 1). Read as the ``sentiment`` task: the one label ``"sentiment"`` with the
  score as its intensity and ``score > 0`` as its binary label (see
  :class:`emotrans.data.Dataset`).
- **3 classes**: one-hot rows (N, 3), read by their users with ``argmax``. Read as three
  binary labels named :data:`THREE_CLASSES`; the files do not say what the columns mean, so the
  names follow the usual negative / neutral / positive order of 3-class sentiment and can be
  changed with the loaders' ``classes`` option.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrans.errors import DataFormatError

log = logging.getLogger(__name__)

SENTIMENT = "sentiment"
"""The one label name of the sentiment task (as in :class:`emotrans.data.Dataset`)."""

THREE_CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")
"""Names given to the columns of (N, 3) one-hot labels, in column order."""

LABEL_KEYS: tuple[str, ...] = ("d1", "data")
"""Dataset names of the array in these files, the first present is read."""

SCORE_RANGE = 3.0


def interpret(y: np.ndarray, path: Path, classes: Sequence[str] = THREE_CLASSES) -> dict:
    """Labels from a raw ``y`` array of one split.

    Parameters
    ----------
    y : float32 array of shape (N,), (N, 1), (N, 1, 1) (sentiment) or (N, 3) (one-hot)
    path : its file, for messages
    classes : names of the three one-hot columns

    Returns
    -------
    dict with ``task`` (``"sentiment"`` or ``"emotion"``), ``names`` (label names),
    ``labels`` uint8 (N, K) and ``intensities`` float32 (N, K) or None.

    Raises
    ------
    DataFormatError
        Another shape, non-finite values, or (N, 3) rows that are not one-hot.
    """
    if not np.isfinite(y).all():
        raise DataFormatError(f"{path}: labels contain non-finite values")
    if y.ndim >= 1 and y.shape[1:] in ((), (1,), (1, 1)):
        score = np.ascontiguousarray(y.reshape(-1, 1), dtype=np.float32)  # (N, 1)
        outside = int((np.abs(score) > SCORE_RANGE + 1e-6).sum())
        if outside:
            log.warning("%s: %d sentiment scores outside [-3, 3]; kept as they are", path, outside)
        return {
            "task": "sentiment",
            "names": [SENTIMENT],
            "labels": (score > 0).astype(np.uint8),
            "intensities": score,
        }
    if y.ndim == 2 and y.shape[1] == len(THREE_CLASSES):
        if len(classes) != y.shape[1]:
            raise DataFormatError(f"{path}: {y.shape[1]} label columns but classes {classes}")
        onehot = np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1).all()
        if not onehot:
            raise DataFormatError(
                f"{path}: labels have shape {y.shape} but their rows are not one-hot "
                "(expected one 1 and two 0 per row)"
            )
        return {"task": "emotion", "names": list(classes), "labels": y.astype(np.uint8),
                "intensities": None}  # fmt: skip
    raise DataFormatError(
        f"{path}: labels have shape {y.shape}; expected (N,) or (N, 1) sentiment scores in "
        "[-3, 3], or (N, 3) one-hot classes"
    )

"""The generator's oracle: its Bayes-optimal scores, their weighted accuracies, the
zero-shot ceiling, and the ``oracle.npz`` file written next to every synthetic dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data.dataset import SPLITS
from emotrans.errors import DataFormatError
from emotrans.metrics import roc_auc
from emotrans.npz import load_npz


def adjust_oracle(oracle: dict[str, np.ndarray], train_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Add log(neg/pos) of the training split per emotion (counts floored at 1)."""
    pos = train_labels.sum(axis=0).astype(np.float64)
    neg = train_labels.shape[0] - pos
    shift = np.log(np.maximum(neg, 1.0) / np.maximum(pos, 1.0))  # (K,)
    return {k: (v + shift).astype(np.float32) for k, v in oracle.items()}


def oracle_scores(labels: np.ndarray, logits: np.ndarray, emotions: Sequence[str]) -> dict:
    """Weighted accuracy of the oracle's balanced decision (logit > 0), per emotion."""
    pred = logits > 0
    truth = labels.astype(bool)
    out = {}
    for k, name in enumerate(emotions):
        p, n = truth[:, k].sum(), (~truth[:, k]).sum()
        if p == 0 or n == 0:
            out[name] = None
            continue
        tpr = (pred[:, k] & truth[:, k]).sum() / p
        tnr = (~pred[:, k] & ~truth[:, k]).sum() / n
        out[name] = round(float((tpr + tnr) / 2), 4)
    defined = [v for v in out.values() if v is not None]
    return {
        "wacc": out,
        "average_wacc": round(float(np.mean(defined)), 4) if defined else None,
    }


def zero_shot_ceiling(labels: np.ndarray, oracle: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """ROC AUC per emotion of its zero-shot prediction from the other emotions' oracle scores.

    An embedding model trained without emotion k only learns the part of its utterance
    vector in the span of the other emotions' vectors, so its score for k is, at best, the
    others' scores combined with the least-squares weights that rebuild ``vectors[k]`` from
    theirs. This is that prediction, with the oracle's scores in place of a model's.

    Parameters
    ----------
    labels : (n, K) binary labels
    oracle : (n, K) oracle logits of the same samples
    vectors : (K, d) the emotions' embedding vectors

    Returns
    -------
    (K,) AUC of each emotion held out in turn (NaN where its labels are constant)
    """
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    k = unit.shape[0]
    scores = np.empty(oracle.shape, dtype=np.float64)  # (n, K)
    for u in range(k):
        seen = [j for j in range(k) if j != u]
        weights = np.linalg.lstsq(unit[seen].T, unit[u], rcond=None)[0]  # (K-1,)
        scores[:, u] = oracle[:, seen] @ weights
    return roc_auc(np.asarray(labels).astype(bool), scores)


def oracle_logits(path_or_dataset_dir: str | Path) -> dict[str, Any]:
    """Read the generator's oracle next to a synthetic dataset.

    Parameters
    ----------
    path_or_dataset_dir : the dataset directory, a file in it, or ``oracle.npz`` itself

    Returns
    -------
    ``{"emotions": [...], split: {"logits": (N, K) float32, "ids": (N,) str}}``; apply a
    sigmoid to the logits and threshold at 0.5 for the oracle's balanced decision.
    """
    path = Path(path_or_dataset_dir)
    if path.is_dir():
        path = path / "oracle.npz"
    elif path.name != "oracle.npz":
        path = path.parent / "oracle.npz"
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (not a synthetic dataset?)")
    text = ["emotions", *(f"{split}_ids" for split in SPLITS)]
    z = load_npz(path, text=text)  # each array checked against its header first
    try:
        out: dict[str, Any] = {"emotions": [str(e) for e in z["emotions"]]}
        for key in sorted(z):
            if key.endswith("_logits"):
                split = key[: -len("_logits")]
                out[split] = {"logits": z[key], "ids": z[f"{split}_ids"]}
    except (TypeError, KeyError) as exc:
        raise DataFormatError(f"{path}: unreadable oracle file ({exc})") from None
    return out


def write_oracle(path: Path, oracle: dict[str, Any]) -> Path:
    """Write ``oracle`` (see :func:`oracle_logits`) to ``path``, atomically."""
    arrays = {"emotions": np.array(oracle["emotions"], dtype=str)}
    for split in SPLITS:
        arrays[f"{split}_logits"] = oracle[split]["logits"]
        arrays[f"{split}_ids"] = np.asarray(oracle[split]["ids"], dtype=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path

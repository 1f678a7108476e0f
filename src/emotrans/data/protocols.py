"""Low-resource protocols as pure data operations (docs/design.md, "Protocols").

* :func:`zero_shot` removes every sample labelled with an unseen emotion from every split and
  drops its column (CMU-MOSEI leave-one-out).
* :func:`extend_with_unseen` appends another dataset's samples of an unseen emotion to a split
  as a new label column (IEMOCAP zero-shot with the IEMOCAP-9 extras).
* :func:`few_shot` keeps only ``ceil(fraction x positives)`` (or ``shots``) positives of a
  target emotion in the training split.
* :func:`balanced_few_shot_set` and :func:`memory_sample` build the small fine-tuning set and
  the episodic memory of the continual modes.

All functions return new datasets/splits and never modify their inputs, except
:func:`zero_shot` with ``in_place=True``, which replaces the dataset's splits by the filtered
ones so that a run holds one copy of the data, not the full and the filtered one.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from emotrans.data.dataset import Dataset, Split
from emotrans.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)


def _check_names(dataset: Dataset, names: Sequence[str], what: str) -> None:
    missing = [n for n in names if n not in dataset.emotions]
    if missing:
        raise ConfigError(
            f"{what}: emotion(s) {', '.join(missing)} not in {dataset.source or dataset.name} "
            f"(has {', '.join(dataset.emotions)})"
        )


def zero_shot(dataset: Dataset, unseen: Sequence[str], in_place: bool = False) -> Dataset:
    """The seen-emotion dataset: samples positive for any ``unseen`` emotion removed from every
    split, and the unseen columns dropped.

    With ``in_place``, each split of ``dataset`` is replaced by its filtered rows (all columns
    kept) as soon as it is filtered, so the full split can be freed: the peak is the data plus
    one filtered split, not twice the data. The result shares those arrays."""
    _check_names(dataset, unseen, "zero-shot")
    cols = [dataset.emotions.index(n) for n in unseen]
    seen = [e for e in dataset.emotions if e not in unseen]
    if not seen:
        raise ConfigError("zero-shot: at least one emotion must stay seen")
    splits = dataset.splits if in_place else {}
    for name in list(dataset.splits):
        split = dataset.splits[name]
        keep = split.labels[:, cols].sum(axis=1) == 0
        splits[name] = split.subset(np.flatnonzero(keep))
        del split  # in place: the full split's arrays go now
    filtered = dataset if in_place else replace(dataset, splits=splits)
    return filtered.select_emotions(seen)


def few_shot(
    dataset: Dataset,
    target: str,
    fraction: float = 0.01,
    shots: int = 0,
    seed: int = 0,
    split: str = "train",
) -> tuple[Dataset, np.ndarray]:
    """Keep only a few positives of ``target`` in ``split``.

    Keeps ``shots`` positives when ``shots > 0``, else ``ceil(fraction x P)`` with P the number
    of positives; the other positives are removed (with all their labels). Returns the new
    dataset and the ids of the kept positives.
    """
    _check_names(dataset, [target], "few-shot")
    s = dataset[split]
    col = dataset.emotions.index(target)
    positives = np.flatnonzero(s.labels[:, col] == 1)
    keep_n = shots if shots > 0 else math.ceil(fraction * len(positives))
    if keep_n > len(positives):
        raise ConfigError(
            f"few-shot: {keep_n} positives of {target!r} requested but {split} has {len(positives)}"
        )
    rng = np.random.default_rng(seed)
    kept = np.sort(rng.choice(positives, size=keep_n, replace=False))
    drop = np.setdiff1d(positives, kept)
    index = np.setdiff1d(np.arange(s.n), drop)
    splits = dict(dataset.splits)
    splits[split] = s.subset(index)
    return replace(dataset, splits=splits), s.ids[kept]


def balanced_few_shot_set(split: Split, column: int, seed: int = 0) -> Split:
    """The split's positives of ``column`` plus as many of its negatives, drawn at random."""
    positives = np.flatnonzero(split.labels[:, column] == 1)
    negatives = np.flatnonzero(split.labels[:, column] == 0)
    rng = np.random.default_rng(seed)
    take = rng.choice(negatives, size=min(len(positives), len(negatives)), replace=False)
    index = np.sort(np.concatenate([positives, take]))
    return split.subset(index)


def memory_sample(split: Split, size: int, seed: int = 0) -> Split:
    """``size`` samples of ``split`` drawn at random without replacement (all if fewer)."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(split.n, size=min(size, split.n), replace=False))
    return split.subset(index)


def add_zero_column(split: Split, position: int | None = None) -> Split:
    """A split with an all-zero label column inserted at ``position`` (default: last)."""
    pos = split.labels.shape[1] if position is None else position
    labels = np.insert(split.labels, pos, 0, axis=1)
    inten = None if split.intensities is None else np.insert(split.intensities, pos, 0, axis=1)
    return replace(split, labels=labels, intensities=inten)


def _fit_steps(x: np.ndarray, lengths: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the last ``t`` steps (left zero padding when shorter)."""
    n, t_in, d = x.shape
    if t_in >= t:
        return np.ascontiguousarray(x[:, t_in - t :]), np.minimum(lengths, t)
    out = np.zeros((n, t, d), dtype=x.dtype)
    out[:, t - t_in :] = x
    return out, lengths


def extend_with_unseen(
    base: Split, base_emotions: Sequence[str], extra: Dataset, unseen: str, split: str = "test"
) -> Split:
    """``base`` plus ``extra``'s samples positive for ``unseen``, as a new last label column.

    The base samples get 0 in the new column; the extra samples get 1 there and 0 in the
    base columns. The extra features are cut to the base's steps (keep the last T) and must
    have the base's modalities and dims.
    """
    if unseen not in extra.emotions:
        raise ConfigError(
            f"zero-shot: {unseen!r} is not an emotion of {extra.source or extra.name} "
            f"(has {', '.join(extra.emotions)})"
        )
    e = extra[split]
    rows = np.flatnonzero(e.labels[:, extra.emotions.index(unseen)] == 1)
    if len(rows) == 0:
        raise ConfigError(
            f"zero-shot: {extra.source or extra.name} has no {split} sample of {unseen!r}"
        )
    features, lengths = {}, {}
    for m, x in base.features.items():
        if m not in e.features:
            raise DataFormatError(f"{extra.source}: no {m} features for the zero-shot extension")
        ex = e.features[m][rows]
        if ex.shape[2] != x.shape[2]:
            raise DataFormatError(
                f"{extra.source}: {m} features are {ex.shape[2]}-d but the base data's are {x.shape[2]}-d"
            )
        ex, ex_len = _fit_steps(ex, e.lengths[m][rows], x.shape[1])
        features[m] = np.concatenate([x, ex])
        lengths[m] = np.concatenate([base.lengths[m], ex_len])
    k = len(base_emotions)
    labels = np.zeros((base.n + len(rows), k + 1), dtype=base.labels.dtype)
    labels[: base.n, :k] = base.labels
    labels[base.n :, k] = 1
    ids = np.concatenate(
        [base.ids.astype(str), np.array([f"{extra.name}:{i}" for i in e.ids[rows]])]
    )
    log.info(
        "zero-shot: added %d %s samples of %r to the %s split", len(rows), extra.name, unseen, split
    )
    return Split(features=features, lengths=lengths, labels=labels, ids=ids)

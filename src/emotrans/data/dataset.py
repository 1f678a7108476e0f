"""The unified in-memory dataset every loader returns and every model consumes.

A :class:`Dataset` holds named splits (``train``, ``valid``, ``test``). Each :class:`Split`
stores, per modality, a float32 array of shape (N, T_m, D_m) whose valid steps are the *last*
``lengths[m][i]`` steps of row i (left zero padding, as in the CMU-MOSEI and MulT files), binary
labels of shape (N, K) in the order of ``Dataset.emotions``, optional label intensities, and
sample ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from emotrans.errors import ConfigError, DataFormatError
from emotrans.modalities import MODALITIES

SPLITS: tuple[str, ...] = ("train", "valid", "test")

TASKS: tuple[str, ...] = ("emotion", "sentiment")
"""What a dataset's labels mean. ``emotion``: K binary emotion labels. ``sentiment``: one
continuous score in [-3, 3] per sample, stored as the single label column ``"sentiment"``
(labels (N, 1) = score > 0, intensities (N, 1) = the score)."""

SENTIMENT: str = "sentiment"
"""The one label name of a sentiment dataset."""


def replace_nonfinite(array: np.ndarray) -> int:
    """Replace NaN and +-inf in ``array`` by 0, in place. Returns how many were replaced.

    A finite sum proves that there are none (NaN and +-inf propagate through it; inf - inf
    is NaN); one reduction is much cheaper than the elementwise test, which only runs on
    arrays whose sum is not finite (a finite array whose sum overflows just takes the exact
    path). Every loader and converter cleans with this function. The sum's own floating-point
    events (+inf meeting -inf, a finite array overflowing) are expected and print nothing.
    """
    if array.size == 0:
        return 0
    with np.errstate(invalid="ignore", over="ignore"):
        total = array.sum()
    if np.isfinite(total):
        return 0
    finite = np.isfinite(array)
    count = array.size - int(np.count_nonzero(finite))
    np.logical_not(finite, out=finite)
    np.copyto(array, 0.0, where=finite)
    return count


def _shapes(features: dict[str, np.ndarray]) -> str:
    """``"{text: (T=20, D=300), audio: (T=20, D=74)}"``."""
    return (
        "{" + ", ".join(f"{m}: (T={x.shape[1]}, D={x.shape[2]})" for m, x in features.items()) + "}"
    )


def lengths_from_padding(features: np.ndarray) -> np.ndarray:
    """Valid lengths of left-zero-padded sequences.

    Parameters
    ----------
    features : array of shape (N, T, D)

    Returns
    -------
    array of shape (N,), int64: T minus the number of leading all-zero steps. A row that is
    all zeros gets length 0.
    """
    n, t = features.shape[:2]
    nonzero = np.any(features != 0, axis=2)  # (N, T)
    first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), t)  # (N,)
    return (t - first).astype(np.int64)


@dataclass
class Split:
    """One split of a dataset.

    Attributes
    ----------
    features : dict modality -> float32 array of shape (N, T_m, D_m), left zero padded
    lengths : dict modality -> int64 array of shape (N,), valid steps at the end of each row
    labels : uint8 array of shape (N, K), 1 when the emotion is present
    ids : array of shape (N,) of str, sample ids
    intensities : float32 array of shape (N, K), or None (e.g. CMU-MOSEI intensities 0..3)
    """

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray
    intensities: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.labels.shape[0])

    def __len__(self) -> int:
        return self.n

    def __repr__(self) -> str:
        k = self.labels.shape[1] if self.labels.ndim == 2 else "?"
        extra = ", intensities" if self.intensities is not None else ""
        return f"Split(n={self.n}, modalities={_shapes(self.features)}, K={k}{extra})"

    def subset(self, index: np.ndarray | Sequence[int]) -> Split:
        """Rows ``index`` (an integer or boolean index) of every array."""
        index = np.asarray(index)
        return Split(
            features={m: x[index] for m, x in self.features.items()},
            lengths={m: x[index] for m, x in self.lengths.items()},
            labels=self.labels[index],
            ids=self.ids[index],
            intensities=None if self.intensities is None else self.intensities[index],
        )

    def select_columns(self, columns: Sequence[int]) -> Split:
        """Keep label (and intensity) columns ``columns``, in that order."""
        columns = list(columns)
        return replace(
            self,
            labels=self.labels[:, columns],
            intensities=None if self.intensities is None else self.intensities[:, columns],
        )

    def validate(self, where: str, n_emotions: int) -> None:
        """Check shapes and dtypes; raise :class:`DataFormatError` naming ``where``."""
        n = self.labels.shape[0] if self.labels.ndim >= 1 else -1
        if self.labels.ndim != 2 or self.labels.shape[1] != n_emotions:
            raise DataFormatError(
                f"{where}: labels have shape {self.labels.shape}, expected (N, {n_emotions})"
            )
        if self.ids.shape != (n,):
            raise DataFormatError(f"{where}: {self.ids.shape[0]} ids but {n} label rows")
        if self.intensities is not None and self.intensities.shape != self.labels.shape:
            raise DataFormatError(
                f"{where}: intensities have shape {self.intensities.shape}, "
                f"labels {self.labels.shape}"
            )
        if not self.features:
            raise DataFormatError(f"{where}: no modality present")
        for m, x in self.features.items():
            if x.ndim != 3:
                raise DataFormatError(
                    f"{where}: {m} features have shape {x.shape}, expected (N, T, D)"
                )
            if x.shape[0] != n:
                raise DataFormatError(f"{where}: {x.shape[0]} {m} samples but {n} label rows")
            # a model cannot read a sequence without steps or a step without features:
            # refused here, at load time, not deep inside torch
            if x.shape[1] == 0:
                raise DataFormatError(
                    f"{where}: {m} features have shape {x.shape}: no time step (T = 0)"
                )
            if x.shape[2] == 0:
                raise DataFormatError(
                    f"{where}: {m} features have shape {x.shape}: no feature per step (D = 0)"
                )
            if x.dtype != np.float32:
                raise DataFormatError(f"{where}: {m} features are {x.dtype}, expected float32")
            lengths = self.lengths.get(m)
            if lengths is None or lengths.shape != (n,):
                raise DataFormatError(f"{where}: {m} lengths missing or not of shape ({n},)")
            if n and (lengths.min() < 0 or lengths.max() > x.shape[1]):
                raise DataFormatError(f"{where}: {m} lengths outside 0..{x.shape[1]}")


def _score_summary(scores: np.ndarray) -> dict[str, Any]:
    """Mean, range and sign counts of sentiment scores (N,)."""
    if scores.size == 0:
        return {"mean": float("nan"), "min": float("nan"), "max": float("nan"),
                "negative": 0, "zero": 0, "positive": 0}  # fmt: skip
    return {
        "mean": round(float(scores.mean()), 4),
        "min": float(scores.min()),
        "max": float(scores.max()),
        "negative": int((scores < 0).sum()),
        "zero": int((scores == 0).sum()),
        "positive": int((scores > 0).sum()),
    }


def one_label_per_row(labels: np.ndarray) -> bool:
    """Whether every row of ``labels`` (N, K) has exactly one positive (True for N = 0)."""
    labels = np.asarray(labels)
    return bool(labels.ndim == 2 and np.all((labels != 0).sum(axis=1) == 1))


def infer_single_label(splits: dict[str, Split], task: str = "emotion") -> bool:
    """Whether the labels of ``splits`` are single-label: an emotion task whose every row, in
    every split, has exactly one positive (and at least one row in all). Loaders whose format
    does not say (IEMOCAP-9's pickles, old native files) decide with this."""
    if task != "emotion" or not splits or not any(s.n for s in splits.values()):
        return False
    return all(one_label_per_row(s.labels) for s in splits.values())


def split_targets(split: Split, task: str) -> np.ndarray:
    """What a model is trained to output on ``split``: float32 (N, K) binary labels for the
    ``emotion`` task, float32 (N, 1) scores (the intensities) for the ``sentiment`` task."""
    if task == "sentiment":
        if split.intensities is None:
            raise DataFormatError("sentiment split without scores (no intensities)")
        return split.intensities[:, :1].astype(np.float32)
    return split.labels.astype(np.float32)


@dataclass
class Dataset:
    """A dataset: named splits sharing one list of emotions and one set of modalities.

    Attributes
    ----------
    name : short dataset name, e.g. ``"mosei"``, ``"iemocap"``, ``"iemocap9"``, ``"mosei-senti"``
    emotions : the K label names, in column order
    splits : dict split name -> :class:`Split`, usually ``train``, ``valid``, ``test``
    aligned : whether all modalities share the time axis (same T and lengths)
    source : where it was read from (a path), for messages and run configs
    nonfinite : dict ``"split/modality"`` -> number of non-finite feature values replaced by 0
    meta : free-form provenance (format, generator settings, ...), JSON-serialisable
    task : ``"emotion"`` (K binary emotion labels) or ``"sentiment"`` (one score in [-3, 3]
        per sample: ``emotions == ["sentiment"]``, the score in ``intensities[:, 0]``, labels
        ``score > 0``); see :data:`TASKS`
    extraction : how the features were extracted from raw clips (``emotrans extract``): the
        extractors' descriptions, the alignment, T, word-timing sources, skipped clips; None
        for datasets not extracted here (JSON-serialisable)
    single_label : one emotion per sample (MELD, IEMOCAP-4, a layout's ``label`` column):
        every label row has exactly one positive, the emotions are mutually exclusive classes
        and argmax metrics apply; False for multi-label data (CMU-MOSEI), where a sample may
        have several emotions or none (docs/design.md, "Metrics")
    """

    name: str
    emotions: list[str]
    splits: dict[str, Split]
    aligned: bool = True
    source: str = ""
    nonfinite: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    task: str = "emotion"
    extraction: dict[str, Any] | None = None
    single_label: bool = False

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modalities present in every split, in canonical order."""
        present = set(MODALITIES)
        for split in self.splits.values():
            present &= set(split.features)
        return tuple(m for m in MODALITIES if m in present)

    @property
    def dims(self) -> dict[str, int]:
        """Feature dimension D per modality."""
        first = next(iter(self.splits.values()))
        return {m: int(first.features[m].shape[2]) for m in self.modalities}

    def __repr__(self) -> str:
        names = self.emotions if len(self.emotions) <= 6 else [*self.emotions[:4], "..."]
        emotions = f"[{', '.join(names)}]"
        if len(self.emotions) > 6:
            emotions += f" (K={len(self.emotions)})"
        sizes = ", ".join(f"{k}: {s.n}" for k, s in self.splits.items())
        first = next(iter(self.splits.values()), None)
        shapes = _shapes(first.features) if first is not None else "{}"
        fmt = self.meta.get("format") if isinstance(self.meta, dict) else None
        return (
            f"Dataset({self.name!r}"
            + (f", format={fmt!r}" if fmt else "")
            + f", emotions={emotions}, splits={{{sizes}}}, modalities={shapes}"
            + ("" if self.aligned else ", unaligned")
            + (f", task={self.task!r}" if self.task != "emotion" else "")
            + (", single-label" if self.single_label else "")
            + ")"
        )

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            raise DataFormatError(
                f"{self.source or self.name}: no split {split!r} (has {', '.join(self.splits)})"
            ) from None

    def validate(self) -> Dataset:
        """Check every split and the consistency between splits. Returns ``self``."""
        where = self.source or self.name
        if len(set(self.emotions)) != len(self.emotions):
            raise DataFormatError(f"{where}: duplicate emotion names {self.emotions}")
        if self.task not in TASKS:
            raise DataFormatError(f"{where}: unknown task {self.task!r} (use {', '.join(TASKS)})")
        if self.task == "sentiment":
            if list(self.emotions) != [SENTIMENT]:
                raise DataFormatError(
                    f"{where}: a sentiment dataset has the one label {SENTIMENT!r}, not "
                    f"{', '.join(self.emotions) or 'none'}"
                )
            for name, split in self.splits.items():
                if split.intensities is None:
                    raise DataFormatError(
                        f"{where} [{name}]: sentiment without scores (no intensities)"
                    )
        if self.single_label and self.task != "emotion":
            raise DataFormatError(f"{where}: a {self.task} dataset cannot be single-label")
        dims: dict[str, int] | None = None
        for name, split in self.splits.items():
            split.validate(f"{where} [{name}]", len(self.emotions))
            if self.single_label and not one_label_per_row(split.labels):
                counts = (split.labels != 0).sum(axis=1)
                bad = int(np.flatnonzero(counts != 1)[0])
                raise DataFormatError(
                    f"{where} [{name}]: declared single-label, but sample {split.ids[bad]} has "
                    f"{counts[bad]} emotions ({int((counts != 1).sum())} of {split.n} rows do not "
                    "have exactly one)"
                )
            here = {m: int(x.shape[2]) for m, x in split.features.items()}
            if dims is None:
                dims = here
            elif here != dims:
                raise DataFormatError(
                    f"{where}: feature dims differ between splits ({dims} vs {name}: {here})"
                )
        return self

    def select_emotions(self, names: Sequence[str]) -> Dataset:
        """A dataset with label columns ``names`` (a subset or reordering of ``emotions``)."""
        missing = [n for n in names if n not in self.emotions]
        if missing:
            raise ConfigError(
                f"emotion(s) {', '.join(missing)} not in dataset {self.name} "
                f"(has {', '.join(self.emotions)})"
            )
        columns = [self.emotions.index(n) for n in names]
        splits = {k: s.select_columns(columns) for k, s in self.splits.items()}
        # a subset of a single-label dataset's classes leaves rows without a label: then the
        # selection is multi-label (K binary labels), unless the rows were filtered first
        single = self.single_label and all(one_label_per_row(s.labels) for s in splits.values())
        return replace(self, emotions=list(names), splits=splits, single_label=single)

    def select_modalities(self, modalities: Sequence[str]) -> Dataset:
        """A dataset keeping only ``modalities`` (which must be present)."""
        missing = [m for m in modalities if m not in self.modalities]
        if missing:
            raise ConfigError(
                f"modality {', '.join(missing)} not in dataset {self.source or self.name} "
                f"(has {', '.join(self.modalities)})"
            )
        splits = {
            k: replace(
                s,
                features={m: s.features[m] for m in modalities},
                lengths={m: s.lengths[m] for m in modalities},
            )
            for k, s in self.splits.items()
        }
        return replace(self, splits=splits)

    def targets(self, split: str) -> np.ndarray:
        """The training targets of ``split``: the labels (N, K) as float32 for the emotion
        task, the scores (N, 1) float32 in [-3, 3] for the sentiment task."""
        return split_targets(self[split], self.task)

    def positives(self, split: str = "train") -> np.ndarray:
        """Number of positive samples per emotion in ``split``, shape (K,)."""
        return self[split].labels.sum(axis=0).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable overview: splits, N, T and D per modality, label counts (and, for
        the sentiment task, the scores' mean, range and sign counts per split)."""
        out = {
            "name": self.name,
            "source": self.source,
            "task": self.task,
            "emotions": list(self.emotions),
            "modalities": list(self.modalities),
            "aligned": self.aligned,
            "single_label": self.single_label,
            "splits": {
                k: {
                    "n": s.n,
                    "shapes": {m: list(x.shape) for m, x in s.features.items()},
                    "positives": dict(
                        zip(self.emotions, s.labels.sum(axis=0).astype(int).tolist())
                    ),
                }
                for k, s in self.splits.items()
            },
            "nonfinite_replaced": dict(self.nonfinite),
        }
        if self.task == "sentiment":
            for k, s in self.splits.items():
                out["splits"][k]["scores"] = _score_summary(split_targets(s, self.task)[:, 0])
        return out

"""IEMOCAP with 9 emotions: the Python-2 pickles used for IEMOCAP zero-shot.

A directory holds, per split ``train``/``valid``/``test``, four pickles of one numpy array
each, written by Python 2 (so read with ``encoding="latin1"``)::

    text_{split}.p      (N, 21, 300)
    covarep_{split}.p   (N, 21, 74)   audio
    facet_{split}.p     (N, 21, 35)   vision
    y_{split}.p         (N, 11)       other, anger, excited, fear, sad, surprised,
                                      frustrated, happy, neutral, disgust, unknown

The 9 middle label columns are kept (``other`` and ``unknown`` dropped). ``trim_to=20`` keeps
the last 20 steps, to combine with the 20-step IEMOCAP-4 data.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data._io import as_float32, clean_and_measure, default_ids, read_pickle
from emotrans.data.dataset import SPLITS, Dataset, Split, infer_single_label
from emotrans.data.formats.base import Format, require_label_order
from emotrans.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

LABEL_COLUMNS: tuple[str, ...] = (
    "other",
    "anger",
    "excited",
    "fear",
    "sad",
    "surprised",
    "frustrated",
    "happy",
    "neutral",
    "disgust",
    "unknown",
)
"""The 11 columns of ``y_{split}.p``."""

EMOTIONS: tuple[str, ...] = LABEL_COLUMNS[1:-1]
"""The 9 emotions kept, in file order."""

FEATURE_FILES: dict[str, str] = {
    "text": "text_{split}.p",
    "audio": "covarep_{split}.p",
    "vision": "facet_{split}.p",
}
LABEL_FILE = "y_{split}.p"


def looks_like(directory: Path) -> bool:
    """Whether ``directory`` holds files of this layout."""
    return any((directory / LABEL_FILE.format(split=s)).exists() for s in SPLITS)


def detect(path: Path) -> int:
    """Match score: 4 for a ``.p`` file, 3 for a directory of this layout (a CMU-MOSEI h5
    layout in the same directory wins; MulT pickles there lose)."""
    if path.is_dir():
        return 3 if looks_like(path) else 0
    return 4 if path.suffix.lower() == ".p" else 0


def load(
    path: str | Path, *, splits: Sequence[str] = SPLITS, trim_to: int | None = None
) -> Dataset:
    """:func:`load_iemocap9` of the directory, or of the directory holding the file ``path``."""
    path = Path(path)
    return load_iemocap9(path if path.is_dir() else path.parent, splits, trim_to)


def load_iemocap9(
    directory: str | Path,
    splits: Sequence[str] = SPLITS,
    trim_to: int | None = None,
) -> Dataset:
    """Load the IEMOCAP 9-emotion pickles.

    Parameters
    ----------
    directory : folder holding ``text_{split}.p``, ``covarep_{split}.p``, ``facet_{split}.p``,
        ``y_{split}.p``
    splits : splits to read
    trim_to : keep only the last ``trim_to`` steps (e.g. 20); None keeps all 21

    Returns
    -------
    Dataset named ``"iemocap9"``: features (N, T, D) float32 (T = 21 or ``trim_to``), labels
    (N, 9) uint8 in the order anger, excited, fear, sad, surprised, frustrated, happy,
    neutral, disgust.

    Raises
    ------
    DataFormatError
        Missing file, not a pickle, or inconsistent shapes.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError(f"{directory}: no such directory")
    if trim_to is not None and int(trim_to) < 1:
        raise ConfigError(f"trim_to must be a positive number of steps, not {trim_to}")
    out: dict[str, Split] = {}
    nonfinite: dict[str, int] = {}
    reference: dict[str, tuple[int, Path]] = {}
    for split in splits:
        y_path = directory / LABEL_FILE.format(split=split)
        y = as_float32(read_pickle(y_path, encoding="latin1"), y_path, "labels", ndim=2)
        n = y.shape[0]
        if y.shape[1] != len(LABEL_COLUMNS):
            raise DataFormatError(
                f"{y_path}: labels have shape {y.shape}, expected ({n}, {len(LABEL_COLUMNS)}) "
                f"columns {', '.join(LABEL_COLUMNS)}"
            )
        labels = (y[:, 1:-1] > 0).astype(np.uint8)  # (N, 9)
        features: dict[str, np.ndarray] = {}
        firsts: list[np.ndarray] = []
        for m, pattern in FEATURE_FILES.items():
            path = directory / pattern.format(split=split)
            x = as_float32(read_pickle(path, encoding="latin1"), path, m, ndim=3)  # (N, 21, D)
            if x.shape[0] != n:
                raise DataFormatError(
                    f"{path}: {x.shape[0]} samples but {n} label rows in {y_path.name}"
                )
            dim, where = reference.setdefault(m, (x.shape[2], path))
            if x.shape[2] != dim:
                raise DataFormatError(
                    f"{path}: {x.shape[2]} {m} features per step but {dim} in {where.name}"
                )
            if trim_to is not None and x.shape[1] > trim_to:
                x = np.ascontiguousarray(x[:, -trim_to:])  # (N, trim_to, D)
            first, nonfinite[f"{split}/{m}"] = clean_and_measure(x)
            features[m] = x
            firsts.append(first)
        steps = {x.shape[1] for x in features.values()}
        if len(steps) != 1:
            raise DataFormatError(
                f"{directory}: [{split}] modalities have different numbers of steps "
                f"({', '.join(f'{m} {x.shape[1]}' for m, x in features.items())})"
            )
        shared = steps.pop() - np.minimum.reduce(firsts)  # (N,)
        out[split] = Split(
            features=features,
            lengths={m: shared for m in features},
            labels=labels,
            ids=default_ids(split, n),
        )
    dataset = Dataset(
        name="iemocap9",
        emotions=list(EMOTIONS),
        splits=out,
        aligned=True,
        source=str(directory),
        nonfinite=nonfinite,
        meta={"format": "iemocap9", "trim_to": trim_to},
    )
    # decided by the labels: rows labelled only "other" or "unknown" (dropped columns) have no
    # emotion left, and annotators' ties can give several; either makes the data multi-label
    dataset.single_label = infer_single_label(dataset.splits, dataset.task)
    return dataset.validate()


def write(dataset: Dataset, out: str | Path) -> list[Path]:
    """Write ``dataset`` in this layout into the directory ``out`` (the inverse of
    :func:`load`): one Python-2-compatible (protocol 2) pickle per array, the features as
    they are, the labels as 11 columns with ``other`` and ``unknown`` at 0.

    Returns
    -------
    The files written, per split the features (in the dataset's modality order) then the
    labels.

    Raises
    ------
    DataFormatError
        The dataset's emotions are not the 9 IEMOCAP emotions, in this order.
    """
    require_label_order(dataset, "iemocap9", EMOTIONS)
    out = Path(out)
    written: list[Path] = []
    for split, part in dataset.splits.items():
        for m, x in part.features.items():
            written.append(_write_pickle2(out / FEATURE_FILES[m].format(split=split), x))
        y = np.zeros((part.n, len(LABEL_COLUMNS)), dtype=np.float32)  # (N, 11)
        y[:, 1:-1] = part.labels  # other and unknown stay 0
        written.append(_write_pickle2(out / LABEL_FILE.format(split=split), y))
    return written


def _write_pickle2(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(array, handle, protocol=2)
    return path


FORMAT = Format(
    name="iemocap9",
    description="IEMOCAP 9-emotion Python-2 pickles {text,covarep,facet,y}_*.p",
    detect=detect,
    load=load,
    write=write,
    label_order=EMOTIONS,
)

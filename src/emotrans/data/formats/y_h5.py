"""Per-modality h5 files with ``y_{split}.h5`` labels: sentiment scores or 3 classes.

The layout of the h5 sets that Memory Fusion Network's repository (``pliang279/MFN``,
``new_data/{youtube,mmmo,pom}``) distributes, and of CMU-MOSEI sentiment sets read by other
public code the same way (one h5 file per modality and split, each read with ``f['d1']``)::

    text_{split}_emb.h5   d1: (N, T, 300)  word vectors
    audio_{split}.h5      d1: (N, T, D_a)  e.g. COVAREP
    video_{split}.h5      d1: (N, T, D_v)  e.g. FACET
    y_{split}.h5          d1: (N,) or (N, 1) sentiment in [-3, 3], or (N, 3) one-hot classes

It differs from :mod:`.mosei_h5` in the label file (``y_`` instead of ``ey_``) and its
meaning (see :mod:`._y_labels`); arrays may be float64 and named ``d1`` or ``data``. Features
are read into float32 and measured as in :mod:`.mosei_h5`: left zero padded, one valid length
shared by the modalities when they have the same T, non-finite values replaced by 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from emotrans.data._io import default_ids, h5_first_dataset, open_h5, read_h5_float32
from emotrans.data.dataset import SPLITS, Dataset, Split
from emotrans.data.formats._y_labels import LABEL_KEYS, THREE_CLASSES, interpret
from emotrans.data.formats.base import Format
from emotrans.data.formats.mosei_h5 import (
    FEATURE_FILES,
    feature_path,
    present_modalities,
    read_split_features,
)
from emotrans.errors import DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

LABEL_FILE = "y_{split}.h5"


def label_path(directory: Path, split: str) -> Path:
    """Path of the ``y_`` label file for ``split``."""
    return directory / LABEL_FILE.format(split=split)


def detect(path: Path) -> int:
    """Match score: 5 for a directory with ``y_{split}.h5`` and a feature file of the
    per-modality layout but no ``ey_`` file (it beats :mod:`.mosei_h5`'s 4), 1 for one such
    ``.h5`` file in it."""
    directory = path if path.is_dir() else path.parent
    if not path.is_dir() and not path.name.endswith(".h5"):
        return 0
    if any((directory / f"ey_{s}.h5").exists() for s in SPLITS):
        return 0
    has_labels = any(label_path(directory, s).exists() for s in SPLITS)
    has_features = any(feature_path(directory, m, s).exists() for m in MODALITIES for s in SPLITS)
    if not (has_labels and has_features):
        return 0
    return 5 if path.is_dir() else 1


def load(
    path: str | Path,
    *,
    splits: Sequence[str] = SPLITS,
    modalities: Sequence[str] | None = None,
    classes: Sequence[str] = THREE_CLASSES,
) -> Dataset:
    """Load the directory (or the directory of the file ``path``); only the files of
    ``modalities`` are read.

    Parameters
    ----------
    path : the folder of ``{text_*_emb,audio_*,video_*,y_*}.h5``, or one file in it
    splits : splits to read
    modalities : modalities to read; default: every modality with a file for any split (it
        must then have a file for every split)
    classes : names of the columns of (N, 3) one-hot labels

    Returns
    -------
    Dataset named after the folder: the ``sentiment`` task (one label, the score as its
    intensity) for one score per sample, else three binary labels ``classes``; features
    (N, T, D) float32.

    Raises
    ------
    DataFormatError
        A file is missing or unreadable, lacks ``d1``/``data``, or its shape disagrees.
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    if not directory.is_dir():
        raise DataFormatError(f"{directory}: no such directory")
    if modalities is None:
        modalities = present_modalities(directory, splits)
    if not modalities:
        raise DataFormatError(
            f"{directory}: no feature file (expected e.g. "
            f"{FEATURE_FILES['text'].format(split='train')})"
        )
    out: dict[str, Split] = {}
    nonfinite: dict[str, int] = {}
    reference: dict[str, tuple[int, Path]] = {}
    aligned = True
    kind: tuple[str, list[str]] | None = None
    for split in splits:
        y_path = label_path(directory, split)
        with open_h5(y_path) as handle:
            dset = h5_first_dataset(handle, LABEL_KEYS, y_path)
            raw = read_h5_float32(dset, y_path, ndim=len(dset.shape))
        meaning = interpret(raw, y_path, classes)
        if kind is None:
            kind = (meaning["task"], meaning["names"])
        elif kind != (meaning["task"], meaning["names"]):
            raise DataFormatError(f"{y_path}: labels of another kind than the other splits'")
        n = meaning["labels"].shape[0]
        paths = {m: feature_path(directory, m, split) for m in modalities}
        features, lengths, counts, split_aligned = read_split_features(
            paths, n, y_path, reference, LABEL_KEYS
        )
        aligned &= split_aligned
        nonfinite.update({f"{split}/{m}": c for m, c in counts.items()})
        out[split] = Split(
            features=features,
            lengths=lengths,
            labels=meaning["labels"],
            ids=default_ids(split, n),
            intensities=meaning["intensities"],
        )
    if kind is None:
        raise DataFormatError(f"{directory}: no split to read")
    found = sum(nonfinite.values())
    if found:
        log.info("%s: replaced %d non-finite feature values by 0", directory, found)
    dataset = Dataset(
        name=directory.name.lower() or "y-h5",
        emotions=kind[1],
        splits=out,
        aligned=aligned,
        source=str(directory),
        nonfinite=nonfinite,
        meta={"format": "y-h5"},
        task=kind[0],
    )
    return dataset.validate()


FORMAT = Format(
    name="y-h5",
    description="{text_*_emb,audio_*,video_*}.h5 + y_*.h5: sentiment in [-3, 3] or 3 one-hot classes",
    detect=detect,
    load=load,
    write=None,
    label_order=None,
)

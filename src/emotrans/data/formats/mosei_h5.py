"""CMU-MOSEI emotion in the reference h5 layout (one HDF5 file per modality and split).

A directory holds, per split ``train``/``valid``/``test``::

    text_{split}_emb.h5   d1: (N, 20, 300)  word vectors
    audio_{split}.h5      d1: (N, 20, 74)   COVAREP (may contain -inf)
    video_{split}.h5      d1: (N, 20, 35)   FACET
    ey_{split}.h5         d1: (N, 6)        intensities 0..3: anger, disgust, fear, happy, sad,
                                            surprise

An emotion is present when its intensity is > 0; intensities are kept. Sequences are left
zero padded and aligned, so one valid length per sample is shared by all modalities: the
number of steps from the first step where any modality is non-zero. Non-finite features are
replaced by 0 and counted.

Each array is read straight into one preallocated float32 array, block by block, and each
block is cleaned and measured while it is in cache: peak memory stays close to the arrays'
own size.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data._io import (
    check_h5_array,
    default_ids,
    h5_dataset,
    h5_first_dataset,
    open_h5,
    read_clean_measure,
    read_h5_float32,
)
from emotrans.data.dataset import SPLITS, Dataset, Split
from emotrans.data.formats.base import Format, require_label_order
from emotrans.errors import DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happy", "sad", "surprise")
"""Label columns of ``ey_{split}.h5``, in file order: emotrans' CMU-MOSEI emotion order."""

FEATURE_FILES: dict[str, str] = {
    "text": "text_{split}_emb.h5",
    "audio": "audio_{split}.h5",
    "vision": "video_{split}.h5",
}
LABEL_FILE = "ey_{split}.h5"
KEY = "d1"


def present_modalities(directory: Path, splits: Sequence[str]) -> list[str]:
    """The modalities with a feature file ``{text_*_emb,audio_*,video_*}.h5`` for some split."""
    return [m for m in MODALITIES if any(feature_path(directory, m, s).exists() for s in splits)]


def feature_path(directory: Path, modality: str, split: str) -> Path:
    """Path of one modality's file for ``split``."""
    return directory / FEATURE_FILES[modality].format(split=split)


def label_path(directory: Path, split: str) -> Path:
    """Path of the label (intensity) file for ``split``."""
    return directory / LABEL_FILE.format(split=split)


def looks_like(directory: Path) -> bool:
    """Whether ``directory`` holds files of this layout."""
    return any(label_path(directory, s).exists() for s in SPLITS) or any(
        feature_path(directory, m, s).exists() for m in MODALITIES for s in SPLITS
    )


def detect(path: Path) -> int:
    """Match score: 4 for a directory of this layout (it beats every other layout found in
    the same directory), 1 for one ``.h5`` file in such a directory (a native file wins)."""
    if path.is_dir():
        return 4 if looks_like(path) else 0
    return 1 if path.name.endswith(".h5") and looks_like(path.parent) else 0


def load(
    path: str | Path,
    *,
    splits: Sequence[str] = SPLITS,
    modalities: Sequence[str] | None = None,
) -> Dataset:
    """:func:`load_mosei_h5` of the directory, or of the directory holding the file ``path``;
    only the files of ``modalities`` are read."""
    path = Path(path)
    return load_mosei_h5(path if path.is_dir() else path.parent, splits, modalities)


def write(dataset: Dataset, out: str | Path) -> list[Path]:
    """Write ``dataset`` in this layout into the directory ``out`` (the inverse of
    :func:`load`); features are stored as they are (non-finite values included, as in the
    real COVAREP files), labels as the intensities (the binary labels where there are none).

    Returns
    -------
    The files written, per split the features (in the dataset's modality order) then the
    labels.

    Raises
    ------
    DataFormatError
        The dataset's emotions are not CMU-MOSEI's, in this order.
    """
    require_label_order(dataset, "mosei-h5", EMOTIONS)
    out = Path(out)
    written: list[Path] = []
    for split, part in dataset.splits.items():
        for m, x in part.features.items():
            written.append(_write_h5(feature_path(out, m, split), x))
        labels = part.labels.astype(np.float32) if part.intensities is None else part.intensities
        written.append(_write_h5(label_path(out, split), labels))
    return written


def _write_h5(path: Path, array: np.ndarray) -> Path:
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(KEY, data=array)
    return path


def load_mosei_h5(
    directory: str | Path,
    splits: Sequence[str] = SPLITS,
    modalities: Sequence[str] | None = None,
) -> Dataset:
    """Load CMU-MOSEI emotion from the reference h5 layout.

    Parameters
    ----------
    directory : folder holding the ``*_{split}*.h5`` files
    splits : splits to read
    modalities : modalities to read; default: every modality with a file for any split (it
        must then have a file for every split)

    Returns
    -------
    Dataset named ``"mosei"`` with emotions anger, disgust, fear, happy, sad, surprise; per
    split features (N, T, D) float32, labels (N, 6) uint8, intensities (N, 6) float32.

    Raises
    ------
    DataFormatError
        A file is missing, unreadable, lacks ``d1``, or its shape disagrees with the others.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataFormatError(f"{directory}: no such directory")
    if modalities is None:
        modalities = present_modalities(directory, splits)
    if not modalities:
        raise DataFormatError(
            f"{directory}: no feature file of the CMU-MOSEI h5 layout "
            f"(expected e.g. {FEATURE_FILES['text'].format(split='train')})"
        )
    out: dict[str, Split] = {}
    nonfinite: dict[str, int] = {}
    reference: dict[str, tuple[int, Path]] = {}
    aligned = True
    for split in splits:
        split_data, counts, split_aligned = _load_split(directory, split, modalities, reference)
        out[split] = split_data
        aligned &= split_aligned
        nonfinite.update({f"{split}/{m}": c for m, c in counts.items()})
    found = sum(nonfinite.values())
    if found:
        log.info("%s: replaced %d non-finite feature values by 0", directory, found)
    dataset = Dataset(
        name="mosei",
        emotions=list(EMOTIONS),
        splits=out,
        aligned=aligned,
        source=str(directory),
        nonfinite=nonfinite,
        meta={"format": "mosei-h5"},
    )
    return dataset.validate()


def _load_split(
    directory: Path,
    split: str,
    modalities: Sequence[str],
    reference: dict[str, tuple[int, Path]],
) -> tuple[Split, dict[str, int], bool]:
    ey_path = label_path(directory, split)
    with open_h5(ey_path) as handle:
        intensities = read_h5_float32(h5_dataset(handle, KEY, ey_path), ey_path, ndim=2)
    n = intensities.shape[0]
    if intensities.shape[1] != len(EMOTIONS):
        raise DataFormatError(
            f"{ey_path}: labels have shape {intensities.shape}, expected ({n}, {len(EMOTIONS)}) "
            f"intensities for {', '.join(EMOTIONS)}"
        )
    if not np.isfinite(intensities).all():
        raise DataFormatError(f"{ey_path}: labels contain non-finite values")
    paths = {m: feature_path(directory, m, split) for m in modalities}
    features, lengths, counts, aligned = read_split_features(paths, n, ey_path, reference, (KEY,))
    labels = (intensities > 0).astype(np.uint8)  # (N, 6)
    split_data = Split(
        features=features,
        lengths=lengths,
        labels=labels,
        ids=default_ids(split, n),
        intensities=intensities,
    )
    return split_data, counts, aligned


def read_split_features(
    paths: dict[str, Path],
    n: int,
    label_path: Path,
    reference: dict[str, tuple[int, Path]],
    keys: Sequence[str] = (KEY,),
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int], bool]:
    """Read one split's per-modality (N, T, D) files, each into one float32 array (any
    stored float or integer type is converted while reading), and measure the valid lengths.

    Parameters
    ----------
    paths : modality -> its file for this split
    n : label rows of the split; every file must have as many samples
    label_path : the label file, for messages
    reference : modality -> (D, first file seen), shared across splits to check D
    keys : dataset names to look for in each file, the first present is read

    Returns
    -------
    features : modality -> float32 (N, T, D), non-finite values replaced by 0
    lengths : modality -> int64 (N,); when every modality has the same T (aligned), one
        length shared by all: the steps from the first step where any modality is non-zero
    counts : modality -> non-finite values replaced
    aligned : whether every modality has the same T
    """
    with contextlib.ExitStack() as stack:
        dsets = {}
        for m, path in paths.items():
            dsets[m] = h5_first_dataset(stack.enter_context(open_h5(path)), keys, path)
            name = dsets[m].name.lstrip("/")
            # type and declared size of every file before any array is allocated
            check_h5_array(dsets[m], path, name)
            shape = dsets[m].shape
            if len(shape) != 3:
                raise DataFormatError(f"{path}: {name} has shape {shape}, expected (N, T, D)")
            if shape[0] != n:
                raise DataFormatError(
                    f"{path}: {shape[0]} samples but {n} label rows in {label_path.name}"
                )
            dim, where = reference.setdefault(m, (shape[2], path))
            if shape[2] != dim:
                raise DataFormatError(
                    f"{path}: {shape[2]} {m} features per step but {dim} in {where.name}"
                )
        steps = {m: d.shape[1] for m, d in dsets.items()}
        aligned = len(set(steps.values())) == 1
        features: dict[str, np.ndarray] = {}
        firsts: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        bound = None
        # Smallest rows first: once one modality has given each row's first valid step, the
        # others only need to confirm that the steps before it are zero.
        for m in sorted(paths, key=lambda m: steps[m] * dsets[m].shape[2]):
            features[m], firsts[m], counts[m] = read_clean_measure(dsets[m], paths[m], bound)
            if aligned:
                bound = firsts[m]
    features = {m: features[m] for m in paths}
    counts = {m: counts[m] for m in paths}
    if aligned and bound is not None:
        shared = next(iter(steps.values())) - bound  # (N,)
        lengths = {m: shared for m in features}
    else:
        lengths = {m: features[m].shape[1] - firsts[m] for m in features}
    return features, lengths, counts, aligned


FORMAT = Format(
    name="mosei-h5",
    description="CMU-MOSEI emotion, reference layout {text_*_emb,audio_*,video_*,ey_*}.h5",
    detect=detect,
    load=load,
    write=write,
    label_order=EMOTIONS,
)

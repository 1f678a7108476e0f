"""Memory Fusion Network's CMU-MOSI h5 files: ``X_{split}.h5`` and ``y_{split}.h5``.

The layout of the preprocessed CMU-MOSI that the repository of Memory Fusion Network
(``pliang279/MFN``, ``data/``) distributes and that its ``test_mosi.py`` reads::

    X_{split}.h5   data: (N, 20, 325) float64, the three modalities concatenated per step:
                         text 300 (GloVe), audio 5 (COVAREP subset), vision 20 (FACET subset)
    y_{split}.h5   data: (N,) float64, the sentiment score in [-3, 3]

The widths of the three parts are not stored in the files; MFN's ``configs/mosi.json`` gives
them (``inputdims`` 300, 5, 20) and so does the slicing ``[:300]``, ``[300:305]``,
``[305:325]`` of code that reads these files. Other widths are passed as ``dims``. Labels are
read as in :mod:`._y_labels` (one score: the ``sentiment`` task; (N, 3) one-hot: 3 classes);
arrays named ``d1`` are read too.

Features are read into float32 one modality (a column range of ``X``) at a time, left zero
padded and aligned: one valid length per sample, from the first step where any modality is
non-zero. Non-finite values are replaced by 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotrans.data._io import (
    check_h5_array,
    clean_and_measure,
    default_ids,
    h5_errors,
    h5_first_dataset,
    open_h5,
    read_h5_array,
    read_h5_float32,
)
from emotrans.data.dataset import SPLITS, Dataset, Split
from emotrans.data.formats._y_labels import THREE_CLASSES, interpret
from emotrans.data.formats.base import Format
from emotrans.errors import ConfigError, DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

FEATURE_FILE = "X_{split}.h5"
LABEL_FILE = "y_{split}.h5"
DIMS: tuple[int, int, int] = (300, 5, 20)
"""Widths of text, audio and vision in ``X`` (MFN's ``configs/mosi.json``)."""
KEYS: tuple[str, ...] = ("data", "d1")


def detect(path: Path) -> int:
    """Match score: 5 for a directory holding ``X_{split}.h5`` and ``y_{split}.h5``, 1 for
    one of these files."""
    directory = path if path.is_dir() else path.parent
    if not path.is_dir() and not (path.name.startswith(("X_", "y_")) and path.suffix == ".h5"):
        return 0
    found = any(
        (directory / FEATURE_FILE.format(split=s)).exists()
        and (directory / LABEL_FILE.format(split=s)).exists()
        for s in SPLITS
    )
    return (5 if path.is_dir() else 1) if found else 0


def load(
    path: str | Path,
    *,
    splits: Sequence[str] = SPLITS,
    modalities: Sequence[str] | None = None,
    dims: Sequence[int] = DIMS,
    classes: Sequence[str] = THREE_CLASSES,
) -> Dataset:
    """Load the directory (or the directory of the file ``path``).

    Parameters
    ----------
    path : the folder of ``X_*.h5`` and ``y_*.h5``, or one file in it
    splits : splits to read
    modalities : modalities to keep (default all three); only their columns of ``X`` are read
    dims : widths of text, audio and vision in ``X``, in this order (default 300, 5, 20)
    classes : names of the columns of (N, 3) one-hot labels

    Returns
    -------
    Dataset named ``"mosi"``: the ``sentiment`` task for one score per sample; features
    (N, T, D_m) float32 per modality.

    Raises
    ------
    DataFormatError
        A file is missing or unreadable, or ``X``'s width is not ``sum(dims)``.
    ConfigError
        ``dims`` is not three positive widths, or an unknown modality.
    """
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    dims = tuple(int(d) for d in dims)
    if len(dims) != len(MODALITIES) or min(dims) < 0:
        raise ConfigError(f"dims={dims}: give the widths of text, audio and vision")
    columns: dict[str, tuple[int, int]] = {}
    at = 0
    for m, d in zip(MODALITIES, dims):
        columns[m] = (at, at + d)
        at += d
    wanted = list(MODALITIES if modalities is None else modalities)
    unknown = sorted(set(wanted) - set(MODALITIES))
    if unknown:
        raise ConfigError(f"unknown modality {', '.join(unknown)} (use {', '.join(MODALITIES)})")
    wanted = [m for m in MODALITIES if m in wanted and columns[m][1] > columns[m][0]]
    out: dict[str, Split] = {}
    nonfinite: dict[str, int] = {}
    kind: tuple[str, list[str]] | None = None
    for split in splits:
        y_path = directory / LABEL_FILE.format(split=split)
        with open_h5(y_path) as handle:
            dset = h5_first_dataset(handle, KEYS, y_path)
            raw = read_h5_float32(dset, y_path, ndim=len(dset.shape))
        meaning = interpret(raw, y_path, classes)
        if kind is None:
            kind = (meaning["task"], meaning["names"])
        elif kind != (meaning["task"], meaning["names"]):
            raise DataFormatError(f"{y_path}: labels of another kind than the other splits'")
        n = meaning["labels"].shape[0]
        x_path = directory / FEATURE_FILE.format(split=split)
        features, first, counts = _read_columns(x_path, n, y_path, columns, wanted, at)
        nonfinite.update({f"{split}/{m}": c for m, c in counts.items()})
        steps = next(iter(features.values())).shape[1] if features else 0
        shared = steps - first  # (N,)
        out[split] = Split(
            features=features,
            lengths={m: shared for m in features},
            labels=meaning["labels"],
            ids=default_ids(split, n),
            intensities=meaning["intensities"],
        )
    if kind is None:
        raise DataFormatError(f"{directory}: no split to read")
    dataset = Dataset(
        name="mosi",
        emotions=kind[1],
        splits=out,
        aligned=True,
        source=str(directory),
        nonfinite=nonfinite,
        meta={"format": "mfn-xy", "dims": dict(zip(MODALITIES, dims))},
        task=kind[0],
    )
    return dataset.validate()


def _read_columns(
    x_path: Path,
    n: int,
    y_path: Path,
    columns: dict[str, tuple[int, int]],
    wanted: Sequence[str],
    width: int,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Each wanted modality's columns of ``X`` as float32 (N, T, D_m), cleaned; the first
    valid step of the union of the modalities, int64 (N,); non-finite values replaced per
    modality."""
    with open_h5(x_path) as handle:
        dset = h5_first_dataset(handle, KEYS, x_path)
        shape = dset.shape
        if len(shape) != 3:
            raise DataFormatError(f"{x_path}: features have shape {shape}, expected (N, T, D)")
        if shape[0] != n:
            raise DataFormatError(
                f"{x_path}: {shape[0]} samples but {n} label rows in {y_path.name}"
            )
        if shape[2] != width:
            raise DataFormatError(
                f"{x_path}: {shape[2]} features per step, but text, audio and vision widths "
                f"{' + '.join(str(b - a) for a, b in columns.values())} = {width}; pass "
                "dims=(text, audio, vision)"
            )
        # type and declared size against the file, before anything is allocated
        check_h5_array(dset, x_path, dset.name.lstrip("/"))
        whole = None
        if dset.chunks is not None:  # compressed: whole, with bounded inflation (read_h5_array)
            whole = np.empty(shape, dtype=np.float32)  # (N, T, D)
            read_h5_array(dset, whole, x_path, dset.name.lstrip("/"))
        features: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        first = np.full(n, shape[1], dtype=np.int64)
        for m in wanted:
            a, b = columns[m]
            if whole is not None:
                x = np.ascontiguousarray(whole[:, :, a:b])  # (N, T, D_m)
            else:
                x = np.empty((n, shape[1], b - a), dtype=np.float32)  # (N, T, D_m)
                if x.size:
                    with h5_errors(x_path, f"cannot read {m} columns"):
                        dset.read_direct(x, np.s_[:, :, a:b])
            m_first, counts[m] = clean_and_measure(x)
            np.minimum(first, m_first, out=first)
            features[m] = x
    return features, first, counts


FORMAT = Format(
    name="mfn-xy",
    description="MFN CMU-MOSI X_*.h5 + y_*.h5: text, audio, vision concatenated; sentiment in [-3, 3]",
    detect=detect,
    load=load,
    write=None,
    label_order=None,
)

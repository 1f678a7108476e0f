"""Feature arrays given to a trained model directly: an ``.npz`` file or a mapping of arrays.

``emotrans predict RUN --input FILE.npz`` and :meth:`emotrans.Recognizer.predict` take, per
modality the model uses, features ``text`` / ``audio`` / ``vision`` of shape (N, T_m, D_m)
(leading all-zero rows are padding), and optionally ``lengths`` (N,) (or, in memory, a
mapping modality -> (N,)) and ``ids`` (N,). :func:`read_npz` reads a file and
:func:`check_arrays` checks the arrays against the model before anything is scored, so a
malformed input is a one-line :class:`~emotrans.errors.DataFormatError` naming the file and
the key (``"x.npz: 'lengths' has values up to 50 but 'text' has T = 20 steps"``) instead of a
traceback from deep inside the model or a silently wrong prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.dataset import lengths_from_padding, replace_nonfinite
from emotrans.errors import DataFormatError
from emotrans.npz import load_npz

log = logging.getLogger(__name__)


class FeatureArrays(dict):
    """The arrays of an ``.npz`` file (name -> array), remembering the file (``source``)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str) -> None:
        super().__init__(arrays)
        self.source = source


def read_npz(path: str | Path) -> FeatureArrays:
    """Every array of the ``.npz`` file ``path``, read with :func:`emotrans.npz.load_npz`:
    each checked against its ``.npy`` header (real numbers, or text for ``ids``; declared sizes
    within the archive and the bounds) before it is allocated. A one-line
    :class:`DataFormatError` naming the file (and the array) when it is missing, empty,
    truncated or damaged, not an archive of named arrays, holds pickled objects, declares more
    than it holds, or holds no array at all."""
    arrays = load_npz(path, text=("ids",))
    if not arrays:
        raise DataFormatError(f"{path}: an .npz archive without arrays")
    return FeatureArrays(arrays, str(path))


def _numeric(where: str, key: str, x: np.ndarray) -> None:
    if x.dtype.kind == "c":
        raise DataFormatError(f"{where}: {key!r} holds complex values; features are real numbers")
    if x.dtype.kind not in "biuf":
        raise DataFormatError(
            f"{where}: {key!r} holds {x.dtype} values ({_kind(x)}); features are numbers"
        )


def _kind(x: np.ndarray) -> str:
    return {"U": "text", "S": "bytes", "O": "objects", "V": "records", "M": "dates"}.get(
        x.dtype.kind, x.dtype.kind
    )


def check_arrays(
    data: Mapping[str, Any],
    modalities: Sequence[str],
    dims: Mapping[str, int] | None = None,
    where: str | None = None,
    strict: bool | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The features (N, T_m, D_m) float32, lengths (N,) int64 per modality and ids (N,) str
    of ``data``, checked for the model's ``modalities`` (and feature ``dims``).

    Parameters
    ----------
    data : name -> array: one entry per modality, optional ``lengths`` ((N,), or in memory a
        mapping modality -> (N,)) and ``ids`` (N,)
    modalities : the modalities the model uses, each required
    dims : modality -> the feature dimension D_m the model was trained on
    where : the name in errors (default: the file of a :class:`FeatureArrays`, else "input")
    strict : refuse non-finite values and zero samples (default: for a file); otherwise
        non-finite values are replaced by 0 with a warning, as the dataset loaders do

    Raises
    ------
    DataFormatError, one line naming ``where`` and the key: a modality missing, not numbers
    (text, complex, objects), not 3-d, with T = 0, of another dimension than the model's;
    N differing between modalities; lengths not integers, negative, above T_m or not N of
    them; ids not one per sample.
    """
    source = getattr(data, "source", None)
    where = where or source or "input"
    strict = source is not None if strict is None else strict
    features: dict[str, np.ndarray] = {}
    n_of: dict[str, int] = {}
    for m in modalities:
        if m not in data:
            have = ", ".join(sorted(str(k) for k in data)) or "none"
            raise DataFormatError(
                f"{where}: no {m!r} array (the model uses {', '.join(modalities)}; given: {have})"
            )
        x = np.asarray(data[m])
        _numeric(where, m, x)
        if x.ndim != 3:
            raise DataFormatError(f"{where}: {m!r} has shape {x.shape}, expected (N, T, D)")
        if x.shape[1] == 0:
            raise DataFormatError(f"{where}: {m!r} has T = 0 steps {x.shape}")
        if dims is not None and x.shape[2] != int(dims[m]):
            raise DataFormatError(
                f"{where}: {m!r} features are {x.shape[2]}-d but the model was trained on "
                f"{int(dims[m])}-d"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.array(x, dtype=np.float32)  # a copy: cleaning never changes the caller's
        if strict:
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            if bad:
                raise DataFormatError(
                    f"{where}: {m!r} holds {bad} non-finite values (NaN, inf, or beyond "
                    "float32); replace them (e.g. numpy.nan_to_num) or drop those samples"
                )
        else:
            count = replace_nonfinite(x)
            if count:
                log.warning("%s: %d non-finite %s values replaced by 0", where, count, m)
        features[m] = x
        n_of[m] = x.shape[0]
    if len(set(n_of.values())) > 1:
        sizes = ", ".join(f"{m} {n}" for m, n in n_of.items())
        raise DataFormatError(f"{where}: the modalities have different sample counts ({sizes})")
    n = next(iter(n_of.values()))
    if strict and n == 0:
        raise DataFormatError(f"{where}: no samples (N = 0)")
    lengths = {m: _lengths(data.get("lengths"), m, features[m], where) for m in modalities}
    ids = _ids(data.get("ids"), n, where)
    return features, lengths, ids


def _lengths(given: Any, m: str, x: np.ndarray, where: str) -> np.ndarray:
    if given is None:
        return lengths_from_padding(x)
    key = "lengths"
    if isinstance(given, Mapping):
        if m not in given:
            raise DataFormatError(f"{where}: 'lengths' has no entry for {m!r}")
        given, key = given[m], f"lengths[{m!r}]"
    values = np.asarray(given)
    n, t = x.shape[:2]
    if values.dtype.kind not in "iuf" or values.ndim != 1:
        raise DataFormatError(
            f"{where}: {key!r} is {values.dtype} of shape {values.shape}, expected (N,) integers"
        )
    if values.shape[0] != n:
        raise DataFormatError(f"{where}: {key!r} has {values.shape[0]} entries for {n} samples")
    if values.dtype.kind == "f" and not np.all(np.isfinite(values) & (values == np.round(values))):
        raise DataFormatError(f"{where}: {key!r} holds values that are not whole numbers")
    if n and values.min() < 0:
        raise DataFormatError(f"{where}: {key!r} holds a negative length ({values.min():g})")
    if n and values.max() > t:
        raise DataFormatError(
            f"{where}: {key!r} has values up to {values.max():g} but {m!r} has T = {t} steps"
        )
    return values.astype(np.int64)


def _ids(given: Any, n: int, where: str) -> np.ndarray:
    if given is None:
        return np.arange(n).astype(str)
    ids = np.asarray(given)
    if ids.ndim != 1 or ids.shape[0] != n:
        raise DataFormatError(
            f"{where}: 'ids' has shape {ids.shape}, expected one id per sample ({n},)"
        )
    if ids.dtype.kind not in "biuUS":
        raise DataFormatError(f"{where}: 'ids' holds {ids.dtype} values; use strings or integers")
    return ids.astype(str)

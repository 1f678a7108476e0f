"""Word -> vector mapping files: JSON, NPZ, and pickled dicts (``.pt``, ``.pkl``).

- JSON: an object ``{"anger": [0.1, ...], ...}``.
- NPZ: one array per name (``np.savez(path, **vectors)``), or two arrays ``names`` (K,) and
  ``vectors`` (K, d).
- ``.pt`` / ``.pth`` (the paper's reference code ships its emotion vectors as a pickled dict in
  a ``.pt`` file): first loaded with ``torch.load(weights_only=True)``, which cannot execute
  code and accepts dicts of tensors. A file that needs full unpickling (e.g. values that are
  numpy arrays) is refused unless the user allows pickles (``dict+pickle:PATH`` or
  ``allow_pickle=True``); it is then loaded with a logged warning.
- ``.pkl`` / ``.pickle``: plain pickles, refused unless allowed as above.

Keys may be phrases ("not sure"), looked up whole before averaging their words.
"""

from __future__ import annotations

import json
import logging
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.embeddings.base import EmbeddingSource, SourceKind, clean_names
from emotrans.embeddings.names import (
    Everything,
    close_spellings,
    resolve,
    unknown_names_error,
)
from emotrans.errors import DataFormatError, EmbeddingError
from emotrans.npz import load_npz
from emotrans.unpickle import load_pickle

log = logging.getLogger(__name__)

_TORCH_SUFFIXES = {".pt", ".pth"}
_PICKLE_SUFFIXES = {".pkl", ".pickle"}


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".npz":
        return "npz"
    if suffix in _TORCH_SUFFIXES:
        return "torch"
    if suffix in _PICKLE_SUFFIXES:
        return "pickle"
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.lstrip()[:1] == b"{":
        return "json"
    if head[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
        return "torch" if any(n.endswith("data.pkl") for n in names) else "npz"
    if head[:1] == b"\x80":
        return "pickle"
    raise EmbeddingError(f"{path}: unknown mapping format; expected .json, .npz, .pt/.pth or .pkl")


def _refuse(path: Path) -> EmbeddingError:
    return EmbeddingError(
        f"{path}: this file is a general pickle, and loading it can execute arbitrary code; "
        f"if you trust it, allow it with the source dict+pickle:{path} "
        "(Python: allow_pickle=True; CLI: --allow-pickle)"
    )


def _warn_pickle(path: Path) -> None:
    log.warning(
        "%s: unpickling a file, which can execute arbitrary code; do this only with files "
        "you trust",
        path,
    )


def _load_torch(path: Path, allow_pickle: bool) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not allow_pickle:
            raise _refuse(path) from None
    # Allowed: still never a free unpickler. torch's restricted loader may additionally
    # rebuild NumPy arrays (the reference code's dict of arrays), and nothing else.
    _warn_pickle(path)
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unsupported object"
        raise EmbeddingError(
            f"{path}: holds objects other than tensors, NumPy arrays and plain containers "
            f"({first[:160]}); convert it to .json or .npz"
        ) from None


def _numpy_globals() -> list[Any]:
    """The NumPy callables and types a pickled array needs, and nothing more."""
    from numpy._core import multiarray

    dtypes = {type(np.dtype(t)) for t in (np.float16, np.float32, np.float64, np.int32, np.int64)}
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype, *dtypes]


def _load_raw(path: Path, allow_pickle: bool) -> Any:
    kind = _kind(path)
    if kind == "json":
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    if kind == "npz":  # each array checked against its header before it is allocated
        arrays = load_npz(path, text=("names",), error=EmbeddingError)
        if set(arrays) == {"names", "vectors"}:
            names, vectors = arrays["names"], arrays["vectors"]
            if vectors.ndim != 2 or len(names) != len(vectors):
                raise EmbeddingError(
                    f"{path}: {len(names)} names but vectors of shape {vectors.shape}"
                )
            return {str(n): v for n, v in zip(names, vectors, strict=True)}
        return arrays
    if kind == "torch":
        return _load_torch(path, allow_pickle)
    if not allow_pickle:
        raise _refuse(path)
    _warn_pickle(path)
    try:
        return load_pickle(path)
    except DataFormatError as exc:
        raise EmbeddingError(str(exc)) from None


def load_mapping(path: str | Path, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """Read a word -> vector mapping file.

    Returns
    -------
    dict of str -> ndarray of shape (d,), float32, every vector of the same length d.

    Raises
    ------
    EmbeddingError
        Missing or unreadable file, not a mapping, vectors of different lengths or with
        non-finite values, or a pickle that was not allowed.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise EmbeddingError(f"{path}: no such file")
    try:
        raw = _load_raw(path, allow_pickle)
    except EmbeddingError:
        raise
    except Exception as exc:  # json, zip, numpy and torch all have their own errors
        raise EmbeddingError(f"{path}: cannot read as a word -> vector mapping ({exc})") from None
    if not isinstance(raw, Mapping) or not raw:
        raise EmbeddingError(
            f"{path}: expected a non-empty mapping of word -> vector, got {type(raw).__name__}"
        )
    table: dict[str, np.ndarray] = {}
    dim = None
    for key, value in raw.items():
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        try:
            vector = np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise EmbeddingError(f"{path}: the value of {key!r} is not a vector") from None
        if vector.ndim == 2 and vector.shape[0] == 1:
            vector = vector[0]  # (1, d) -> (d,)
        if vector.ndim != 1 or vector.size == 0:
            raise EmbeddingError(
                f"{path}: the value of {key!r} has shape {vector.shape}, expected (d,)"
            )
        if dim is None:
            dim = vector.size
        elif vector.size != dim:
            raise EmbeddingError(
                f"{path}: {key!r} has {vector.size} values but other entries have {dim}"
            )
        if not np.all(np.isfinite(vector)):
            raise EmbeddingError(f"{path}: non-finite value in the vector of {key!r}")
        table[str(key)] = vector
    return table


class MappingSource(EmbeddingSource):
    """Vectors from a word -> vector mapping file (read whole; such files are small).

    Parameters
    ----------
    path : str or Path
    spec : str, optional
        Spec string to report; defaults to ``dict:PATH``.
    allow_pickle : bool
        Allow full unpickling of ``.pt`` / ``.pkl`` files (can execute code).
    """

    def __init__(
        self, path: str | Path, spec: str | None = None, allow_pickle: bool = False
    ) -> None:
        self.path = Path(path).expanduser()
        self.spec = spec or f"dict:{path}"
        self.allow_pickle = allow_pickle
        if not self.path.is_file():
            raise EmbeddingError(f"{self.path}: no such file (embedding source {self.spec})")
        self._table: dict[str, np.ndarray] | None = None

    @property
    def table(self) -> dict[str, np.ndarray]:
        """The whole mapping, word -> vector (d,) (loaded once)."""
        if self._table is None:
            self._table = load_mapping(self.path, self.allow_pickle)
        return self._table

    @property
    def dim(self) -> int:
        return int(next(iter(self.table.values())).size)

    def embed(self, names: Sequence[str]) -> np.ndarray:
        names = clean_names(names)
        table = self.table
        if not names:
            return np.zeros((0, self.dim), np.float32)
        res = resolve(names, table, Everything(), whole_phrases=True)
        if res.missing:
            words = {w for ws in res.missing.values() for w in ws}
            suggestions = {w.lower(): close_spellings(w, table) for w in words}
            raise unknown_names_error(str(self.path), res.missing, suggestions)
        return res.matrix()  # (K, d)


KIND = SourceKind(
    prefixes=("dict", "dict+pickle"),
    forms=("dict:PATH", "dict+pickle:PATH"),
    build=lambda prefix, arg, spec, allow_pickle: MappingSource(
        arg, spec=spec, allow_pickle=allow_pickle or prefix == "dict+pickle"
    ),
)
"""Word -> vector mapping files; ``dict+pickle`` also allows full unpickling."""

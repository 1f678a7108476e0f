"""The native emotrans format: one HDF5 file per dataset that round-trips :class:`Dataset`.

Layout (``.h5``)::

    attrs["manifest"]            JSON: {"format": "emotrans", "version": 1, "name", "emotions",
                                 "task" (optional, "emotion" when absent),
                                 "single_label" (optional; when absent, inferred: every
                                 label row has exactly one positive),
                                 "extraction" (optional: emotrans extract's record),
                                 "aligned", "source", "meta", "nonfinite", "splits",
                                 "modalities"}
    /<split>/features/<modality> float32 (N, T_m, D_m), left zero padded
    /<split>/lengths/<modality>  int64 (N,)
    /<split>/labels              uint8 (N, K)
    /<split>/ids                 UTF-8 strings (N,)
    /<split>/intensities         float32 (N, K), only when the dataset has them

Convert any dataset with ``emotrans data convert PATH --out FILE.h5`` or
:func:`save_native`. This is the one format whose writer refuses non-finite features. Arrays are stored uncompressed and contiguous so that loading is one
read per array into a preallocated array.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data._io import (
    check_h5_array,
    h5_dataset,
    h5_errors,
    open_h5,
    read_h5_array,
    read_h5_float32,
    require_file,
)
from emotrans.data.dataset import Dataset, Split, infer_single_label
from emotrans.data.formats.base import Format
from emotrans.errors import DataFormatError

log = logging.getLogger(__name__)

FORMAT_MARKER = "emotrans"
VERSION = 1
MANIFEST_ATTR = "manifest"
SUFFIX = ".h5"


def save_native(dataset: Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to one native HDF5 file, atomically.

    Parameters
    ----------
    dataset : the dataset; its features must be finite (every loader cleans them)
    path : target file, conventionally ending in ``.h5``

    Returns
    -------
    The path written.

    Raises
    ------
    DataFormatError
        The dataset is inconsistent, has non-finite features, or its ``meta`` is not
        JSON-serialisable.
    """
    import h5py

    path = Path(path)
    dataset.validate()
    for split_name, split in dataset.splits.items():
        for m, x in split.features.items():
            if not np.isfinite(x).all():
                raise DataFormatError(
                    f"{dataset.source or dataset.name} [{split_name}]: {m} features contain "
                    "non-finite values; replace them before saving"
                )
    manifest = {
        "format": FORMAT_MARKER,
        "version": VERSION,
        "name": dataset.name,
        "emotions": list(dataset.emotions),
        "task": dataset.task,
        "single_label": bool(dataset.single_label),
        "extraction": dataset.extraction,
        "aligned": bool(dataset.aligned),
        "source": dataset.source,
        "meta": dataset.meta,
        "nonfinite": {k: int(v) for k, v in dataset.nonfinite.items()},
        "splits": list(dataset.splits),
        "modalities": {k: list(s.features) for k, s in dataset.splits.items()},
    }
    try:
        manifest_text = json.dumps(manifest)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(
            f"{dataset.source or dataset.name}: metadata is not JSON-serialisable ({exc})"
        ) from None
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs[MANIFEST_ATTR] = manifest_text
        for split_name, split in dataset.splits.items():
            g = f.create_group(split_name)
            for m, x in split.features.items():
                g.create_dataset(f"features/{m}", data=np.ascontiguousarray(x, np.float32))
                g.create_dataset(f"lengths/{m}", data=np.asarray(split.lengths[m], np.int64))
            g.create_dataset("labels", data=np.asarray(split.labels, np.uint8))
            ids = np.array([str(i) for i in split.ids], dtype=object)
            g.create_dataset("ids", data=ids, dtype=h5py.string_dtype("utf-8"))
            if split.intensities is not None:
                g.create_dataset("intensities", data=np.asarray(split.intensities, np.float32))
    log.info("wrote %s", path)
    return path


def is_native(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file carrying the emotrans manifest (never raises)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        import h5py

        with h5py.File(path, "r") as f:
            text = _manifest_text(f)
            return text is not None and json.loads(text).get("format") == FORMAT_MARKER
    except Exception:  # any unreadable file is simply "not native"
        return False


def detect(path: Path) -> int:
    """Match score: 2 for a native file, 1 for a directory holding one (any other layout
    found in the same directory wins)."""
    if path.is_dir():
        return 1 if any(is_native(p) for p in _h5_files(path)) else 0
    return 2 if is_native(path) else 0


def _h5_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.h5")) + sorted(directory.glob("*.hdf5"))


def load(path: str | Path) -> Dataset:
    """:func:`load_native` of the file, or of the directory's one native file.

    Raises
    ------
    DataFormatError
        A directory with no native file or several.
    """
    path = Path(path)
    if path.is_dir():
        found = [p for p in _h5_files(path) if is_native(p)]
        if not found:
            raise DataFormatError(f"{path}: no emotrans native .h5 file")
        if len(found) > 1:
            raise DataFormatError(
                f"{path}: several native files ({', '.join(p.name for p in found)}); "
                "pass the one you want"
            )
        path = found[0]
    return load_native(path)


def write(dataset: Dataset, out: str | Path) -> list[Path]:
    """:func:`save_native` into the directory ``out``, as ``<name>.h5``; returns that file."""
    return [save_native(dataset, Path(out) / f"{dataset.name}{SUFFIX}")]


def load_native(path: str | Path) -> Dataset:
    """Load a native emotrans file written by :func:`save_native`.

    Returns
    -------
    The dataset exactly as saved (arrays, ids, emotions, meta, non-finite counts); ``source``
    is ``path`` (the original source stays in the file's manifest).

    Raises
    ------
    DataFormatError
        Missing, truncated or non-HDF5 file, no emotrans manifest, newer version, or a
        missing or inconsistent array.
    """
    import h5py

    path = require_file(Path(path))
    with open_h5(path) as f:
        manifest = _read_manifest(f, path)
        splits: dict[str, Split] = {}
        for split_name in manifest["splits"]:
            with h5_errors(path, f"cannot open the group of split {split_name!r}"):
                g = f.get(split_name)
                is_group = isinstance(g, h5py.Group)
            if not is_group:
                raise DataFormatError(f"{path}: no group for split {split_name!r}")
            splits[split_name] = _read_split(
                g, path, split_name, manifest["modalities"][split_name]
            )
    dataset = Dataset(
        name=str(manifest["name"]),
        emotions=[str(e) for e in manifest["emotions"]],
        splits=splits,
        aligned=bool(manifest["aligned"]),
        source=str(path),
        nonfinite={str(k): int(v) for k, v in manifest.get("nonfinite", {}).items()},
        meta=dict(manifest.get("meta") or {}),
        task=str(manifest.get("task", "emotion")),  # files written before the task: emotion
        extraction=manifest.get("extraction"),  # emotrans extract's record, else None
    )
    declared = manifest.get("single_label")
    # files written before the declaration: single-label when every row has one emotion
    dataset.single_label = (
        bool(declared) if declared is not None else infer_single_label(dataset.splits, dataset.task)
    )
    return dataset.validate()


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The JSON manifest of a native file (cheap: reads no array)."""
    path = require_file(Path(path))
    with open_h5(path) as f:
        return _read_manifest(f, path)


def _manifest_text(f: Any) -> str | None:
    text = f.attrs.get(MANIFEST_ATTR)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text if isinstance(text, str) else None


def _read_manifest(f: Any, path: Path) -> dict[str, Any]:
    with h5_errors(path, "cannot read the manifest attribute"):
        text = _manifest_text(f)
    if text is None:
        raise DataFormatError(f"{path}: HDF5 file without an emotrans manifest (not native)")
    try:
        manifest = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        problem = exc if isinstance(exc, json.JSONDecodeError) else "nested too deep"
        raise DataFormatError(f"{path}: unreadable manifest ({problem})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_MARKER:
        raise DataFormatError(f"{path}: manifest is not an emotrans manifest (not native)")
    version = manifest.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION:
        raise DataFormatError(
            f"{path}: native format version {version!r}; this emotrans reads up to {VERSION}"
        )
    required = ("name", "emotions", "aligned", "splits", "modalities")
    missing = [k for k in required if k not in manifest]
    if missing:
        raise DataFormatError(f"{path}: manifest lacks {', '.join(missing)}")
    _check_manifest(manifest, path)
    return manifest


def _names(value: Any) -> bool:
    """A list of non-empty strings without ``/`` (HDF5 paths) and without repeats."""
    return (
        isinstance(value, list)
        and all(isinstance(v, str) and v and "/" not in v for v in value)
        and len(set(value)) == len(value)
    )


def _check_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a manifest whose keys have the wrong types, naming the key: so a damaged or
    hand-edited file is one line, not a TypeError deep in the loader."""

    def refuse(key: str, expected: str) -> DataFormatError:
        found = json.dumps(manifest[key])
        found = found if len(found) <= 40 else found[:37] + "..."
        return DataFormatError(f"{path}: manifest key {key!r} should be {expected}, not {found}")

    if not isinstance(manifest["name"], str):
        raise refuse("name", "a string")
    if not _names(manifest["emotions"]):  # empty for unlabelled clips (extract without labels)
        raise refuse("emotions", "a list of distinct emotion names")
    if not isinstance(manifest["aligned"], bool):
        raise refuse("aligned", "true or false")
    if not (_names(manifest["splits"]) and manifest["splits"]):
        raise refuse("splits", "a list of distinct split names")
    modalities = manifest["modalities"]
    if not isinstance(modalities, dict):
        raise refuse("modalities", "an object: split -> list of modalities")
    for split in manifest["splits"]:
        if split not in modalities:
            raise DataFormatError(f"{path}: manifest key 'modalities' has no entry for {split!r}")
        if not _names(modalities[split]):
            raise DataFormatError(
                f"{path}: manifest key 'modalities' should list the modalities of {split!r}, "
                f"not {json.dumps(modalities[split])[:40]}"
            )
    optional = {
        "task": (lambda v: isinstance(v, str), "a string"),
        "single_label": (lambda v: v is None or isinstance(v, bool), "true, false or null"),
        "source": (lambda v: v is None or isinstance(v, str), "a string or null"),
        "meta": (lambda v: v is None or isinstance(v, dict), "an object or null"),
        "extraction": (lambda v: v is None or isinstance(v, dict), "an object or null"),
        "nonfinite": (
            lambda v: (
                isinstance(v, dict)
                and all(
                    isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in v.values()
                )
            ),
            "an object of counts (split/modality -> non-negative integer)",
        ),
    }
    for key, (valid, expected) in optional.items():
        if key in manifest and not valid(manifest[key]):
            raise refuse(key, expected)


def _read_split(g: Any, path: Path, split: str, modalities: list[str]) -> Split:
    features: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    for m in modalities:
        features[m] = read_h5_float32(h5_dataset(g, f"features/{m}", path), path, ndim=3)
        lengths[m] = _read_exact(h5_dataset(g, f"lengths/{m}", path), path, np.int64, 1)
    labels = _read_exact(h5_dataset(g, "labels", path), path, np.uint8, 2)
    ids_dset = h5_dataset(g, "ids", path)
    with h5_errors(path, f"cannot read the shape of {split}/ids"):
        ids_shape = ids_dset.shape
    if ids_shape != (labels.shape[0],):  # checked before reading: one string per label row
        raise DataFormatError(
            f"{path}: {split}/ids has shape {ids_shape}, expected ({labels.shape[0]},), one "
            "per label row"
        )
    try:
        with h5_errors(path, f"cannot read {split}/ids"):
            ids = np.array(ids_dset.asstr()[()].tolist(), dtype=str).reshape(-1)
    except (AttributeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read {split}/ids ({exc})") from None
    intensities = None
    if "intensities" in g:
        intensities = read_h5_float32(h5_dataset(g, "intensities", path), path, ndim=2)
    return Split(
        features=features, lengths=lengths, labels=labels, ids=ids, intensities=intensities
    )


def _read_exact(dset: Any, path: Path, dtype: type, ndim: int) -> np.ndarray:
    """The whole dataset as ``dtype`` (lengths, labels): integers only, its shape and declared
    size checked (:func:`check_h5_array`) before the array is allocated."""
    name = dset.name.lstrip("/")
    with h5_errors(path, f"cannot read the shape of {name}"):
        shape = dset.shape
    if shape is None or len(shape) != ndim:
        raise DataFormatError(f"{path}: {name} has shape {shape}, expected {ndim} dimensions")
    check_h5_array(dset, path, name, kinds="iub", out_itemsize=np.dtype(dtype).itemsize)
    out = np.empty(shape, dtype=dtype)
    read_h5_array(dset, out, path, name)
    return out


FORMAT = Format(
    name="native",
    description="one emotrans .h5 file (emotrans data convert writes it)",
    detect=detect,
    load=load,
    write=write,
    label_order=None,
    finite_only=True,
)

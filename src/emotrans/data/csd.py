"""Lazy reader of CMU-MultimodalSDK computational sequences (``.csd`` files, HDF5).

A computational sequence holds one feature set (words/GloVe, COVAREP, FACET, labels, ...) for
many videos::

    /<root>/data/<video_id>/features    (n, D) numbers, one row per interval
    /<root>/data/<video_id>/intervals   (n, 2) start and end, in seconds
    /<root>/metadata/<key>              (1,) string holding a JSON value, e.g.
                                        "dimension names" -> ["F0", "VUV", ...]

:class:`ComputationalSequence` opens such a file without reading any array; videos are read
one at a time with :meth:`ComputationalSequence.read`, so memory stays at one video's rows.
:func:`inspect_csd` summarises a file (videos, rows, dimensions, dimension names) and checks
its intervals (NaN, negative, reversed, overlapping, out of time order, shorter than the
alignment tolerance) and the features/intervals row counts, reading only the intervals.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data._io import (
    H5_ERRORS,
    check_h5_array,
    h5_errors,
    read_h5_array,
    refuse_lfs_pointer,
)
from emotrans.errors import DataFormatError

log = logging.getLogger(__name__)

EPS = 1e-5
"""Interval tolerance of the CMU-MultimodalSDK, in seconds (``epsilon = 10e-6`` there)."""

SUFFIX = ".csd"
DIMENSION_NAMES_KEY = "dimension names"
ROOT_NAME_KEY = "root name"
_PROBLEM_EXAMPLES = 10


@dataclass
class VideoRows:
    """The rows of one video in one computational sequence.

    Attributes
    ----------
    intervals : float64 array of shape (n, 2), start and end in seconds, in file order
    features : array of shape (n, D), in the stored dtype (or float32 when asked)
    """

    intervals: np.ndarray
    features: np.ndarray

    def __len__(self) -> int:
        return int(self.intervals.shape[0])


class ComputationalSequence:
    """One ``.csd`` file, opened lazily: nothing but the group names is read on opening.

    Parameters
    ----------
    path : the ``.csd`` file

    Raises
    ------
    DataFormatError
        Missing file, not HDF5, or an HDF5 file without the ``/<root>/data`` layout.

    Examples
    --------
    >>> with ComputationalSequence("CMU_MOSEI_COVAREP.csd") as seq:  # doctest: +SKIP
    ...     rows = seq.read(seq.video_ids[0])
    ...     rows.features.shape
    (5873, 74)
    """

    def __init__(self, path: str | Path) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise DataFormatError(f"{self.path}: no such file")
        try:
            self._file = h5py.File(self.path, "r")
        except H5_ERRORS as exc:
            refuse_lfs_pointer(self.path)
            raise DataFormatError(
                f"{self.path}: not a readable HDF5 file, so not a computational sequence "
                f"({_first_line(exc)})"
            ) from None
        try:
            with h5_errors(self.path, "cannot read the groups of the computational sequence"):
                self.root_name, self._root = self._find_root()
                self._data = self._root["data"]
                self.video_ids: list[str] = list(self._data.keys())
        except BaseException:
            self._file.close()
            raise
        self._metadata: dict[str, Any] | None = None
        self._index = set(self.video_ids)
        self._prefix = f"/{self.root_name}/data/"
        # Raw chunk reads (see _read_dataset) go through a descriptor of our own.
        self._fd: int | None = os.open(self.path, os.O_RDONLY)
        self._base = int(self._file.userblock_size)
        self._size = os.fstat(self._fd).st_size

    # -- structure --------------------------------------------------------------------------

    def _find_root(self) -> tuple[str, Any]:
        import h5py

        tops = list(self._file.keys())
        for name in tops:
            group = self._file[name]
            if isinstance(group, h5py.Group) and "data" in group:
                if isinstance(group["data"], h5py.Group):
                    return name, group
        shown = ", ".join(tops[:6]) or "nothing"
        raise DataFormatError(
            f"{self.path}: HDF5 file but not a CMU-MultimodalSDK computational sequence "
            f"(no /<root>/data group; top level has {shown})"
        )

    @property
    def metadata(self) -> dict[str, Any]:
        """The ``/<root>/metadata`` entries, each decoded from JSON (or kept as text)."""
        if self._metadata is None:
            with h5_errors(self.path, "cannot open the metadata group"):
                group = self._root["metadata"] if "metadata" in self._root else None
            self._metadata = _read_metadata(group, self.path)
        return self._metadata

    @property
    def dimension_names(self) -> list[str] | None:
        """The ``dimension names`` metadata entry as a list of strings, when present."""
        names = self.metadata.get(DIMENSION_NAMES_KEY)
        if isinstance(names, list | tuple):
            return [str(n) for n in names]
        return None

    def __len__(self) -> int:
        return len(self.video_ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self.video_ids)

    def __enter__(self) -> ComputationalSequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def release_caches(self) -> None:
        """Reopen the HDF5 file, dropping what HDF5 keeps per open file (metadata cache,
        chunk-index nodes): that grows by about 0.1 MB per video read, so long streams call
        this every few hundred videos."""
        import h5py

        self._file.close()
        with h5_errors(self.path, "cannot reopen the computational sequence"):
            self._file = h5py.File(self.path, "r")
            self._root = self._file[self.root_name]
            self._data = self._root["data"]

    def close(self) -> None:
        """Close the HDF5 file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._file.id.valid:
            self._file.close()

    # -- per video --------------------------------------------------------------------------

    def _video_datasets(self, video_id: str) -> tuple[Any, Any]:
        """Low-level ids of the ``features`` and ``intervals`` datasets of one video."""
        from h5py import h5d

        found = []
        for name in ("features", "intervals"):
            try:
                found.append(h5d.open(self._file.id, f"{self._prefix}{video_id}/{name}".encode()))
            except H5_ERRORS:
                if video_id not in self._index:
                    raise DataFormatError(f"{self.path}: no video {video_id!r}") from None
                raise DataFormatError(
                    f"{self.path}: video {video_id!r} has no {name!r} dataset"
                ) from None
        return found[0], found[1]

    def shape(self, video_id: str) -> tuple[int, int]:
        """``(rows, D)`` of one video from the dataset shapes (reads no data).

        Raises
        ------
        DataFormatError
            Missing datasets, wrong ranks, or features/intervals row counts that differ.
        """
        features, intervals = self._checked_datasets(video_id)
        return int(intervals.shape[0]), int(features.shape[1])

    def _checked_datasets(self, video_id: str) -> tuple[Any, Any]:
        """:meth:`_video_datasets`, with their shapes, types and declared sizes checked
        against the file (:func:`emotrans.data._io.check_h5_array`) before anything is
        allocated for them."""
        features, intervals = self._video_datasets(video_id)
        with h5_errors(self.path, f"cannot read the shapes of video {video_id!r}"):
            fshape, ishape = features.shape or (), intervals.shape or ()
        _check_shapes(self.path, video_id, fshape, ishape)
        where = f"{self._prefix}{video_id}"
        size = self._size
        check_h5_array(intervals, self.path, f"{where}/intervals", out_itemsize=8, file_size=size)
        check_h5_array(features, self.path, f"{where}/features", kinds="fiub", file_size=size)
        return features, intervals

    def read_intervals(self, video_id: str, check: bool = True) -> np.ndarray:
        """The intervals of one video, float64 of shape (n, 2), in file order.

        ``check`` raises :class:`DataFormatError` on NaN or reversed (end < start) rows.
        """
        features, intervals = self._checked_datasets(video_id)
        out = self._read(intervals, np.float64, video_id)
        if check:
            check_intervals(out, self.path, video_id)
        return out

    def read(self, video_id: str, dtype: type | None = np.float32, check: bool = True) -> VideoRows:
        """Intervals and features of one video.

        Parameters
        ----------
        video_id : a name from :attr:`video_ids`
        dtype : dtype of the returned features (converted by HDF5 while reading), or None to
            keep the stored dtype
        check : raise :class:`DataFormatError` on NaN or reversed intervals

        Returns
        -------
        :class:`VideoRows` with intervals (n, 2) float64 and features (n, D).
        """
        features, intervals = self._checked_datasets(video_id)
        iv = self._read(intervals, np.float64, video_id)
        if check:
            check_intervals(iv, self.path, video_id)
        ft = self._read(features, dtype or features.dtype, video_id)
        return VideoRows(intervals=iv, features=ft)

    def _read(self, dsid: Any, dtype: Any, video_id: str) -> np.ndarray:
        """A whole dataset of one video, checked by :meth:`_checked_datasets` first."""
        from h5py import h5i

        with h5_errors(self.path, f"cannot read a dataset of video {video_id!r}"):
            name = (h5i.get_name(dsid) or b"?").decode(errors="replace").split("/")[-1]
        return _read_dataset(
            dsid, dtype, self._fd, self._base, self.path, f"{self._prefix}{video_id}/{name}"
        )

    def dim(self) -> int:
        """Feature dimension D, from the first video's shape (0 for an empty file)."""
        for video_id in self.video_ids:
            return self.shape(video_id)[1]
        return 0


def open_csd(path: str | Path) -> ComputationalSequence:
    """Open a ``.csd`` file lazily (see :class:`ComputationalSequence`)."""
    return ComputationalSequence(path)


def is_csd(path: str | Path) -> bool:
    """Whether ``path`` is an HDF5 file with the computational-sequence layout (never raises)."""
    try:
        with ComputationalSequence(path):
            return True
    except Exception:  # any unreadable file is simply "not a csd"
        return False


def check_intervals(intervals: np.ndarray, path: Path | str, video_id: str) -> None:
    """Raise :class:`DataFormatError` when ``intervals`` (n, 2) has NaN or reversed rows."""
    if intervals.size == 0:
        return
    start, end = intervals[:, 0], intervals[:, 1]
    nan = np.isnan(intervals).any(axis=1)
    if nan.any():
        raise DataFormatError(
            f"{path}: video {video_id!r} has {int(nan.sum())} interval row(s) with NaN "
            f"(first at row {int(np.argmax(nan))})"
        )
    reversed_ = end < start
    if reversed_.any():
        row = int(np.argmax(reversed_))
        raise DataFormatError(
            f"{path}: video {video_id!r} has {int(reversed_.sum())} reversed interval row(s) "
            f"(end before start; first at row {row}: [{start[row]:g}, {end[row]:g}])"
        )


def _check_shapes(path: Path, video_id: str, fshape: tuple, ishape: tuple) -> None:
    if len(ishape) != 2 or ishape[1] != 2:
        raise DataFormatError(
            f"{path}: intervals of video {video_id!r} have shape {ishape}, expected (n, 2)"
        )
    if len(fshape) != 2:
        raise DataFormatError(
            f"{path}: features of video {video_id!r} have shape {fshape}, expected (n, D)"
        )
    if fshape[0] != ishape[0]:
        raise DataFormatError(
            f"{path}: video {video_id!r} has {fshape[0]} feature rows but {ishape[0]} interval rows"
        )


def _read_dataset(
    dsid: Any, dtype: Any, fd: int | None, base: int, path: Path, what: str
) -> np.ndarray:
    """Read a whole dataset (low-level id, its declared size already checked) into a new
    array of ``dtype``.

    Datasets compressed with gzip (what the SDK writes) are read by
    :func:`emotrans.data._io.read_h5_array`: the chunk addresses from one ``H5Dchunk_iter``
    pass, the compressed bytes from ``os.pread`` on ``fd``, inflation from ISA-L (package
    ``isal``) when installed, else zlib, into at most one chunk's bytes. That is about 2.5
    times faster than HDF5's own pipeline with zlib, and a chunk that inflates past its size
    is refused instead of filling memory. Anything else is read by HDF5, which also converts
    types.
    """
    out = np.empty(dsid.shape, dtype=dtype)
    read_h5_array(dsid, out, path, what, fd, base)
    return out


_METADATA_MAX_ITEM_BYTES = 1 << 20


def _read_metadata(group: Any, path: Path) -> dict[str, Any]:
    """The ``metadata`` group's entries, each the first element of its dataset (JSON text
    decoded when it parses); unreadable entries are left out."""
    import h5py

    out: dict[str, Any] = {}
    if not isinstance(group, h5py.Group):
        return out
    with h5_errors(path, "cannot list the metadata entries"):
        keys = list(group.keys())
    for key in keys:
        try:
            obj = group[key]
            if not isinstance(obj, h5py.Dataset):
                continue
            shape = obj.shape
            if shape is None or obj.dtype.itemsize > _METADATA_MAX_ITEM_BYTES:
                continue  # no dataspace, or one element alone would be huge: not metadata
            if 0 in shape:
                value: Any = ""
            else:  # the first element only: a hostile shape allocates nothing
                value = obj[(0,) * len(shape)] if shape else obj[()]
        except H5_ERRORS:
            continue  # an unreadable entry is left out; the features do not depend on it
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size else ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError:
                out[key] = value
        elif isinstance(value, np.generic):
            out[key] = value.item()
        else:
            out[key] = str(value)
    return out


# -- writing --------------------------------------------------------------------------------


class CsdWriter:
    """Write a computational sequence video by video, in the SDK's layout, atomically.

    Each video's ``features`` and ``intervals`` are stored as compressed datasets (gzip, as
    the SDK deploys them; HDF5 picks the chunk shape) and every metadata entry as a
    one-element string dataset holding its JSON text. The file appears at ``path`` only when
    the ``with`` block ends without error. Nothing is validated: tests write broken files
    with it on purpose.

    Examples
    --------
    >>> with CsdWriter("covarep.csd", "COVAREP", {"dimension names": names}) as w:  # doctest: +SKIP
    ...     w.add("vid1", intervals, features)
    """

    def __init__(
        self,
        path: str | Path,
        root_name: str,
        metadata: Mapping[str, Any] | None = None,
        compression: str | None = "gzip",
        compression_opts: int | None = 4,
    ) -> None:
        self.path = Path(path)
        self.root_name = root_name
        self.metadata = {ROOT_NAME_KEY: root_name, **dict(metadata or {})}
        self.compression = compression
        self.compression_opts = compression_opts if compression == "gzip" else None
        self._atomic: Any = None
        self._file: Any = None
        self._data: Any = None

    def __enter__(self) -> CsdWriter:
        import h5py

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._file = h5py.File(tmp, "w")
            self._data = self._file.create_group(self.root_name).create_group("data")
        except BaseException as exc:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def add(self, video_id: str, intervals: np.ndarray, features: np.ndarray) -> None:
        """Store one video: intervals (n, 2) in seconds and features (n, D)."""
        group = self._data.create_group(video_id)
        for name, value in (("features", features), ("intervals", intervals)):
            value = np.asarray(value)
            compress = self.compression if value.size else None
            group.create_dataset(
                name,
                data=value,
                compression=compress,
                compression_opts=self.compression_opts if compress else None,
            )

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        import h5py

        try:
            if exc_type is None:
                meta = self._file[self.root_name].create_group("metadata")
                text = h5py.string_dtype("utf-8")
                for key, value in self.metadata.items():
                    meta.create_dataset(
                        key, data=np.array([json.dumps(value)], dtype=object), dtype=text
                    )
        finally:
            self._file.close()
            self._atomic.__exit__(exc_type, exc, tb)


def write_csd(
    path: str | Path,
    root_name: str,
    videos: Mapping[str, tuple[np.ndarray, np.ndarray]],
    metadata: Mapping[str, Any] | None = None,
    compression: str | None = "gzip",
) -> Path:
    """Write a small computational sequence from ``{video_id: (intervals, features)}``."""
    with CsdWriter(path, root_name, metadata, compression=compression) as writer:
        for video_id, (intervals, features) in videos.items():
            writer.add(video_id, intervals, features)
    return Path(path)


# -- inspection ------------------------------------------------------------------------------


def inspect_csd(
    path: str | Path,
    eps: float = EPS,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Summary and interval sanity of one ``.csd`` file, reading only the intervals.

    Parameters
    ----------
    path : the ``.csd`` file
    eps : tolerance below which an interval counts as too short to align (SDK: 1e-5 s)
    progress : called as ``progress(done, total)`` after each video

    Returns
    -------
    A JSON-serialisable dict: ``path``, ``root_name``, ``videos``, ``rows``, ``dim``,
    ``dtype``, ``dimension_names``, ``metadata`` (short text of each entry),
    ``rows_per_video`` (min / median / max), ``seconds`` (total covered by the first to last
    interval of each video), ``problems`` (counts: ``row_count_mismatch`` and ``bad_shape``
    videos, ``nan``, ``negative``, ``reversed``, ``shorter_than_eps``, ``overlapping``,
    ``out_of_order`` rows, ``inconsistent_dim`` videos) and ``examples`` (up to 10 lines
    naming a video and its problem).

    Raises
    ------
    DataFormatError
        The file is not a computational sequence.
    """
    counts = {
        "row_count_mismatch": 0,
        "bad_shape": 0,
        "inconsistent_dim": 0,
        "nan": 0,
        "negative": 0,
        "reversed": 0,
        "shorter_than_eps": 0,
        "overlapping": 0,
        "out_of_order": 0,
    }
    examples: list[str] = []

    def note(video_id: str, text: str) -> None:
        if len(examples) < _PROBLEM_EXAMPLES:
            examples.append(f"{video_id}: {text}")

    rows_per_video: list[int] = []
    seconds = 0.0
    dims: dict[int, int] = {}
    dtype = None
    with ComputationalSequence(path) as seq:
        total = len(seq.video_ids)

        def check(video_id: str) -> None:
            nonlocal seconds, dtype
            try:
                features, intervals = seq._video_datasets(video_id)
            except DataFormatError as exc:
                counts["bad_shape"] += 1
                note(video_id, str(exc).split(": ", 1)[-1])
                return
            with h5_errors(seq.path, f"cannot read the shapes of video {video_id!r}"):
                fshape, ishape = features.shape, intervals.shape
            if fshape is None or ishape is None:
                fshape, ishape = fshape or (), ishape or ()
            if len(ishape) != 2 or ishape[1] != 2 or len(fshape) != 2:
                counts["bad_shape"] += 1
                note(video_id, f"features {fshape}, intervals {ishape}; expected (n, D), (n, 2)")
                return
            dtype = dtype or str(features.dtype)
            dims[int(fshape[1])] = dims.get(int(fshape[1]), 0) + 1
            if fshape[0] != ishape[0]:
                counts["row_count_mismatch"] += 1
                note(video_id, f"{fshape[0]} feature rows but {ishape[0]} interval rows")
            where = f"{seq._prefix}{video_id}/intervals"
            check_h5_array(intervals, seq.path, where, out_itemsize=8, file_size=seq._size)
            iv = seq._read(intervals, np.float64, video_id)
            rows_per_video.append(int(ishape[0]))
            if not len(iv):
                return
            for key, n in interval_problems(iv, eps).items():
                if n:
                    counts[key] += n
                    note(video_id, f"{n} {key.replace('_', ' ')} interval row(s)")
            finite = iv[np.isfinite(iv).all(axis=1)]
            if len(finite):
                seconds += float(finite[:, 1].max() - finite[:, 0].min())

        for done, video_id in enumerate(seq.video_ids, 1):
            check(video_id)
            if progress:
                progress(done, total)
        if len(dims) > 1:
            common = max(dims, key=dims.__getitem__)
            counts["inconsistent_dim"] = sum(n for d, n in dims.items() if d != common)
        meta = {k: _short(v) for k, v in seq.metadata.items()}
        report = {
            "path": str(seq.path),
            "root_name": seq.root_name,
            "videos": total,
            "rows": int(sum(rows_per_video)),
            "dim": max(dims, key=dims.__getitem__) if dims else 0,
            "dtype": dtype or "",
            "dimension_names": seq.dimension_names,
            "metadata": meta,
            "rows_per_video": _spread(rows_per_video),
            "seconds": round(seconds, 3),
            "problems": counts,
            "examples": examples,
        }
    return report


def interval_problems(intervals: np.ndarray, eps: float = EPS) -> dict[str, int]:
    """Counts of suspicious rows in one video's intervals (n, 2).

    Keys: ``nan``, ``negative`` (a negative time), ``reversed`` (end < start),
    ``shorter_than_eps`` (|end - start| < eps: the SDK aligns nothing to such a reference
    row), ``overlapping`` (starts before an earlier-starting row ends, by more than eps) and
    ``out_of_order`` (starts before the previous row in the file).
    """
    nan = np.isnan(intervals).any(axis=1)
    ok = intervals[~nan]
    start, end = ok[:, 0], ok[:, 1]
    order = np.argsort(start, kind="stable")
    s_sorted, e_sorted = start[order], end[order]
    previous_end = np.maximum.accumulate(e_sorted)[:-1]
    return {
        "nan": int(nan.sum()),
        "negative": int((ok < 0).any(axis=1).sum()),
        "reversed": int((end < start).sum()),
        "shorter_than_eps": int((np.abs(end - start) < eps).sum()),
        "overlapping": int((s_sorted[1:] < previous_end - eps).sum()),
        "out_of_order": int((start[1:] < start[:-1]).sum()),
    }


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "max": 0}
    arr = np.asarray(values)
    return {"min": int(arr.min()), "median": float(np.median(arr)), "max": int(arr.max())}


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

"""Private helpers shared by the loaders: HDF5 reads, cleaning and measuring in blocks.

Every problem with a file surfaces as a one-line :class:`DataFormatError` naming the file.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.dataset import replace_nonfinite
from emotrans.errors import DataFormatError
from emotrans.unpickle import load_pickle

ROW_CHUNK_BYTES = 4 << 20
"""Target size of one block of rows read and cleaned at a time (fits in cache)."""


def default_ids(split: str, n: int) -> np.ndarray:
    """Sample ids ``"<split>_<i>"`` for formats that carry none; shape (N,), str."""
    return np.array([f"{split}_{i}" for i in range(n)], dtype=str)


def require_file(path: Path) -> Path:
    """``path`` if it is a file, else a :class:`DataFormatError` naming it."""
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    return path


# -- Git LFS pointers ----------------------------------------------------------------------------

LFS_POINTER_START = b"version https://git-lfs.github.com/spec/"
"""How a Git LFS pointer file begins: a few lines of text standing in for the real file in a
repository cloned without ``git lfs``."""

_LFS_POINTER_MAX_BYTES = 1024  # the spec caps pointer files well below this


def lfs_pointer(path: str | Path) -> dict[str, Any] | None:
    """The ``oid`` and ``size`` of a Git LFS pointer file, or None when ``path`` is not one.

    Reads at most 1 KiB, and only from files that small.
    """
    try:
        path = Path(path)
        if path.stat().st_size > _LFS_POINTER_MAX_BYTES:
            return None
        head = path.read_bytes()
    except OSError:
        return None
    if not head.startswith(LFS_POINTER_START):
        return None
    info: dict[str, Any] = {"oid": "", "size": None}
    for line in head.decode("utf-8", "replace").splitlines()[1:]:
        key, _, value = line.partition(" ")
        if key == "oid":
            info["oid"] = value.strip()
        elif key == "size" and value.strip().isdigit():
            info["size"] = int(value.strip())
    return info


def lfs_pointer_message(path: str | Path) -> str | None:
    """One line saying that ``path`` is a Git LFS pointer and how to get the real file, or
    None when it is not one."""
    info = lfs_pointer(path)
    if info is None:
        return None
    oid = info["oid"]
    shown = oid[: oid.index(":") + 13] + "..." if ":" in oid and len(oid) > 20 else oid
    size = f", {_human_bytes(info['size'])}" if info["size"] is not None else ""
    return (
        f"{path} is a Git LFS pointer (oid {shown or '?'}{size}), not the data: fetch the "
        "real file with `git lfs pull` in its repository"
    )


def refuse_lfs_pointer(path: str | Path) -> None:
    """Raise :class:`DataFormatError` when ``path`` is a Git LFS pointer file."""
    message = lfs_pointer_message(path)
    if message is not None:
        raise DataFormatError(message)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns first


# -- HDF5 ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[Any]:
    """Open an HDF5 file for reading; unreadable, truncated or non-HDF5 files raise
    :class:`DataFormatError`."""
    import h5py

    require_file(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        refuse_lfs_pointer(path)
        raise DataFormatError(
            f"{path}: not a readable HDF5 file (truncated or wrong format: {_first_line(exc)})"
        ) from None
    try:
        yield handle
    finally:
        handle.close()


def h5_dataset(handle: Any, key: str, path: Path) -> Any:
    """The dataset ``key`` of an open file, or a :class:`DataFormatError` listing what is there."""
    import h5py

    obj = handle.get(key)
    if not isinstance(obj, h5py.Dataset):
        present = ", ".join(sorted(handle.keys())[:8]) or "nothing"
        raise DataFormatError(f"{path}: no dataset {key!r} (has {present})")
    return obj


def h5_first_dataset(handle: Any, keys: Sequence[str], path: Path) -> Any:
    """The first of the datasets ``keys`` present in an open file (the h5 sets of the field
    name their one array ``d1`` or ``data``), or a :class:`DataFormatError` listing what is
    there."""
    import h5py

    for key in keys:
        obj = handle.get(key)
        if isinstance(obj, h5py.Dataset):
            return obj
    present = ", ".join(sorted(handle.keys())[:8]) or "nothing"
    wanted = " or ".join(repr(k) for k in keys)
    raise DataFormatError(f"{path}: no dataset {wanted} (has {present})")


def read_h5_float32(dset: Any, path: Path, ndim: int) -> np.ndarray:
    """Read a whole numeric dataset into one new float32 array (the only copy).

    HDF5 converts other float types while reading, in its own small buffer, so no
    intermediate array of the stored type is created.
    """
    if len(dset.shape) != ndim:
        raise DataFormatError(
            f"{path}: {dset.name.lstrip('/')} has shape {dset.shape}, expected {ndim} dimensions"
        )
    if dset.dtype.kind not in "fiu":
        raise DataFormatError(f"{path}: {dset.name.lstrip('/')} holds {dset.dtype}, not numbers")
    out = np.empty(dset.shape, dtype=np.float32)
    if out.size:
        try:
            dset.read_direct(out)
        except (OSError, ValueError, TypeError) as exc:
            raise DataFormatError(
                f"{path}: cannot read {dset.name.lstrip('/')} (truncated file? {_first_line(exc)})"
            ) from None
    return out


def as_float32(array: Any, path: Path, what: str, ndim: int) -> np.ndarray:
    """``array`` as a float32 numpy array with ``ndim`` dimensions (copies only if needed)."""
    try:
        out = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: {what} is not numeric ({_first_line(exc)})") from None
    if out.ndim != ndim:
        raise DataFormatError(f"{path}: {what} has shape {out.shape}, expected {ndim} dimensions")
    if not out.flags.writeable or not out.flags.c_contiguous:
        out = np.array(out, dtype=np.float32, order="C")
    return out


# -- cleaning and measuring ----------------------------------------------------------------------


def first_valid_step(block: np.ndarray) -> np.ndarray:
    """Index of the first step with a non-zero feature, per row; T for an all-zero row.

    Walks the steps from the left and only looks further into rows still all zero, so a
    batch of mostly full sequences costs a small fraction of one pass over the data.

    Parameters
    ----------
    block : array of shape (n, T, D)

    Returns
    -------
    array of shape (n,), int64
    """
    n, t = block.shape[:2]
    first = np.full(n, t, dtype=np.int64)
    if n == 0 or t == 0:
        return first
    hit = block[:, 0].any(axis=1)  # (n,)
    first[hit] = 0
    rows = np.flatnonzero(~hit)
    for step in range(1, t):
        if rows.size == 0:
            break
        hit = block[rows, step].any(axis=1)  # (k,)
        first[rows[hit]] = step
        rows = rows[~hit]
    return first


def first_valid_step_before(block: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``min(bound, first_valid_step(block))`` per row, looking only at steps before
    ``bound``.

    This is how one modality joins the union of valid steps already found in others: when
    the modalities share their padding (the usual case), the steps before ``bound`` are all
    zero and one check of them settles the whole block.

    Parameters
    ----------
    block : array of shape (n, T, D)
    bound : int64 array of shape (n,), values in 0..T

    Returns
    -------
    int64 array of shape (n,)
    """
    t = block.shape[1]
    leading = np.arange(t)[None, :] < bound[:, None]  # (n, T)
    if not leading.any():
        return bound
    nonzero = block[leading].any(axis=1)  # (P,) one entry per leading step
    if not nonzero.any():
        return bound
    hits = np.zeros(leading.shape, dtype=bool)  # (n, T)
    hits[leading] = nonzero
    rows = hits.any(axis=1)
    out = bound.copy()
    out[rows] = hits[rows].argmax(axis=1)
    return out


def rows_per_block(shape: Sequence[int]) -> int:
    """Rows of an (N, T, D) float32 array that make one block of about ``ROW_CHUNK_BYTES``."""
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * 4)
    return max(1, ROW_CHUNK_BYTES // row_bytes)


def clean_and_measure(features: np.ndarray) -> tuple[np.ndarray, int]:
    """Clean ``features`` in place (non-finite -> 0) and find each row's first valid step.

    Parameters
    ----------
    features : float32 array of shape (N, T, D), left zero padded

    Returns
    -------
    first : int64 array of shape (N,), first non-zero step (T for an all-zero row)
    nonfinite : number of values replaced
    """
    n = features.shape[0]
    first = np.empty(n, dtype=np.int64)
    count = 0
    step = rows_per_block(features.shape)
    for start in range(0, n, step):
        block = features[start : start + step]
        count += replace_nonfinite(block)
        first[start : start + step] = first_valid_step(block)
    return first, count


def _contiguous_offset(dset: Any) -> int | None:
    """File offset of a dataset stored as plain little-endian float32 bytes, else None."""
    try:
        if dset.chunks is not None or dset.external or dset.is_virtual:
            return None
        if dset.dtype != np.dtype("<f4"):
            return None
        offset = dset.id.get_offset()
        if offset is None or dset.id.get_storage_size() != dset.size * 4:
            return None
        return int(offset)
    except Exception:  # any doubt: take h5py's general path
        return None


def read_clean_measure(
    dset: Any, path: Path, bound: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read an (N, T, D) HDF5 dataset into one new float32 array, block by block, cleaning
    and measuring each block while it is still in cache.

    Plain contiguous float32 datasets (what h5py writes by default, as in the reference
    files) are read straight from the file into the array; other layouts and types go
    through h5py, which converts in small buffers. Either way the array is the only copy.

    Parameters
    ----------
    dset : the h5py dataset
    path : its file, for messages and the direct read
    bound : optional int64 (N,): first valid steps already found in other modalities of the
        same sequences; the result is then the first valid step of the union

    Returns
    -------
    features : float32 array of shape (N, T, D), non-finite values replaced by 0
    first : int64 array of shape (N,), first non-zero step per row (of the union with
        ``bound`` when given; T for an all-zero row)
    nonfinite : number of non-finite values replaced
    """
    name = dset.name.lstrip("/")
    if len(dset.shape) != 3:
        raise DataFormatError(f"{path}: {name} has shape {dset.shape}, expected (N, T, D)")
    if dset.dtype.kind not in "fiu":
        raise DataFormatError(f"{path}: {name} holds {dset.dtype}, not numbers")
    out = np.empty(dset.shape, dtype=np.float32)
    n = out.shape[0]
    first = np.empty(n, dtype=np.int64)
    count = 0
    blocks = [
        (a, min(n, a + rows_per_block(out.shape))) for a in range(0, n, rows_per_block(out.shape))
    ]
    offset = _contiguous_offset(dset)
    try:
        with contextlib.ExitStack() as stack:
            if offset is not None:
                fd = stack.enter_context(open(path, "rb", buffering=0)).fileno()
                row_bytes = out.nbytes // max(1, n)

                def read(i: int) -> None:
                    block = out[blocks[i][0] : blocks[i][1]]
                    at = offset + blocks[i][0] * row_bytes
                    if os.preadv(fd, [memoryview(block).cast("B")], at) != block.nbytes:
                        raise DataFormatError(f"{path}: {name} ends early (truncated file)")

                # Positioned reads release the GIL and need no shared file position:
                # worker threads copy the next blocks from the page cache while this
                # thread cleans and measures the current one.
                pool = stack.enter_context(ThreadPoolExecutor(_READERS)) if _READERS else None
            else:

                def read(i: int) -> None:
                    sel = np.s_[blocks[i][0] : blocks[i][1]]
                    dset.read_direct(out, sel, sel)

                pool = None
            ahead: collections.deque[Future[None]] = collections.deque()
            submitted = 0
            for i, (start, stop) in enumerate(blocks):
                if pool is None:
                    read(i)
                else:
                    while submitted < len(blocks) and submitted <= i + _READERS:
                        ahead.append(pool.submit(read, submitted))
                        submitted += 1
                    ahead.popleft().result()
                block = out[start:stop]
                count += replace_nonfinite(block)
                if bound is None:
                    first[start:stop] = first_valid_step(block)
                else:
                    first[start:stop] = first_valid_step_before(block, bound[start:stop])
    except (OSError, ValueError, TypeError) as exc:
        raise DataFormatError(
            f"{path}: cannot read {name} (truncated file? {_first_line(exc)})"
        ) from None
    return out, first, count


_READERS = 2 if (os.cpu_count() or 1) > 1 else 0
"""Threads reading ahead: two keep the page-cache copies going while this thread cleans and
measures; none on a single CPU, where they would only add switching."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_pickle(path: Path, encoding: str = "ASCII") -> Any:
    """:func:`emotrans.unpickle.load_pickle`, naming a Git LFS pointer as such."""
    require_file(path)
    refuse_lfs_pointer(path)
    return load_pickle(path, encoding=encoding)

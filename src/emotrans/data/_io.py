"""Private helpers shared by the loaders: HDF5 reads, cleaning and measuring in blocks.

Every problem with a file surfaces as a one-line :class:`DataFormatError` naming the file.
"""

from __future__ import annotations

import collections
import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.dataset import replace_nonfinite
from emotrans.errors import DataFormatError
from emotrans.limits import (
    MAX_ARRAY_BYTES_ENV,
    MAX_INFLATION_ENV,
    SMALL_ARRAY_BYTES,
    max_array_bytes,
    max_inflation,
)
from emotrans.limits import human_bytes as _human_bytes
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


# -- HDF5 ---------------------------------------------------------------------------------------


H5_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    RuntimeError,
    KeyError,
    ValueError,
    TypeError,
)
"""What h5py raises on a damaged file (a broken object header is a KeyError or RuntimeError,
a bad chunk an OSError, ...); the readers turn each into a :class:`DataFormatError`."""


@contextlib.contextmanager
def h5_errors(path: Path | str, doing: str) -> Iterator[None]:
    """Turn an h5py/HDF5 error raised inside the block into a one-line
    :class:`DataFormatError`: ``"<path>: <doing> (corrupt or truncated file? <HDF5's words>)"``."""
    try:
        yield
    except H5_ERRORS as exc:
        # h5py's KeyError carries HDF5's words as its argument (str() would quote them)
        words = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise DataFormatError(
            f"{path}: {doing} (corrupt or truncated file? {_first_line(words)})"
        ) from None


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[Any]:
    """Open an HDF5 file for reading; unreadable, truncated or non-HDF5 files raise
    :class:`DataFormatError`."""
    import h5py

    require_file(path)
    try:
        handle = h5py.File(path, "r")
    except H5_ERRORS as exc:
        refuse_lfs_pointer(path)
        raise DataFormatError(
            f"{path}: not a readable HDF5 file (truncated or wrong format: {_first_line(exc)})"
        ) from None
    try:
        yield handle
    finally:
        with contextlib.suppress(*H5_ERRORS):
            handle.close()


def _h5_get(handle: Any, key: str, path: Path) -> Any:
    """``handle[key]``, None when there is no such name, a :class:`DataFormatError` when the
    name is there but its object cannot be opened (an overwritten object header)."""
    with h5_errors(path, "cannot list the objects of the file"):
        present = key in handle
    if not present:
        return None
    with h5_errors(path, f"cannot open {key}"):
        return handle[key]


def _h5_names(handle: Any, path: Path) -> str:
    with h5_errors(path, "cannot list the objects of the file"):
        return ", ".join(sorted(handle.keys())[:8]) or "nothing"


def h5_dataset(handle: Any, key: str, path: Path) -> Any:
    """The dataset ``key`` of an open file, or a :class:`DataFormatError` listing what is there."""
    import h5py

    obj = _h5_get(handle, key, path)
    if not isinstance(obj, h5py.Dataset):
        raise DataFormatError(f"{path}: no dataset {key!r} (has {_h5_names(handle, path)})")
    return obj


def h5_first_dataset(handle: Any, keys: Sequence[str], path: Path) -> Any:
    """The first of the datasets ``keys`` present in an open file (the h5 sets of the field
    name their one array ``d1`` or ``data``), or a :class:`DataFormatError` listing what is
    there."""
    import h5py

    for key in keys:
        obj = _h5_get(handle, key, path)
        if isinstance(obj, h5py.Dataset):
            return obj
    wanted = " or ".join(repr(k) for k in keys)
    raise DataFormatError(f"{path}: no dataset {wanted} (has {_h5_names(handle, path)})")


def read_h5_float32(dset: Any, path: Path, ndim: int) -> np.ndarray:
    """Read a whole numeric dataset into one new float32 array (the only copy), after
    :func:`check_h5_array`.

    HDF5 converts other float types while reading, in its own small buffer, so no
    intermediate array of the stored type is created.
    """
    name = dset.name.lstrip("/")
    with h5_errors(path, f"cannot read the shape of {name}"):
        shape = dset.shape
    if shape is None or len(shape) != ndim:
        raise DataFormatError(f"{path}: {name} has shape {shape}, expected {ndim} dimensions")
    check_h5_array(dset, path, name)
    out = np.empty(shape, dtype=np.float32)
    read_h5_array(dset, out, path, name)
    return out


# -- HDF5: declared sizes and bounded reads -------------------------------------------------------

# The bounds (:mod:`emotrans.limits`, shared with the .npz reader) are imported above.

DEFLATE_MAX_RATIO = 1032
"""The most bytes one deflate stream inflates to, per stored byte (zlib's technical notes)."""


def _dataset_id(dset: Any) -> Any:
    """The low-level ``h5py.h5d.DatasetID`` of a dataset (or the id itself)."""
    import h5py

    return dset.id if isinstance(dset, h5py.Dataset) else dset


def _describe_dtype(dtype: np.dtype) -> str:
    if dtype.kind == "c":
        return f"complex values ({dtype})"
    if dtype.kind in "SUOT":
        return f"text or objects ({dtype})"
    if dtype.subdtype is not None:
        return f"an array type ({dtype})"
    if dtype.names:
        return f"a compound type ({', '.join(dtype.names[:4])})"
    return str(dtype)


def check_h5_array(
    dset: Any,
    path: Path | str,
    what: str,
    *,
    kinds: str = "fiu",
    out_itemsize: int = 4,
    file_size: int | None = None,
) -> None:
    """Refuse an HDF5 dataset whose type or declared size cannot be trusted, before anything
    is allocated for it. Reads only the dataset's header and chunk index.

    - Its type must be real numbers of the ``kinds`` (``f`` float, ``i``/``u`` integer,
      ``b`` bool): complex, text, object, compound and array types are refused.
    - Its data must be in the file itself: external raw-data files and virtual datasets are
      refused (they would read other files).
    - Its size in memory (elements x ``out_itemsize``) is at most :func:`max_array_bytes`.
    - A contiguous dataset must lie within the file; a chunked (compressed) one, and each of
      its chunks, may declare at most :func:`max_inflation` times the bytes the file stores
      for it plus :data:`SMALL_ARRAY_BYTES`. So a shape declared without data, or a chunk
      that claims to inflate far beyond its stored bytes, is refused with its numbers.

    Parameters
    ----------
    dset : an ``h5py.Dataset`` or its low-level ``DatasetID``
    path : its file, for messages and its size
    what : the dataset as the message names it, e.g. ``"d1"``
    kinds : the dtype kinds accepted
    out_itemsize : bytes per element of the array the caller will allocate
    file_size : the size of ``path`` when the caller knows it (else it is looked up)

    Raises
    ------
    DataFormatError
        One line naming ``path``, ``what`` and the problem.
    """
    from h5py import h5d

    dsid = _dataset_id(dset)
    with h5_errors(path, f"cannot read the header of {what}"):
        dtype = dsid.dtype
        shape = dsid.shape
        dcpl = dsid.get_create_plist()
        layout = dcpl.get_layout()
        external = dcpl.get_external_count() if layout == h5d.CONTIGUOUS else 0
    if dtype.subdtype is not None or dtype.names or dtype.kind not in kinds:
        raise DataFormatError(f"{path}: {what} holds {_describe_dtype(dtype)}, not real numbers")
    if shape is None:
        raise DataFormatError(f"{path}: {what} has no shape (an empty HDF5 dataspace)")
    count = 1
    for size in shape:
        count *= int(size)
    declared = count * dtype.itemsize
    if external or layout == getattr(h5d, "VIRTUAL", -1):
        raise DataFormatError(
            f"{path}: {what} keeps its data in other files (HDF5 external or virtual "
            "storage), which emotrans does not read"
        )
    if file_size is None:
        file_size = Path(path).stat().st_size
    with h5_errors(path, f"cannot read the storage of {what}"):
        stored = int(dsid.get_storage_size())
        offset = dsid.get_offset() if layout == h5d.CONTIGUOUS else None
        chunk = tuple(dcpl.get_chunk()) if layout == h5d.CHUNKED else None
    if stored > file_size:
        raise DataFormatError(
            f"{path}: {what} claims {_human_bytes(stored)} of stored data in a file of "
            f"{_human_bytes(file_size)} (corrupt or truncated file)"
        )
    ratio = max_inflation()
    bound = ratio * stored + SMALL_ARRAY_BYTES
    if layout == h5d.CONTIGUOUS and offset is not None:
        if count and offset + declared > file_size:
            raise DataFormatError(
                f"{path}: {what} declares shape {tuple(shape)} ({_human_bytes(declared)}) "
                f"from byte {offset:,}, past the end of the file ({_human_bytes(file_size)}; "
                "truncated file?)"
            )
    elif layout != h5d.COMPACT and declared > bound:
        kept = "no data" if stored == 0 else f"only {_human_bytes(stored)}"
        raise DataFormatError(
            f"{path}: {what} declares shape {tuple(shape)} ({_human_bytes(declared)}) but the "
            f"file stores {kept} for it, more than {ratio:g}x (corrupt file or decompression "
            f"bomb; {MAX_INFLATION_ENV} allows more)"
        )
    if chunk is not None:
        chunk_bytes = dtype.itemsize
        for size in chunk:
            chunk_bytes *= int(size)
        if chunk_bytes > bound:
            raise DataFormatError(
                f"{path}: {what} declares chunks of shape {chunk} ({_human_bytes(chunk_bytes)}) "
                f"but the file stores {_human_bytes(stored)} for the whole array, more than "
                f"{ratio:g}x (corrupt file or decompression bomb; {MAX_INFLATION_ENV} allows "
                "more)"
            )
    in_memory = count * max(out_itemsize, 1)
    limit = max_array_bytes()
    if in_memory > limit:
        raise DataFormatError(
            f"{path}: {what} declares shape {tuple(shape)}, {_human_bytes(in_memory)} in "
            f"memory, above the limit of {_human_bytes(limit)} for one array "
            f"({MAX_ARRAY_BYTES_ENV} raises it)"
        )


def read_h5_array(
    dset: Any,
    out: np.ndarray,
    path: Path | str,
    what: str,
    fd: int | None = None,
    base: int | None = None,
) -> None:
    """Fill ``out`` (the dataset's shape, C order, any numeric dtype) with the whole dataset,
    checked first with :func:`check_h5_array` by the caller.

    Chunks compressed with gzip (optionally after shuffle: what h5py, the CMU-MultimodalSDK
    and most tools write) are read here: their addresses from the chunk index, their bytes
    with ``os.pread`` (on ``fd``, or a descriptor opened here), each inflated into at most
    one chunk's bytes (ISA-L when the ``isal`` package is installed, else zlib): a chunk
    that inflates to more, or less, is a :class:`DataFormatError`, and memory stays at one
    chunk whatever the stored bytes say. (HDF5's own gzip filter grows its buffer until the
    stream ends: a 1 MB chunk may take 1 GB.) Other layouts are read by HDF5, which also
    converts types; other filter pipelines with gzip in them only when no chunk can inflate
    past :data:`SMALL_ARRAY_BYTES`.

    Raises
    ------
    DataFormatError
        A chunk or the file ends early, a chunk does not inflate to its size, or HDF5
        fails to read (corrupt file).
    """
    from h5py import h5d, h5s, h5z

    if out.size == 0:
        return
    dsid = _dataset_id(dset)
    with h5_errors(path, f"cannot read {what}"):
        dcpl = dsid.get_create_plist()
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        chunked = dcpl.get_layout() == h5d.CHUNKED
        if chunked and filters in ([h5z.FILTER_DEFLATE], [h5z.FILTER_SHUFFLE, h5z.FILTER_DEFLATE]):
            with contextlib.ExitStack() as stack:
                if fd is None:
                    fd = os.open(path, os.O_RDONLY)
                    stack.callback(os.close, fd)
                _read_deflate_chunks(dsid, dcpl, filters, out, fd, base, path, what)
            return
        if chunked and h5z.FILTER_DEFLATE in filters:
            largest = max((info.size for info in _chunk_infos(dsid)), default=0)
            if largest * DEFLATE_MAX_RATIO > SMALL_ARRAY_BYTES:
                raise DataFormatError(
                    f"{path}: {what} is compressed with gzip among other HDF5 filters "
                    f"({', '.join(_FILTER_NAMES.get(f, str(f)) for f in filters)}) in chunks of "
                    f"up to {_human_bytes(largest)}, which could inflate to "
                    f"{_human_bytes(largest * DEFLATE_MAX_RATIO)}; repack it with gzip alone "
                    "(h5repack -f GZIP=4)"
                )
        dsid.read(h5s.ALL, h5s.ALL, out)


_FILTER_NAMES = {1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset"}


def _chunk_infos(dsid: Any) -> list[Any]:
    """The chunk index of a chunked dataset: ``chunk_offset`` (elements), ``filter_mask``,
    ``byte_offset`` (relative to the HDF5 base address) and ``size`` (stored bytes) of each
    written chunk."""
    infos: list[Any] = []
    try:
        dsid.chunk_iter(infos.append)
    except (AttributeError, NotImplementedError):  # HDF5 older than 1.12.3
        infos = [dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())]
    return infos


def _inflater() -> Callable[[], Any]:
    try:
        from isal import isal_zlib

        return isal_zlib.decompressobj
    except ImportError:  # pragma: no cover - isal is a dependency where wheels exist
        import zlib

        return zlib.decompressobj


_DECOMPRESSOBJ: Callable[[], Any] | None = None


def inflate_exactly(raw: bytes | memoryview, nbytes: int) -> bytes:
    """The one deflate (zlib) stream ``raw`` inflated, which must be exactly ``nbytes`` long;
    never more than ``nbytes + 1`` bytes are produced. ValueError otherwise."""
    global _DECOMPRESSOBJ
    if _DECOMPRESSOBJ is None:
        _DECOMPRESSOBJ = _inflater()
    stream = _DECOMPRESSOBJ()
    try:
        data = stream.decompress(raw, nbytes)
        tail = stream.unconsumed_tail
        if not stream.eof and tail and stream.decompress(tail, 1):
            raise ValueError(f"a chunk inflates past its {nbytes:,} bytes")
    except ValueError:
        raise
    except Exception as exc:  # zlib.error, isal's IsalError: a broken stream
        raise ValueError(f"a chunk does not inflate ({_first_line(exc)})") from None
    if len(data) != nbytes or not stream.eof:
        raise ValueError(f"a chunk inflates to {len(data):,} bytes, not its {nbytes:,}")
    return data


def _read_deflate_chunks(
    dsid: Any,
    dcpl: Any,
    filters: list[int],
    out: np.ndarray,
    fd: int,
    base: int | None,
    path: Path | str,
    what: str,
) -> None:
    """Fill ``out`` from the raw gzip (or shuffle + gzip) chunks of ``dsid``, one chunk's
    bytes in memory at a time (see :func:`read_h5_array`); ``base`` is the file's HDF5 base
    address (its user block size), found here when None."""
    import h5py

    stored = dsid.dtype
    chunks = tuple(int(c) for c in dcpl.get_chunk())
    shape = tuple(int(s) for s in dsid.shape)
    if base is None:
        base = int(h5py.h5i.get_file_id(dsid).get_create_plist().get_userblock())
    file_size = os.fstat(fd).st_size
    nbytes = int(np.prod(chunks, dtype=np.int64)) * stored.itemsize
    expected = 1
    for size, step in zip(shape, chunks):
        expected *= -(-size // step)
    infos = _chunk_infos(dsid)
    if len(infos) > expected:
        raise DataFormatError(f"{path}: {what} lists {len(infos)} chunks, at most {expected} fit")
    if len(infos) < expected:  # chunks never written read as the fill value
        fill = np.zeros(1, dtype=stored)
        dcpl.get_fill_value(fill)
        out[...] = fill[0]
    for info in infos:
        end = base + info.byte_offset + info.size
        if info.size <= 0 or end > file_size:
            raise DataFormatError(
                f"{path}: {what} has a chunk at bytes {base + info.byte_offset:,}..{end:,}, past "
                f"the end of the file ({file_size:,} bytes; truncated file?)"
            )
        offset = tuple(int(o) for o in info.chunk_offset)
        if len(offset) != len(shape) or any(
            o % c or o >= s for o, c, s in zip(offset, chunks, shape)
        ):
            raise DataFormatError(f"{path}: {what} has a chunk at {offset}, outside its shape")
    shuffle_at = filters.index(2) if len(filters) == 2 else None
    deflate_at = len(filters) - 1
    # The chunks of one dataset usually lie back to back: read them with one call.
    whole = None
    if infos:
        first = min(info.byte_offset for info in infos)
        span = max(info.byte_offset + info.size for info in infos) - first
        if span <= 2 * sum(info.size for info in infos) + 4096:
            whole = memoryview(os.pread(fd, span, base + first))
            if len(whole) != span:
                raise DataFormatError(f"{path}: {what} ends early (truncated file)")
    two_d = len(shape) == 2
    for info in infos:
        if whole is not None:
            start = info.byte_offset - first
            raw: Any = whole[start : start + info.size]
        else:
            raw = os.pread(fd, info.size, base + info.byte_offset)
            if len(raw) != info.size:
                raise DataFormatError(f"{path}: {what} ends early (truncated file)")
        try:
            data = raw if info.filter_mask & (1 << deflate_at) else inflate_exactly(raw, nbytes)
        except ValueError as exc:
            raise DataFormatError(
                f"{path}: {what}: {exc} (corrupt chunk at byte {base + info.byte_offset:,}, or "
                "a decompression bomb)"
            ) from None
        if len(data) != nbytes:
            raise DataFormatError(
                f"{path}: {what} has a chunk of {len(data):,} bytes, not {nbytes:,} (corrupt file)"
            )
        if shuffle_at is not None and not info.filter_mask & (1 << shuffle_at):
            data = _unshuffle(data, stored.itemsize)
        block = np.frombuffer(data, dtype=stored).reshape(chunks)
        offset = info.chunk_offset
        if two_d:
            (r, c), (cr, cc) = offset, chunks
            rows, cols = min(cr, shape[0] - r), min(cc, shape[1] - c)
            out[r : r + rows, c : c + cols] = block[:rows, :cols]
        else:
            region = tuple(slice(o, min(o + k, s)) for o, k, s in zip(offset, chunks, shape))
            out[region] = block[tuple(slice(0, x.stop - x.start) for x in region)]


def _unshuffle(data: bytes | memoryview, itemsize: int) -> bytes | memoryview:
    """Undo HDF5's shuffle filter: byte ``k`` of every element was stored together."""
    if itemsize == 1:
        return data
    return np.frombuffer(data, dtype=np.uint8).reshape(itemsize, -1).T.tobytes()


def real_float32(array: Any, path: Path, what: str) -> np.ndarray:
    """``array`` (an array, or nested lists of numbers, from a pickle) as a float32 numpy
    array, copying only if needed.

    Real numbers only: complex values (numpy would drop their imaginary part with a warning),
    text, bytes and other objects are a :class:`DataFormatError`. Values beyond the float32
    range become infinite, for the loaders to count and replace as non-finite.
    """
    if isinstance(array, np.ndarray) and array.dtype.kind not in "fiubO":
        raise DataFormatError(
            f"{path}: {what} holds {_describe_dtype(array.dtype)}, not real numbers"
        )
    try:
        with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            return np.asarray(array, dtype=np.float32)
    except np.exceptions.ComplexWarning:
        raise DataFormatError(f"{path}: {what} holds complex values, not real numbers") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataFormatError(f"{path}: {what} is not numeric ({_first_line(exc)})") from None


def as_float32(array: Any, path: Path, what: str, ndim: int) -> np.ndarray:
    """``array`` as a float32 numpy array with ``ndim`` dimensions (copies only if needed),
    through :func:`real_float32`."""
    out = real_float32(array, path, what)
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

    The dataset's type and declared size are checked first (:func:`check_h5_array`). Plain
    contiguous float32 datasets (what h5py writes by default, as in the reference files) are
    read straight from the file into the array; chunked (compressed) ones whole with
    :func:`read_h5_array`, one chunk's bytes at a time; other layouts and types go through
    h5py, which converts in small buffers. Either way the array is the only copy.

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
    check_h5_array(dset, path, name)
    if len(dset.shape) != 3:
        raise DataFormatError(f"{path}: {name} has shape {dset.shape}, expected (N, T, D)")
    out = np.empty(dset.shape, dtype=np.float32)
    n = out.shape[0]
    first = np.empty(n, dtype=np.int64)
    count = 0
    blocks = [
        (a, min(n, a + rows_per_block(out.shape))) for a in range(0, n, rows_per_block(out.shape))
    ]
    offset = _contiguous_offset(dset)
    chunked = offset is None and dset.chunks is not None
    if chunked:  # whole, with bounded inflation; the blocks are then only cleaned
        read_h5_array(dset, out, path, name)
    try:
        with contextlib.ExitStack() as stack:
            if chunked:

                def read(i: int) -> None:
                    pass

                pool = None
            elif offset is not None:
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
    except H5_ERRORS as exc:
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

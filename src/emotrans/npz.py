"""Reading ``.npz`` archives given by the user, each array checked against its header first.

``numpy.load`` trusts an ``.npz`` archive: a member's ``.npy`` header may declare any shape,
and NumPy allocates it before reading the data, so a header with a shape but no data, or a
small deflated member that inflates to gigabytes (a zip bomb), asks for as much memory as it
likes; a damaged archive raises one of half a dozen exception types. :func:`load_npz` reads the
archive with :mod:`zipfile` and checks, before anything is allocated for a member:

- the archive: a zip file (not a single ``.npy`` array, not empty), every member a ``.npy``
  array with its own name; the bytes every member declares uncompressed at most
  :func:`~emotrans.limits.max_inflation` times the archive's size plus
  :data:`~emotrans.limits.SMALL_ARRAY_BYTES` (members that overlap in the file, a zip bomb,
  are refused so);
- each member: its stored bytes inside the archive, its uncompressed size (``ZipInfo.file_size``)
  at most ``max_inflation`` times its stored bytes plus ``SMALL_ARRAY_BYTES``;
- each ``.npy`` header (versions 1.0 and 2.0, read with ``numpy.lib.format``): no Python
  objects (``allow_pickle`` is never set), real numbers (text too for the names the caller
  lists), declared bytes within the member's uncompressed size and at most
  :func:`~emotrans.limits.max_array_bytes`.

The data is then read into the array in 1 MiB pieces, zipfile inflating at most that much at a
time and checking the member's CRC at its end. Every problem is one line naming the file and
the array: ``"x.npz: 'text' declares shape (1099511627776, 20, 300) (1.3 PB) but its member
holds 96 bytes (truncated or corrupt file)"``.
"""

from __future__ import annotations

import lzma
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import IO

import numpy as np

from emotrans.errors import DataFormatError, EmotransError
from emotrans.limits import (
    MAX_ARRAY_BYTES_ENV,
    MAX_INFLATION_ENV,
    SMALL_ARRAY_BYTES,
    human_bytes,
    max_array_bytes,
    max_inflation,
)

NPY_MAGIC = b"\x93NUMPY"
"""How every ``.npy`` file (and member) begins."""

ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    ValueError,
    TypeError,
    OSError,
    RuntimeError,
    NotImplementedError,
    struct.error,
    SyntaxError,
    tokenize.TokenError,
)
"""What zipfile, its decompressors and NumPy's header parser raise on a damaged archive
(a bad CRC is a BadZipFile, an encrypted member a RuntimeError, an unknown compression method
a NotImplementedError, an unparsable header a ValueError, SyntaxError or TokenError)."""

_PIECE_BYTES = 1 << 20  # bytes of a member's data read (and so inflated) at a time

NUMBERS = "biuf"
"""dtype kinds of real numbers: bool, signed and unsigned integers, floats."""

TEXT = NUMBERS + "US"
"""dtype kinds of the members the caller names as text (ids, names): numbers or strings."""


def load_npz(
    path: str | Path,
    *,
    text: Collection[str] = (),
    error: type[EmotransError] = DataFormatError,
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` archive ``path``, each checked against its header before
    it is allocated (see the module's docstring).

    Parameters
    ----------
    path : the archive
    text : the names of the arrays that may hold strings (kinds :data:`TEXT`); the others must
        hold real numbers (:data:`NUMBERS`)
    error : the :class:`EmotransError` subclass raised

    Returns
    -------
    dict of name -> array, in the archive's order; names are the members' without ``.npy``.
    An archive without members gives an empty dict.

    Raises
    ------
    ``error``, one line naming ``path`` (and the array): missing, empty or not a zip file, a
    member that is not a ``.npy`` array, objects, other types than allowed, declared sizes
    beyond the member, the archive or the bounds, damaged or truncated data.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    size = path.stat().st_size
    if size == 0:
        raise error(f"{path}: an empty file, not an .npz archive of arrays")
    with path.open("rb") as fh:
        if fh.read(len(NPY_MAGIC)) == NPY_MAGIC:
            raise error(
                f"{path}: a single array (an .npy file), not an .npz archive of named arrays "
                "(write it with numpy.savez(path, name=array, ...))"
            )
        fh.seek(0)
        try:
            archive = zipfile.ZipFile(fh)
        except ZIP_ERRORS as exc:
            raise error(f"{path}: not a readable .npz file ({_words(exc)})") from None
        with archive:
            members = _members(archive, path, size, error)
            return {
                key: _read_member(archive, info, key, path, key in text, error)
                for key, info in members
            }


def _members(
    archive: zipfile.ZipFile, path: Path, size: int, error: type[EmotransError]
) -> list[tuple[str, zipfile.ZipInfo]]:
    """(name, member) of each array, after the archive-wide checks."""
    ratio = max_inflation()
    members: list[tuple[str, zipfile.ZipInfo]] = []
    seen: set[str] = set()
    total = 0
    for info in archive.infolist():
        name = info.filename
        if not name.endswith(".npy"):
            raise error(
                f"{path}: holds {name[:80]!r}, not a .npy array (an .npz archive holds only arrays)"
            )
        key = name[: -len(".npy")]
        if key in seen:
            raise error(f"{path}: holds two arrays named {key[:80]!r}")
        seen.add(key)
        stored, declared = int(info.compress_size), int(info.file_size)
        if info.header_offset + stored > size:
            raise error(
                f"{path}: {key!r} claims {human_bytes(stored)} stored from byte "
                f"{info.header_offset:,}, past the end of the file ({human_bytes(size)}; "
                "truncated file?)"
            )
        if declared > ratio * stored + SMALL_ARRAY_BYTES:
            raise error(
                f"{path}: {key!r} declares {human_bytes(declared)} uncompressed but the file "
                f"stores {human_bytes(stored)} for it, more than {ratio:g}x (corrupt file or "
                f"decompression bomb; {MAX_INFLATION_ENV} allows more)"
            )
        total += declared
        members.append((key, info))
    if total > ratio * size + SMALL_ARRAY_BYTES:
        raise error(
            f"{path}: its arrays declare {human_bytes(total)} uncompressed in all, more than "
            f"{ratio:g}x the file's {human_bytes(size)} (members sharing their data: a zip "
            f"bomb; {MAX_INFLATION_ENV} allows more)"
        )
    return members


def _read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    key: str,
    path: Path,
    is_text: bool,
    error: type[EmotransError],
) -> np.ndarray:
    try:
        with archive.open(info) as fp:
            shape, fortran, dtype = _header(fp, key, path, error)
            _check_dtype(dtype, key, path, TEXT if is_text else NUMBERS, error)
            if any(int(n) < 0 for n in shape):
                raise error(f"{path}: {key!r} declares shape {tuple(shape)}, a negative size")
            count = 1
            for n in shape:
                count *= int(n)
            data_bytes = count * dtype.itemsize
            start = fp.tell()
            if start + data_bytes > info.file_size:
                held = info.file_size - start
                raise error(
                    f"{path}: {key!r} declares shape {tuple(shape)} ({human_bytes(data_bytes)}) "
                    f"but its member holds {human_bytes(max(held, 0))} after the header "
                    "(truncated or corrupt file)"
                )
            limit = max_array_bytes()
            if max(data_bytes, count) > limit:
                raise error(
                    f"{path}: {key!r} declares shape {tuple(shape)}, "
                    f"{human_bytes(data_bytes)} in memory, above the limit of "
                    f"{human_bytes(limit)} for one array ({MAX_ARRAY_BYTES_ENV} raises it)"
                )
            flat = np.empty(count, dtype=dtype)  # (count,), within every bound checked above
            _read_into(
                fp, flat.view(np.uint8) if data_bytes else np.empty(0, np.uint8), key, path, error
            )
            _drain(fp)  # the rest of the member, so that zipfile checks its CRC
    except ZIP_ERRORS as exc:
        raise error(
            f"{path}: cannot read {key!r} (member {info.filename[:80]}: {_words(exc)}; corrupt "
            "or truncated file?)"
        ) from None
    if fortran:
        return flat.reshape(shape[::-1]).transpose()
    return flat.reshape(shape)


def _header(
    fp: IO[bytes], key: str, path: Path, error: type[EmotransError]
) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The (shape, fortran order, dtype) of the ``.npy`` header at the start of ``fp``."""
    fmt = np.lib.format
    if fp.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise error(f"{path}: {key!r} is not a .npy array (no NumPy header)")
    version = tuple(fp.read(2))
    if version == (1, 0):
        return fmt.read_array_header_1_0(fp)
    if version == (2, 0):
        return fmt.read_array_header_2_0(fp)
    raise error(f"{path}: {key!r} is a .npy array of format version {version}, not 1.0 or 2.0")


def _check_dtype(
    dtype: np.dtype, key: str, path: Path, kinds: str, error: type[EmotransError]
) -> None:
    if dtype.hasobject:
        raise error(
            f"{path}: {key!r} holds Python objects (a pickle inside the archive), which "
            "emotrans never loads"
        )
    if dtype.kind in kinds and dtype.names is None and dtype.subdtype is None:
        return
    wanted = "numbers or text" if "U" in kinds else "real numbers"
    if dtype.kind == "c":
        raise error(f"{path}: {key!r} holds complex values ({dtype}), not {wanted}")
    what = {"U": "text", "S": "bytes", "V": "records", "M": "dates", "m": "time spans"}
    raise error(
        f"{path}: {key!r} holds {dtype} values ({what.get(dtype.kind, dtype.kind)}), not {wanted}"
    )


def _read_into(
    fp: IO[bytes], out: np.ndarray, key: str, path: Path, error: type[EmotransError]
) -> None:
    """Fill ``out`` (uint8, shape (bytes,)) from ``fp``, a piece at a time."""
    view = memoryview(out)
    done = 0
    while done < len(view):
        piece = fp.read(min(_PIECE_BYTES, len(view) - done))
        if not piece:
            raise error(
                f"{path}: {key!r} ends after {human_bytes(done)} of "
                f"{human_bytes(len(view))} (truncated or corrupt file)"
            )
        view[done : done + len(piece)] = piece
        done += len(piece)


def _drain(fp: IO[bytes]) -> None:
    while fp.read(_PIECE_BYTES):
        pass


def _words(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:160]
    return text or type(exc).__name__

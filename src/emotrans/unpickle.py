"""Loading pickles without executing code: only NumPy arrays and plain containers.

The feature pickles of the field (MulT's ``*_data.pkl``, the IEMOCAP-9 Python-2 pickles, the
reference code's emotion-vector dicts) are loaded with an unpickler that refuses every global
outside a short allowlist, so a hostile pickle raises :class:`DataFormatError` instead of
running code.

A small pickle can still ask for a lot of memory, and each way is bounded:

- an array built without its data (numpy's ``_reconstruct`` with a shape, no state) may not
  declare more bytes than the whole file holds;
- ``codecs.encode`` only turns text into latin-1 bytes (what numpy's pickles use it for);
  other codecs (``hex`` doubles its input, and nests) are refused;
- the memo lets one list be referenced many times, so nested lists expand when converted to
  arrays (a 37 KB pickle of shared lists is 540 MB of float32): after loading, the object
  is measured (every reference counted, each shared object measured once) and refused when
  it exceeds :func:`expansion_bound` of the file, or is nested deeper than
  :data:`MAX_DEPTH` levels (or is a cycle).
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.errors import DataFormatError
from emotrans.limits import SMALL_ARRAY_BYTES, max_array_bytes, max_inflation

MAX_DEPTH = 64
"""The deepest nesting of containers accepted (numpy arrays have at most 64 dimensions;
feature pickles nest 2 to 5 levels)."""


def expansion_bound(file_size: int) -> int:
    """The most bytes a pickle of ``file_size`` bytes may expand to once converted (every
    reference to a shared object counted): the h5 readers' bounds of :mod:`emotrans.limits`,
    ``min(max_array_bytes(), max_inflation() x file_size + 64 MiB)`` (16 GiB and 200x by
    default; real feature pickles are arrays, about 1x their file)."""
    return int(min(max_array_bytes(), max_inflation() * file_size + SMALL_ARRAY_BYTES))


# Classes a feature pickle may reference. Anything else (in particular os.system and friends)
# is refused, so loading a pickle cannot run arbitrary code.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("codecs", "encode"),
    ("collections", "OrderedDict"),
    ("__builtin__", "set"),
    ("builtins", "set"),
    ("__builtin__", "frozenset"),
    ("builtins", "frozenset"),
    ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"),
    ("__builtin__", "object"),
    ("builtins", "object"),
}


class _FeatureUnpickler(pickle.Unpickler):
    """Unpickler limited to numpy arrays and plain containers."""

    def __init__(self, handle: Any, encoding: str, file_size: int) -> None:
        super().__init__(handle, encoding=encoding)
        self.file_size = file_size

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if name == "_reconstruct":
            return self._reconstruct
        if name == "_reconstructor":
            return self._reconstructor
        if name == "encode":
            return _latin1_encode
        if module.startswith("numpy.core."):  # numpy 1.x names, moved to numpy._core in 2.x
            module = "numpy._core." + module[len("numpy.core.") :]
        return super().find_class(module, name)

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        """numpy's ``_reconstruct``, which allocates ``shape`` before the state (the data)
        arrives: numpy's own pickles pass ``(0,)``; a shape needing more bytes than the
        file is refused."""
        from numpy._core.multiarray import _reconstruct

        self._check_shape(shape, dtype)
        return _reconstruct(subtype, shape, dtype)

    def _reconstructor(self, cls: Any, base: Any, state: Any) -> Any:
        """copyreg's ``_reconstructor``: ``base.__new__(cls, state)``, which for an array
        base allocates the shape ``state``; checked like :meth:`_reconstruct`."""
        import copyreg

        if isinstance(base, type) and issubclass(base, np.ndarray):
            self._check_shape(state, np.float64)
        return copyreg._reconstructor(cls, base, state)

    def _check_shape(self, shape: Any, dtype: Any) -> None:
        try:
            dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
            count = 1
            for d in dims:
                count *= max(int(d), 0)
            nbytes = count * np.dtype(dtype).itemsize
        except (TypeError, ValueError, OverflowError):
            return  # numpy refuses it itself, with a ValueError or TypeError
        if nbytes > self.file_size:
            raise pickle.UnpicklingError(
                f"an array of shape {dims} ({nbytes:,} bytes) declared without data, more "
                f"than the whole file ({self.file_size:,} bytes)"
            )


def _latin1_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``codecs.encode`` as numpy's pickles use it: text to latin-1 bytes, nothing else."""
    try:
        latin1 = codecs.lookup(str(encoding)).name == "iso8859-1"
    except LookupError:
        latin1 = False
    if not (latin1 and isinstance(text, str)):
        raise pickle.UnpicklingError(
            f"refusing codecs.encode({type(text).__name__}, {str(encoding)[:40]!r}): only "
            "text to latin-1 is allowed"
        )
    return text.encode("latin-1", errors)


def load_pickle(path: str | Path, encoding: str = "ASCII", max_bytes: int | None = None) -> Any:
    """Load a pickle of numpy arrays and containers without executing arbitrary code.

    Parameters
    ----------
    path : the file
    encoding : ``"latin1"`` reads Python-2 pickles (whose numpy buffers are byte strings)
    max_bytes : the most bytes the loaded object may take, every reference counted (see
        :func:`measure`); default :func:`expansion_bound` of the file's size

    Raises
    ------
    DataFormatError
        Missing, truncated or damaged file, a refused global, an array declared without its
        data, or an object that expands past ``max_bytes`` or nests too deep: one line
        naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        with open(path, "rb") as handle:
            file_size = os.fstat(handle.fileno()).st_size
            loaded = _FeatureUnpickler(handle, encoding=encoding, file_size=file_size).load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        UnicodeDecodeError,
        MemoryError,
        OverflowError,
        RecursionError,
    ) as exc:
        raise DataFormatError(
            f"{path}: not a readable pickle of arrays (truncated or wrong format: "
            f"{_first_line(exc)})"
        ) from None
    limit = expansion_bound(file_size) if max_bytes is None else max_bytes
    measure(loaded, limit, path, file_size)
    return loaded


def measure(obj: Any, limit: int, path: str | Path, file_size: int | None = None) -> int:
    """The bytes ``obj`` takes once converted to arrays, counting every reference (a list
    referenced n times counts n times, measured once): 8 per number, 4 per character, 1 per
    byte, an array its bytes or 4 per element (float32), whichever is more.

    Raises
    ------
    DataFormatError
        The count passes ``limit`` (it stops there), or containers nest deeper than
        :data:`MAX_DEPTH` (or form a cycle).
    """
    sizes: dict[int, int] = {}
    leaves = (bool, int, float, complex, np.generic, type(None))

    def refuse() -> DataFormatError:
        of_file = f", from a file of {file_size:,} bytes" if file_size is not None else ""
        return DataFormatError(
            f"{path}: the pickle expands to more than {limit:,} bytes once its shared "
            f"objects are counted{of_file} (a hostile or corrupt pickle?)"
        )

    def size(item: Any, depth: int) -> int:
        if isinstance(item, leaves):
            return 8
        if isinstance(item, str):
            return 4 * len(item) + 8
        if isinstance(item, (bytes, bytearray)):
            return len(item) + 8
        known = sizes.get(id(item))
        if known is not None:
            return known
        if depth >= MAX_DEPTH:
            raise DataFormatError(
                f"{path}: the pickle nests containers more than {MAX_DEPTH} levels deep "
                "(or holds a cycle): not a pickle of arrays"
            )
        if isinstance(item, np.ndarray) and not item.dtype.hasobject:
            total = max(item.nbytes, 4 * item.size)
        else:
            if isinstance(item, dict):
                parts: Any = (x for kv in item.items() for x in kv)
            elif isinstance(item, np.ndarray):
                parts = item.flat
            elif isinstance(item, (list, tuple, set, frozenset)):
                parts = item
            else:
                parts = getattr(item, "__dict__", {}).values()
            total = 8
            for part in parts:
                total += size(part, depth + 1)
                if total > limit:
                    raise refuse()
        if total > limit:
            raise refuse()
        sizes[id(item)] = total
        return total

    return size(obj, 0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

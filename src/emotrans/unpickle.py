"""Loading pickles without executing code: only NumPy arrays and plain containers.

The feature pickles of the field (MulT's ``*_data.pkl``, the IEMOCAP-9 Python-2 pickles, the
reference code's emotion-vector dicts) are loaded with an unpickler that refuses every global
outside a short allowlist, so a hostile pickle raises :class:`DataFormatError` instead of
running code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from emotrans.errors import DataFormatError

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

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core."):  # numpy 1.x names, moved to numpy._core in 2.x
            module = "numpy._core." + module[len("numpy.core.") :]
        return super().find_class(module, name)


def load_pickle(path: str | Path, encoding: str = "ASCII") -> Any:
    """Load a pickle of numpy arrays and containers without executing arbitrary code.

    ``encoding="latin1"`` reads Python-2 pickles (whose numpy buffers are byte strings).
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        with open(path, "rb") as handle:
            return _FeatureUnpickler(handle, encoding=encoding).load()
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
    ) as exc:
        raise DataFormatError(
            f"{path}: not a readable pickle of arrays (truncated or wrong format: "
            f"{_first_line(exc)})"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

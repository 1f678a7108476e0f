"""``load(path)``: one entry point for every registered dataset format.

The format is detected from the directory contents (or the file), or given explicitly; the
formats and their detection live in :mod:`emotrans.data.formats` (one module each, one
registry), so this module names none of them:

>>> from emotrans.data import FORMATS
>>> list(FORMATS)
['mosei-h5', 'mult', 'mult-noalign', 'iemocap9', 'native', 'y-h5', 'mfn-xy']

CMU-MultimodalSDK ``.csd`` files are not loaded directly: convert them first with
``emotrans data from-csd`` (see docs/design.md, "Alignment of .csd files").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emotrans.data._io import refuse_lfs_pointer
from emotrans.data.dataset import Dataset
from emotrans.data.formats import FORMAT_NAMES, detect, get_format, normalise_name
from emotrans.errors import ConfigError, DataFormatError

FORMATS = FORMAT_NAMES
"""Format names accepted by :func:`load` (besides ``"auto"``), from the registry."""

_CSD_HINT = (
    "a CMU-MultimodalSDK computational sequence cannot be loaded directly; convert the "
    "feature and label .csd files with `emotrans data from-csd` first"
)


def normalise_format(name: str) -> str:
    """``"mosei_h5"`` -> ``"mosei-h5"``; unknown names raise :class:`ConfigError`."""
    key = normalise_name(name)
    return key if key == "auto" else get_format(name).name


def detect_format(path: str | Path) -> str:
    """The format of ``path`` (a directory or a file), from names and contents: the
    registered format whose ``detect`` scores it highest.

    Raises
    ------
    DataFormatError
        Nothing recognisable there, or a ``.csd`` file.
    """
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file or directory")
    if path.is_file() and path.suffix.lower() == ".csd":
        raise DataFormatError(f"{path}: {_CSD_HINT}")
    if path.is_file():
        refuse_lfs_pointer(path)
    found = detect(path)
    if found is not None:
        return found.name
    if path.is_file():
        raise DataFormatError(
            f"{path}: not a recognised dataset file (an emotrans native .h5, a MulT .pkl, "
            "or a directory of the CMU-MOSEI h5 or IEMOCAP-9 layouts)"
        )
    if any(path.glob("*.csd")):
        raise DataFormatError(f"{path}: holds .csd files; {_CSD_HINT}")
    raise DataFormatError(
        f"{path}: no dataset found (looked for ey_train.h5, *_data.pkl, y_train.p, or an "
        "emotrans native .h5)"
    )


def load(name_or_path: str | Path, format: str = "auto", **options: Any) -> Dataset:
    """Load a dataset in any supported format.

    Parameters
    ----------
    name_or_path : a dataset directory, or a file (native ``.h5``, MulT ``.pkl``)
    format : ``"auto"`` (detect) or one of :data:`FORMATS`
    **options : passed to the format's loader, e.g. ``splits=("train",)``,
        ``modalities=("text",)`` (mosei-h5), ``trim_to=20`` (iemocap9)

    Returns
    -------
    The validated :class:`Dataset`.

    Raises
    ------
    DataFormatError
        Missing or malformed files (one line naming the file).
    ConfigError
        Unknown format or an option the format's loader does not take.
    """
    path = Path(name_or_path)
    fmt = normalise_format(format)
    if path.suffix.lower() == ".csd":
        raise DataFormatError(f"{path}: {_CSD_HINT}")
    if fmt == "auto":
        fmt = detect_format(path)
    elif not path.exists():
        raise DataFormatError(f"{path}: no such file or directory")
    elif path.is_file():
        refuse_lfs_pointer(path)
    reader = get_format(fmt)
    unknown = sorted(set(options) - set(reader.options))
    if unknown:
        raise ConfigError(
            f"option(s) {', '.join(unknown)} do not apply to format {fmt} "
            f"(it takes {', '.join(sorted(reader.options)) or 'none'})"
        )
    return reader.load(path, **options)

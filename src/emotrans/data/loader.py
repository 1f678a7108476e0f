"""``load(path)``: one entry point for every supported dataset format.

The format is detected from the directory contents (or the file), or given explicitly:

=============== ============================================================================
format          what it reads
=============== ============================================================================
``mosei-h5``    CMU-MOSEI emotion, reference layout ``{text_*_emb,audio_*,video_*,ey_*}.h5``
``mult``        MulT pickle ``*_data.pkl`` (IEMOCAP, CMU-MOSEI sentiment), aligned
``mult-noalign`` MulT pickle ``*_data_noalign.pkl``, unaligned
``iemocap9``    IEMOCAP 9-emotion Python-2 pickles ``{text,covarep,facet,y}_*.p``
``native``      one emotrans ``.h5`` file (see :mod:`emotrans.data.native`)
=============== ============================================================================

CMU-MultimodalSDK ``.csd`` files are not loaded directly: convert them first with
``emotrans data from-csd``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotrans.data.dataset import Dataset
from emotrans.errors import ConfigError, DataFormatError

FORMATS: tuple[str, ...] = ("mosei-h5", "mult", "mult-noalign", "iemocap9", "native")
"""Format names accepted by :func:`load` (besides ``"auto"``)."""

_CSD_HINT = (
    "a CMU-MultimodalSDK computational sequence cannot be loaded directly; convert the "
    "feature and label .csd files with `emotrans data from-csd` first"
)


def normalise_format(name: str) -> str:
    """``"mosei_h5"`` -> ``"mosei-h5"``; unknown names raise :class:`ConfigError`."""
    key = name.strip().lower().replace("_", "-")
    if key == "auto" or key in FORMATS:
        return key
    raise ConfigError(f"unknown data format {name!r} (use auto, {', '.join(FORMATS)})")


def detect_format(path: str | Path) -> str:
    """The format of ``path`` (a directory or a file), from names and contents.

    Raises
    ------
    DataFormatError
        Nothing recognisable there, or a ``.csd`` file.
    """
    from emotrans.data import iemocap9, mosei_h5, mult_pickle, native

    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file or directory")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csd":
            raise DataFormatError(f"{path}: {_CSD_HINT}")
        if suffix == ".pkl":
            return "mult-noalign" if "noalign" in path.stem else "mult"
        if suffix == ".p":
            return "iemocap9"
        if native.is_native(path):
            return "native"
        if mosei_h5.looks_like(path.parent) and path.name.endswith(".h5"):
            return "mosei-h5"
        raise DataFormatError(
            f"{path}: not a recognised dataset file (an emotrans native .h5, a MulT .pkl, "
            "or a directory of the CMU-MOSEI h5 or IEMOCAP-9 layouts)"
        )
    if mosei_h5.looks_like(path):
        return "mosei-h5"
    if iemocap9.looks_like(path):
        return "iemocap9"
    pickles = mult_pickle.candidates(path)
    if pickles:
        return "mult-noalign" if all("noalign" in p.stem for p in pickles) else "mult"
    natives = [p for p in sorted(path.glob("*.h5")) + sorted(path.glob("*.hdf5"))]
    if any(native.is_native(p) for p in natives):
        return "native"
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
    reader, target = _reader(fmt, path)
    accepted = set(list(inspect.signature(reader).parameters)[1:])  # all but the path
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(
            f"option(s) {', '.join(unknown)} do not apply to format {fmt} "
            f"(it takes {', '.join(sorted(accepted)) or 'none'})"
        )
    return reader(target, **options)


def _reader(fmt: str, path: Path) -> tuple[Callable[..., Dataset], Path]:
    """The loading function for ``fmt`` and the path to give it."""
    if fmt == "mosei-h5":
        from emotrans.data.mosei_h5 import load_mosei_h5

        return load_mosei_h5, path if path.is_dir() else path.parent
    if fmt in ("mult", "mult-noalign"):
        from emotrans.data.mult_pickle import candidates, load_mult

        if path.is_dir():
            want_noalign = fmt == "mult-noalign"
            found = [p for p in candidates(path) if ("noalign" in p.stem) == want_noalign]
            if len(found) == 1:
                path = found[0]
        return load_mult, path
    if fmt == "iemocap9":
        from emotrans.data.iemocap9 import load_iemocap9

        return load_iemocap9, path if path.is_dir() else path.parent
    from emotrans.data.native import is_native, load_native

    if path.is_dir():
        found = [p for p in sorted(path.glob("*.h5")) + sorted(path.glob("*.hdf5")) if is_native(p)]
        if not found:
            raise DataFormatError(f"{path}: no emotrans native .h5 file")
        if len(found) > 1:
            raise DataFormatError(
                f"{path}: several native files ({', '.join(p.name for p in found)}); "
                "pass the one you want"
            )
        path = found[0]
    return load_native, path

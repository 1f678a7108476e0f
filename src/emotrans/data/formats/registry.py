"""The one list of dataset formats: everything else (``emotrans.data.load``, the CLI's
``--format`` choices, the generator, the tests) looks formats up here by name.

Adding a format is one module declaring a :class:`Format` plus one line in
:data:`BUILTIN` (or, from outside the package, one call to :func:`register_format`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from emotrans.data.formats import iemocap9, mfn_xy, mosei_h5, mult_pickle, native, y_h5
from emotrans.data.formats.base import Format
from emotrans.errors import ConfigError

BUILTIN: tuple[Format, ...] = (
    mosei_h5.FORMAT,
    mult_pickle.FORMAT,
    mult_pickle.NOALIGN_FORMAT,
    iemocap9.FORMAT,
    native.FORMAT,
    y_h5.FORMAT,
    mfn_xy.FORMAT,
)
"""The formats emotrans ships, in the order of help texts (and of detection ties)."""

_REGISTRY: dict[str, Format] = {f.name: f for f in BUILTIN}


def normalise_name(name: str) -> str:
    """``"Mosei_H5"`` -> ``"mosei-h5"``."""
    return name.strip().lower().replace("_", "-")


def register_format(fmt: Format, *, replace: bool = False) -> Format:
    """Add ``fmt`` to the registry (after the others); returns it.

    Raises
    ------
    ConfigError
        A format of that name is registered already (unless ``replace``).
    """
    name = normalise_name(fmt.name)
    if name != fmt.name or name == "auto":
        raise ConfigError(f"format name {fmt.name!r}: use lower case and hyphens, not 'auto'")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"a data format named {name!r} is registered already")
    _REGISTRY[name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Remove a format added with :func:`register_format` (built-in ones stay)."""
    key = normalise_name(name)
    if any(f.name == key for f in BUILTIN):
        raise ConfigError(f"{key} is a built-in data format; it cannot be removed")
    _REGISTRY.pop(key, None)


def get_format(name: str) -> Format:
    """The format called ``name`` (any case, ``_`` or ``-``).

    Raises
    ------
    ConfigError
        No such format.
    """
    key = normalise_name(name)
    if key not in _REGISTRY:
        raise ConfigError(f"unknown data format {name!r} (use auto, {', '.join(_REGISTRY)})")
    return _REGISTRY[key]


def formats() -> tuple[Format, ...]:
    """Every registered format, in registration order."""
    return tuple(_REGISTRY.values())


def writable_formats() -> tuple[Format, ...]:
    """The registered formats that can write a dataset."""
    return tuple(f for f in _REGISTRY.values() if f.write is not None)


def detect(path: Path) -> Format | None:
    """The registered format whose ``detect`` scores ``path`` highest, or None."""
    best: tuple[int, Format] | None = None
    for fmt in _REGISTRY.values():
        score = int(fmt.detect(path))
        if score > 0 and (best is None or score > best[0]):
            best = (score, fmt)
    return best[1] if best else None


class FormatNames(Sequence[str]):
    """The registered format names, always current (a read-only tuple-like view)."""

    def __getitem__(self, index):  # type: ignore[override]
        return tuple(_REGISTRY)[index]

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_REGISTRY))

    def __contains__(self, name: object) -> bool:
        return name in _REGISTRY

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return repr(tuple(_REGISTRY))


FORMAT_NAMES = FormatNames()
"""Names of the registered formats (``"mosei-h5"``, ``"mult"``, ...), in registration order."""

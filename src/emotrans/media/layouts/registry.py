"""Raw layouts by name; :func:`detect_layout` picks the one a path looks like.

Adding a layout is one module declaring ``LAYOUT = Layout(...)`` and one line in ``_LAYOUTS``
(or :func:`register_layout` from outside the package).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emotrans.errors import ConfigError, DataFormatError
from emotrans.media.layouts import cmu_raw, iemocap, manifest, meld
from emotrans.media.layouts.base import Layout, RawDataset

_LAYOUTS: dict[str, Layout] = {
    layout.name: layout for layout in (manifest.LAYOUT, meld.LAYOUT, iemocap.LAYOUT, cmu_raw.LAYOUT)
}


def layout_names() -> list[str]:
    return list(_LAYOUTS)


def register_layout(layout: Layout) -> None:
    if layout.name in _LAYOUTS:
        raise ConfigError(f"layout {layout.name!r} is already registered")
    _LAYOUTS[layout.name] = layout


def unregister_layout(name: str) -> None:
    _LAYOUTS.pop(name, None)


def get_layout(name: str) -> Layout:
    try:
        return _LAYOUTS[name]
    except KeyError:
        raise ConfigError(f"unknown layout {name!r}: choose one of {', '.join(_LAYOUTS)}") from None


def detect_layout(path: str | Path) -> Layout:
    """The layout scoring highest on ``path`` (ties: the one registered first)."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file or folder")
    best, score = None, 0
    for layout in _LAYOUTS.values():
        s = layout.detect(path)
        if s > score:
            best, score = layout, s
    if best is None:
        raise DataFormatError(
            f"{path}: not a known raw layout ({', '.join(_LAYOUTS)}); give a CSV manifest "
            "or name the layout with --layout"
        )
    return best


def read_layout(path: str | Path, layout: str | None = None, **options: Any) -> RawDataset:
    """Read ``path`` with the named layout (detected when None); ``options`` go to its reader."""
    chosen = get_layout(layout) if layout else detect_layout(path)
    unknown = sorted(set(options) - set(chosen.options))
    if unknown:
        raise ConfigError(
            f"layout {chosen.name}: unknown option(s) {', '.join(unknown)} "
            f"(it takes {', '.join(chosen.options) or 'none'})"
        )
    return chosen.read(Path(path), **options).validate()

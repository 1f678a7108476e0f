"""Extractors by name. Classes are imported on first use, so listing names loads nothing heavy.

Adding an extractor is one module (a subclass of :class:`~.base.Extractor`) and one line in
``_EXTRACTORS`` (or :func:`register_extractor` from outside the package).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from emotrans.errors import ConfigError, MediaError
from emotrans.media.extractors.base import Extractor

_EXTRACTORS: dict[str, str | type[Extractor]] = {
    "egemaps": "emotrans.media.extractors.opensmile_lld:EGeMAPS",
    "compare": "emotrans.media.extractors.opensmile_lld:ComParE",
    "egemaps+compare": "emotrans.media.extractors.opensmile_lld:EGeMAPSCompare",
    "face": "emotrans.media.extractors.face:FaceExtractor",
    "minilm-words": "emotrans.media.extractors.minilm_words:MiniLMWords",
    "glove-words": "emotrans.media.extractors.glove_words:GloveWords",
}


def extractor_names() -> list[str]:
    return list(_EXTRACTORS)


def register_extractor(name: str, extractor: str | type[Extractor]) -> None:
    """Register ``extractor`` ("module:Class" or the class) under ``name``."""
    if name in _EXTRACTORS:
        raise ConfigError(f"extractor {name!r} is already registered")
    _EXTRACTORS[name] = extractor


def unregister_extractor(name: str) -> None:
    _EXTRACTORS.pop(name, None)


def extractor_class(name: str) -> type[Extractor]:
    """The class registered under ``name``; a one-line :class:`ConfigError` otherwise."""
    try:
        entry = _EXTRACTORS[name]
    except KeyError:
        raise ConfigError(
            f"unknown extractor {name!r}: choose one of {', '.join(_EXTRACTORS) or 'none'}"
        ) from None
    if isinstance(entry, str):
        module, attr = entry.split(":")
        try:
            entry = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise MediaError(
                f"extractor {name!r} needs {exc.name or 'a media library'}: "
                'pip install "emotrans[media]"'
            ) from None
    return entry


def get_extractor(name: str, settings: dict[str, Any] | None = None) -> Extractor:
    """An extractor by name, with ``settings`` (a mapping of its Settings fields) applied."""
    cls = extractor_class(name)
    known = {f.name for f in dataclasses.fields(cls.Settings)}
    unknown = sorted(set(settings or {}) - known)
    if unknown:
        raise ConfigError(
            f"extractor {name}: unknown setting(s) {', '.join(unknown)} "
            f"(it takes {', '.join(sorted(known)) or 'none'})"
        )
    return cls(cls.Settings(**(settings or {})))


def from_description(description: dict[str, Any]) -> Extractor:
    """Rebuild the extractor recorded by :meth:`Extractor.describe`; refuses another version."""
    extractor = get_extractor(description["name"], description.get("settings"))
    if extractor.version != description.get("version"):
        raise ConfigError(
            f"extractor {description['name']}: the data were extracted with version "
            f"{description.get('version')}, this installation has {extractor.version}"
        )
    return extractor

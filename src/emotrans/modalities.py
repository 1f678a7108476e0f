"""The three modalities, their canonical order and their one-letter codes (``"tav"``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from emotrans.errors import ConfigError

MODALITIES: tuple[str, ...] = ("text", "audio", "vision")
"""Modality names, in the canonical order used everywhere (features, hidden sizes, reports)."""

MODALITY_CODES: dict[str, str] = {"t": "text", "a": "audio", "v": "vision"}


def parse_modalities(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Turn ``"tav"``, ``"ta"`` or ``["text", "audio"]`` into canonical modality names.

    Returns the names in canonical order (text, audio, vision), without duplicates.
    """
    if isinstance(spec, str):
        items = list(spec) if all(c in MODALITY_CODES for c in spec) else spec.split(",")
    else:
        items = list(spec)
    names = set()
    for item in items:
        item = item.strip()
        name = MODALITY_CODES.get(item, item)
        if name not in MODALITIES:
            raise ConfigError(
                f"unknown modality {item!r}: use a non-empty combination of t, a, v "
                "(e.g. 'tav', 'ta', 'v')"
            )
        names.add(name)
    if not names:
        raise ConfigError("no modality selected: use a non-empty combination of t, a, v")
    return tuple(m for m in MODALITIES if m in names)


def modality_code(modalities: Iterable[str]) -> str:
    """Short code of a modality set, e.g. ``("text", "vision") -> "tv"``."""
    chosen = set(modalities)
    return "".join(m[0] for m in MODALITIES if m in chosen)

"""The contract every feature extractor implements.

An extractor turns one clip into a sequence of feature rows of one modality, each row with its
time interval in seconds (relative to the clip's start), so rows can be aligned to words with
the .csd semantics (docs/design.md, "Alignment of .csd files") or kept at their own rate.

Everything that determines the output (name, version, settings, dimension, rate) is recorded
in the dataset file (:meth:`Extractor.describe`), so that prediction on a new clip later
extracts identically (:func:`emotrans.media.extractors.registry.from_description`).
"""

from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass(frozen=True)
class Words:
    """The words of a clip and their timing.

    Attributes
    ----------
    tokens : tuple of n str
    intervals : float64 array of shape (n, 2), seconds from the clip's start
    source : ``"dataset"`` (the dataset's own timing files), ``"aligned"`` (forced alignment
        of a given transcript) or ``"automatic"`` (speech recognition; may be wrong)
    """

    tokens: tuple[str, ...]
    intervals: np.ndarray
    source: str = "dataset"


@dataclass
class Clip:
    """One clip to extract from.

    Attributes
    ----------
    path : str, the media file (mp4, mkv, avi, webm, wav, flac, mp3, ...)
    start, end : seconds within the file (None: from the beginning / to the end)
    transcript : the spoken text when known, else None
    words : word timing when known, else None (see :mod:`emotrans.media.timing`)
    """

    path: str
    start: float | None = None
    end: float | None = None
    transcript: str | None = None
    words: Words | None = None


@dataclass(frozen=True)
class Features:
    """The output of one extractor on one clip.

    Attributes
    ----------
    values : float32 array of shape (T, D), finite
    intervals : float64 array of shape (T, 2), seconds from the clip's start
    """

    values: np.ndarray
    intervals: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)  # e.g. {"frames_without_face": 3}


class Extractor(abc.ABC):
    """Base class. Subclasses set the class attributes and implement :meth:`extract`.

    Settings are a frozen dataclass (``Settings``), so ``describe()`` can record them and
    ``from_description`` can rebuild the same extractor.
    """

    name: ClassVar[str]  # registry key, e.g. "egemaps"
    version: ClassVar[str]  # bump when the output of the same settings changes
    modality: ClassVar[str]  # "text", "audio" or "vision"
    Settings: ClassVar[type]  # a frozen dataclass

    def __init__(self, settings: Any | None = None) -> None:
        self.settings = settings if settings is not None else self.Settings()

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """D, the length of every feature row."""

    @property
    @abc.abstractmethod
    def rate(self) -> float | None:
        """Rows per second, or None when rows follow the words (text extractors)."""

    @abc.abstractmethod
    def extract(self, clip: Clip) -> Features:
        """Features of ``clip``; raises :class:`~emotrans.errors.MediaError` naming the file
        when the clip cannot be processed (no stream, undecodable, empty)."""

    def describe(self) -> dict[str, Any]:
        """What reproduces this extractor: name, version, modality, settings, dim, rate."""
        return {
            "name": self.name,
            "version": self.version,
            "modality": self.modality,
            "settings": dataclasses.asdict(self.settings),
            "dim": self.dim,
            "rate": self.rate,
        }

"""Audio: openSMILE low-level descriptors (eGeMAPSv02 25-d, ComParE_2016 65-d) at 100 Hz.

openSMILE (the ``opensmile`` package, which ships its library and configurations) computes the
descriptors from the clip's audio decoded to mono 16 kHz (:func:`emotrans.media.io.load_audio`);
each row covers its analysis window (20 to 60 ms, one row every 10 ms). ``egemaps+compare``
concatenates the two sets row by row (90-d): the default audio extractor.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from emotrans.config import setting
from emotrans.errors import MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features
from emotrans.media.io import MAX_SECONDS, SAMPLE_RATE, load_audio

log = logging.getLogger(__name__)

_SMILES: dict[str, Any] = {}
_LOCK = threading.Lock()
_DIMS = {"eGeMAPSv02": 25, "ComParE_2016": 65}


def _smile(feature_set: str) -> Any:
    """One ``opensmile.Smile`` per feature set and process (building one parses its config)."""
    with _LOCK:
        smile = _SMILES.get(feature_set)
        if smile is None:
            import opensmile

            smile = opensmile.Smile(
                feature_set=getattr(opensmile.FeatureSet, feature_set),
                feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
            )
            _SMILES[feature_set] = smile
        return smile


def lld(audio: np.ndarray, feature_set: str, path: str) -> tuple[np.ndarray, np.ndarray]:
    """Low-level descriptors of mono 16 kHz ``audio``.

    Returns
    -------
    values : float32 (T, D), non-finite values replaced by 0
    intervals : float64 (T, 2), seconds
    """
    try:
        frame = _smile(feature_set).process_signal(audio, SAMPLE_RATE)
    except RuntimeError as exc:  # openSMILE reports its errors as RuntimeError
        raise MediaError(f"{path}: openSMILE failed ({str(exc).splitlines()[0]})") from None
    starts = frame.index.get_level_values("start").total_seconds().to_numpy()
    ends = frame.index.get_level_values("end").total_seconds().to_numpy()
    values = np.nan_to_num(frame.to_numpy(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    keep = np.concatenate([[True], np.diff(starts) > 0])  # ComParE repeats a last partial frame
    return values[keep], np.stack([starts, ends], 1).astype(np.float64)[keep]


@dataclass(frozen=True)
class Settings:
    max_seconds: float = setting(MAX_SECONDS, "refuse clips longer than this (seconds)")


class _OpenSmileLLD(Extractor):
    modality = "audio"
    version = "1"
    Settings: ClassVar[type] = Settings
    feature_sets: ClassVar[tuple[str, ...]]

    @property
    def dim(self) -> int:
        return sum(_DIMS[s] for s in self.feature_sets)

    @property
    def rate(self) -> float:
        return 100.0

    def extract(self, clip: Clip) -> Features:
        audio = load_audio(clip.path, clip.start, clip.end, max_seconds=self.settings.max_seconds)
        parts = [lld(audio, s, clip.path) for s in self.feature_sets]
        n = min(len(v) for v, _ in parts)  # the sets' windows differ: the last rows may too
        if n == 0:
            raise MediaError(f"{clip.path}: audio too short for openSMILE ({audio.size} samples)")
        values = np.concatenate([v[:n] for v, _ in parts], 1)  # (T, D)
        return Features(values, parts[0][1][:n], {"audio_seconds": audio.size / SAMPLE_RATE})


class EGeMAPS(_OpenSmileLLD):
    """eGeMAPSv02 low-level descriptors: 25 per 10 ms (F0, jitter, shimmer, loudness, ...)."""

    name = "egemaps"
    feature_sets = ("eGeMAPSv02",)


class ComParE(_OpenSmileLLD):
    """ComParE_2016 low-level descriptors: 65 per 10 ms (energy, spectral, MFCC, voicing)."""

    name = "compare"
    feature_sets = ("ComParE_2016",)


class EGeMAPSCompare(_OpenSmileLLD):
    """eGeMAPSv02 then ComParE_2016 descriptors, side by side: 90 per 10 ms."""

    name = "egemaps+compare"
    feature_sets = ("eGeMAPSv02", "ComParE_2016")


def feature_names(feature_set: str) -> list[str]:
    """Column names of a feature set, in output order (e.g. ``"F0semitoneFrom27.5Hz_sma3nz"``)."""
    return list(_smile(feature_set).feature_names)

"""Fake media for the extraction pipeline's tests: a "clip" is a small JSON file
(``{"duration": 2.0, "value": 0.7, "audio": true, "face": true}``) and the fake extractors
read it, so the pipeline (cache, pool, failures, alignment, records) is tested without
decoding real media. ``register()`` adds them to the extractor registry, one line each.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrans.errors import MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features, Words
from emotrans.media.extractors.registry import register_extractor, unregister_extractor

CALLS_ENV = "EMOTRANS_FAKE_CALLS"  # a file each fake extraction appends a line to


def _read(clip: Clip) -> dict:
    try:
        spec = json.loads(Path(clip.path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise MediaError(f"{clip.path}: not a media file (cannot decode)") from None
    if not isinstance(spec, dict):
        raise MediaError(f"{clip.path}: not a media file (cannot decode)")
    log = os.environ.get(CALLS_ENV)
    if log:
        with open(log, "a") as f:
            f.write(f"{Path(clip.path).name}\n")
    return spec


def _span(clip: Clip, spec: dict) -> tuple[float, float]:
    start = clip.start or 0.0
    end = clip.end if clip.end is not None else float(spec.get("duration", 2.0))
    return start, end


@dataclass(frozen=True)
class FakeSettings:
    scale: float = 1.0


class FakeAudio(Extractor):
    """Rows at 100 Hz: [value * scale, t]."""

    name = "fake-audio"
    version = "1"
    modality = "audio"
    Settings = FakeSettings

    @property
    def dim(self) -> int:
        return 2

    @property
    def rate(self) -> float:
        return 100.0

    def extract(self, clip: Clip) -> Features:
        spec = _read(clip)
        if not spec.get("audio", True):
            raise MediaError(f"{clip.path}: no audio stream")
        start, end = _span(clip, spec)
        n = int(round((end - start) * 100))
        if n <= 0:
            raise MediaError(f"{clip.path}: empty audio")
        t = np.arange(n) / 100.0
        values = np.stack([np.full(n, spec.get("value", 0.0) * self.settings.scale), t], 1)
        return Features(values.astype(np.float32), np.stack([t, t + 0.01], 1))


class FakeVision(Extractor):
    """Rows at 10 fps: [value, 1 - value, 0.5]; fails without a face."""

    name = "fake-vision"
    version = "1"
    modality = "vision"
    Settings = FakeSettings

    @property
    def dim(self) -> int:
        return 3

    @property
    def rate(self) -> float:
        return 10.0

    def extract(self, clip: Clip) -> Features:
        spec = _read(clip)
        if not spec.get("face", True):
            raise MediaError(f"{clip.path}: no face in any frame")
        start, end = _span(clip, spec)
        n = max(1, int(round((end - start) * 10)))
        t = np.arange(n) / 10.0
        v = spec.get("value", 0.0)
        values = np.tile([v, 1 - v, 0.5], (n, 1))
        return Features(values.astype(np.float32), np.stack([t, t + 0.1], 1), {"frames": n})


class FakeText(Extractor):
    """One row per word: [len(word), index]."""

    name = "fake-text"
    version = "1"
    modality = "text"
    Settings = FakeSettings

    @property
    def dim(self) -> int:
        return 2

    @property
    def rate(self) -> None:
        return None

    def extract(self, clip: Clip) -> Features:
        assert clip.words is not None
        n = len(clip.words.tokens)
        values = np.array([[len(w), i] for i, w in enumerate(clip.words.tokens)], np.float32)
        return Features(values.reshape(n, 2), clip.words.intervals)


def fake_words(clip: Clip) -> Words:
    """Forced alignment stand-in: the transcript's words spread evenly over the clip; without
    a transcript, "recognised" words ``w0 w1 w2`` marked automatic (none when silent)."""
    spec = _read(clip)
    start, end = _span(clip, spec)
    if clip.transcript:
        tokens, source = clip.transcript.lower().split(), "aligned"
    elif spec.get("speech", True):
        tokens, source = ["w0", "w1", "w2"], "automatic"
    else:
        tokens, source = [], "automatic"
    n = len(tokens)
    edges = np.linspace(0.0, end - start, n + 1)
    return Words(tuple(tokens), np.stack([edges[:-1], edges[1:]], 1).reshape(n, 2), source)


TIMING = "fake_media:fake_words"
FAKES = {"fake-audio": FakeAudio, "fake-vision": FakeVision, "fake-text": FakeText}


def register() -> None:
    for name, cls in FAKES.items():
        unregister_extractor(name)
        register_extractor(name, cls)


def write_clip(path: Path, duration: float = 2.0, value: float = 0.0, **spec) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"duration": duration, "value": value, **spec}))
    return path

"""Word timing of a clip: the dataset's own, else forced alignment, else speech recognition.

:func:`word_timing` returns :class:`~emotrans.media.extractors.base.Words` whose ``source``
says where the timing came from:

- ``"dataset"``: the clip already carries its words (``Clip.words``, from the dataset's timing
  files), returned as they are;
- ``"aligned"``: the clip has a transcript; pocketsphinx (which ships an English acoustic
  model and dictionary) aligns it to the audio with wide beams. Words the dictionary lacks, and
  words the aligner did not reach (it can stop early on unusual voices), get times shared out
  between their aligned neighbours in proportion to their length; their number is logged;
- ``"automatic"``: no transcript; pocketsphinx recognises English speech with its shipped
  language model. Its words may be wrong (about a third of them on real read speech): the
  source says so, never hide it.

Times are seconds from the clip's start; pocketsphinx works in 10 ms frames.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

import numpy as np

from emotrans.errors import MediaError
from emotrans.media.extractors.base import Clip, Words
from emotrans.media.io import MAX_SECONDS, SAMPLE_RATE, load_audio

log = logging.getLogger(__name__)

ALIGN_BEAMS = {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80}
"""Forced alignment needs much wider beams than recognition (pocketsphinx's defaults prune the
only allowed path on real speech)."""
_PAD_S = 0.25  # silence added around the audio: the aligner wants to start and end in silence
_FRAME_S = 0.01
_DECODERS: dict[str, Any] = {}
_LOCK = threading.Lock()
_EDGE_PUNCT = re.compile(r"^[^\w']+|[^\w']+$")


def tokenize(transcript: str) -> list[str]:
    """The words of a transcript: split on white space, punctuation stripped from both ends."""
    words = (_EDGE_PUNCT.sub("", w) for w in transcript.split())
    return [w for w in words if w]


def _decoder(kind: str) -> Any:
    if kind not in _DECODERS:
        try:
            from pocketsphinx import Decoder
        except ImportError:
            raise MediaError(
                'word timing needs pocketsphinx: pip install "emotrans[media]"'
            ) from None
        options = ALIGN_BEAMS if kind == "align" else {}
        _DECODERS[kind] = Decoder(loglevel="FATAL", **options)
    return _DECODERS[kind]


def _pcm(audio: np.ndarray) -> bytes:
    pad = np.zeros(int(_PAD_S * SAMPLE_RATE), np.float32)
    x = np.concatenate([pad, audio, pad])
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _segments(decoder: Any) -> list[tuple[str, float, float]]:
    """(word, start, end) of the decoder's result, fillers dropped, times in the clip."""
    out = []
    for seg in decoder.seg():
        word = seg.word
        if word.startswith(("<", "[", "(")) or word in ("++NOISE++", "++BREATH++"):
            continue
        word = re.sub(r"\(\d+\)$", "", word)  # alternative pronunciations: "don't(2)"
        start = seg.start_frame * _FRAME_S - _PAD_S
        end = (seg.end_frame + 1) * _FRAME_S - _PAD_S
        out.append((word, start, end))
    return out


def _decode(decoder: Any, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _spread(lengths: list[int], start: float, end: float) -> list[tuple[float, float]]:
    """Share [start, end] among words in proportion to their lengths (letters + 1)."""
    weights = np.asarray(lengths, np.float64) + 1
    edges = start + (end - start) * np.concatenate([[0], np.cumsum(weights) / weights.sum()])
    return list(zip(edges[:-1], edges[1:]))


def align(audio: np.ndarray, transcript: str, path: str = "<audio>") -> Words:
    """Forced alignment of ``transcript`` to mono 16 kHz ``audio`` (source ``"aligned"``).

    Returns
    -------
    Words with one interval per word of :func:`tokenize` (transcript), inside
    [0, len(audio) / 16000], in order
    """
    tokens = tokenize(transcript)
    duration = audio.size / SAMPLE_RATE
    if not tokens:
        raise MediaError(f"{path}: the transcript has no words to align")
    times: list[tuple[float, float] | None] = [None] * len(tokens)
    with _LOCK:
        decoder = _decoder("align")
        known = [i for i, t in enumerate(tokens) if decoder.lookup_word(t.lower()) is not None]
        if known:
            try:
                decoder.set_align_text(" ".join(tokens[i].lower() for i in known))
                _decode(decoder, _pcm(audio))
                segments = _segments(decoder)
            except RuntimeError as exc:
                log.warning("%s: forced alignment failed (%s)", path, exc)
                segments = []
            # the aligner's words follow the text: match them in order
            j = 0
            for word, start, end in segments:
                while j < len(known) and tokens[known[j]].lower() != word:
                    j += 1
                if j == len(known):
                    break
                times[known[j]] = (max(0.0, start), min(duration, end))
                j += 1
    missing = [i for i, t in enumerate(times) if t is None]
    if missing:
        log.warning(
            "%s: %d of %d words not aligned (not in the dictionary, or not reached); "
            "their times are shared out between aligned neighbours",
            path,
            len(missing),
            len(tokens),
        )
        i = 0
        while i < len(tokens):
            if times[i] is not None:
                i += 1
                continue
            k = i
            while k < len(tokens) and times[k] is None:
                k += 1
            lo = times[i - 1][1] if i > 0 else 0.0
            hi = times[k][0] if k < len(tokens) else duration
            hi = max(hi, lo)
            for n, span in enumerate(_spread([len(t) for t in tokens[i:k]], lo, hi)):
                times[i + n] = span
            i = k
    intervals = np.asarray(times, np.float64).reshape(-1, 2)
    intervals = np.maximum.accumulate(np.clip(intervals, 0.0, duration), axis=0)  # ordered
    return Words(tuple(tokens), intervals, "aligned")


def recognize(audio: np.ndarray, path: str = "<audio>") -> Words:
    """English speech recognition of mono 16 kHz ``audio`` (source ``"automatic"``); may be
    empty when nothing is recognised."""
    with _LOCK:
        decoder = _decoder("asr")
        try:
            _decode(decoder, _pcm(audio))
        except RuntimeError as exc:
            raise MediaError(f"{path}: speech recognition failed ({exc})") from None
        segments = _segments(decoder)
    duration = audio.size / SAMPLE_RATE
    if not segments:
        log.warning("%s: speech recognition found no words", path)
    intervals = np.clip(np.array([[s, e] for _, s, e in segments], np.float64), 0.0, duration)
    return Words(tuple(w for w, _, _ in segments), intervals.reshape(-1, 2), "automatic")


def word_timing(clip: Clip, *, max_seconds: float = MAX_SECONDS) -> Words:
    """The clip's words with their timing: ``clip.words`` when given, else :func:`align` of
    ``clip.transcript``, else :func:`recognize`.

    Raises
    ------
    MediaError : the clip's audio cannot be decoded (see :func:`emotrans.media.io.load_audio`)
    """
    if clip.words is not None:
        return clip.words
    audio = load_audio(clip.path, clip.start, clip.end, max_seconds=max_seconds)
    if clip.transcript and tokenize(clip.transcript):
        return align(audio, clip.transcript, clip.path)
    return recognize(audio, clip.path)

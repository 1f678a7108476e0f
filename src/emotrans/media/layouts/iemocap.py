"""IEMOCAP's full release (``IEMOCAP_full_release``), read as distributed.

Layout (from the release's documentation and the loaders that read it), per session
``Session1`` ... ``Session5``:

- ``dialog/EmoEvaluation/<dialog>.txt``: one line per utterance,
  ``[start - end]<TAB><utterance id><TAB><code><TAB>[V, A, D]`` (seconds within the dialog;
  codes neu, hap, exc, sad, ang, fru, fea, sur, dis, oth, xxx = no agreement), followed by the
  annotators' lines, which are ignored;
- ``dialog/transcriptions/<dialog>.txt``: ``<utterance id> [start-end]: text``;
- ``sentences/ForcedAlignment/<dialog>/<utterance id>.wdseg``: the release's word alignment,
  a header ``SFrm EFrm SegAScr Word``, one row per word in 10 ms frames from the utterance's
  start (end frame inclusive), then a ``Total score`` line; ``<s>``, ``</s>``, ``<sil>`` and
  ``++NOISE++`` rows are not words, and ``WORD(2)`` marks a pronunciation variant;
- ``sentences/wav/<dialog>/<utterance id>.wav``: the utterance's audio;
- ``dialog/avi/DivX/<dialog>.avi``: the dialog's video (both actors), cut with the
  utterance's start and end.

Labels (single-label): ``labels="4class"`` (default) is the usual protocol, neutral, happy
(hap + exc), sad, angry, in the MulT order, other codes left out; ``labels="full"`` keeps the
nine emotions of the IEMOCAP-9 data (anger, excited, fear, sad, surprised, frustrated, happy,
neutral, disgust; oth and xxx left out). Utterances left out are counted in the dataset's
record. Split by session: 1-3 train, 4 valid, 5 test (``sessions`` changes it). Media:
``media="auto"`` takes the dialog video when the release has it, else the utterance wav
(audio only); ``"video"`` or ``"wav"`` force one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.errors import ConfigError, DataFormatError
from emotrans.media.extractors.base import Clip, Words
from emotrans.media.layouts.base import Layout, RawClip, RawDataset, one_hot

FOUR_CLASS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")
FOUR_CLASS_CODES: dict[str, str] = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "happy",
    "sad": "sad",
    "ang": "angry",
}
FULL: tuple[str, ...] = (
    "anger",
    "excited",
    "fear",
    "sad",
    "surprised",
    "frustrated",
    "happy",
    "neutral",
    "disgust",
)
FULL_CODES: dict[str, str] = {
    "ang": "anger",
    "exc": "excited",
    "fea": "fear",
    "sad": "sad",
    "sur": "surprised",
    "fru": "frustrated",
    "hap": "happy",
    "neu": "neutral",
    "dis": "disgust",
}
DEFAULT_SESSIONS: dict[str, tuple[int, ...]] = {"train": (1, 2, 3), "valid": (4,), "test": (5,)}
FRAME = 0.01  # seconds per .wdseg frame

_EVAL = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+\[")
_TRANSCRIPT = re.compile(r"^(\S+)\s+\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s*:\s*(.*)$")
_VARIANT = re.compile(r"\(\d+\)$")


def _sessions(path: Path) -> list[tuple[int, Path]]:
    out = []
    for n in range(1, 6):
        session = path / f"Session{n}"
        if (session / "dialog" / "EmoEvaluation").is_dir():
            out.append((n, session))
    return out


def detect(path: Path) -> int:
    """3 for a folder with ``Session<n>/dialog/EmoEvaluation``."""
    return 3 if path.is_dir() and _sessions(path) else 0


def read_wdseg(path: Path) -> Words | None:
    """The words of one ``.wdseg`` file, seconds from the utterance's start; None when the file
    is missing. Raises :class:`DataFormatError` on a malformed row."""
    if not path.is_file():
        return None
    tokens, intervals = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[0].isdigit():
            continue  # the header and the "Total score" line
        try:
            s, e = int(parts[0]), int(parts[1])
        except ValueError:
            raise DataFormatError(f"{path}: bad row {line.strip()!r}") from None
        word = parts[3]
        if word.startswith("<") or word.startswith("++"):
            continue
        tokens.append(_VARIANT.sub("", word).lower())
        intervals.append((s * FRAME, (e + 1) * FRAME))
    return Words(tuple(tokens), np.array(intervals, np.float64).reshape(-1, 2), "dataset")


def _transcripts(session: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    folder = session / "dialog" / "transcriptions"
    for f in sorted(folder.glob("*.txt")) if folder.is_dir() else []:
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _TRANSCRIPT.match(line.strip())
            if m:
                out[m.group(1)] = m.group(4).strip()
    return out


def read(
    path: Path,
    *,
    labels: str = "4class",
    sessions: dict[str, Any] | None = None,
    media: str = "auto",
) -> RawDataset:
    """Every utterance of the sessions present whose code maps to an emotion of ``labels``."""
    if labels not in ("4class", "full"):
        raise ConfigError(f"iemocap: labels {labels!r} (use 4class or full)")
    if media not in ("auto", "video", "wav"):
        raise ConfigError(f"iemocap: media {media!r} (use auto, video or wav)")
    names, codes = (FOUR_CLASS, FOUR_CLASS_CODES) if labels == "4class" else (FULL, FULL_CODES)
    split_of: dict[int, str] = {}
    for split, numbers in (sessions or DEFAULT_SESSIONS).items():
        for n in [numbers] if isinstance(numbers, int) else numbers:
            split_of[int(n)] = split
    clips: list[RawClip] = []
    left_out: dict[str, int] = {}
    for n, session in _sessions(path):
        if n not in split_of:
            continue
        texts = _transcripts(session)
        for f in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            dialog = f.stem
            video = session / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
            use_video = media == "video" or (media == "auto" and video.is_file())
            for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _EVAL.match(line.strip())
                if not m:
                    continue
                start, end, utt, code = float(m.group(1)), float(m.group(2)), m.group(3), m.group(4)
                if code not in codes:
                    left_out[code] = left_out.get(code, 0) + 1
                    continue
                words = read_wdseg(
                    session / "sentences" / "ForcedAlignment" / dialog / f"{utt}.wdseg"
                )
                if use_video:
                    clip = Clip(str(video), start=start, end=end)
                else:
                    clip = Clip(str(session / "sentences" / "wav" / dialog / f"{utt}.wav"))
                clip.transcript = texts.get(utt)
                clip.words = words if words is not None and words.tokens else None
                label = one_hot(names.index(codes[code]), len(names))
                clips.append(RawClip(id=utt, split=split_of[n], clip=clip, labels=label))
    if not clips:
        raise DataFormatError(f"{path}: no labelled utterance in the sessions present")
    return RawDataset(
        name="iemocap" if labels == "4class" else "iemocap-full",
        emotions=list(names),
        clips=clips,
        single_label=True,
        split={
            "kind": "sessions",
            "sessions": {
                s: sorted(k for k, v in split_of.items() if v == s) for s in set(split_of.values())
            },
        },
        source=str(path),
        meta={"layout": "iemocap", "labels": labels, "media": media, "left_out": left_out},
    )


LAYOUT = Layout(
    name="iemocap",
    description="IEMOCAP_full_release: Session1-5 with EmoEvaluation, transcriptions, "
    "ForcedAlignment, wavs, dialog videos",
    detect=detect,
    read=read,
    options={
        "labels": "4class (neutral, happy+excited, sad, angry) or full (nine emotions)",
        "sessions": 'split -> sessions, default {"train": [1, 2, 3], "valid": [4], "test": [5]}',
        "media": "auto (dialog video when present, else the utterance wav), video or wav",
    },
)

"""MELD's raw release (``MELD.Raw``), read as published.

Layout (from the dataset's README and the loaders that read the release):

- ``train_sent_emo.csv``, ``dev_sent_emo.csv``, ``test_sent_emo.csv`` with the columns
  ``Sr No., Utterance, Speaker, Emotion, Sentiment, Dialogue_ID, Utterance_ID, Season,
  Episode, StartTime, EndTime`` (times within the episode, ``hh:mm:ss,ms``);
- one mp4 per utterance, ``dia{Dialogue_ID}_utt{Utterance_ID}.mp4``, in ``train_splits/``,
  ``dev_splits_complete/`` and ``output_repeated_splits_test/`` (the folders the release's
  ``train.tar.gz``, ``dev.tar.gz`` and ``test.tar.gz`` unpack to), found at the top of the
  folder or one level down.

Each utterance is one clip of its own file (no start/end: the clips are already cut); the
transcript is the ``Utterance`` column (MELD has no word timing, so words come from forced
alignment). Single-label, 7 emotions in MELD's order; the release's split (dev -> valid).
A row whose mp4 is missing is kept and reported as a failed clip by the extraction, never
dropped silently.
"""

from __future__ import annotations

import csv
from pathlib import Path

from emotrans.errors import DataFormatError
from emotrans.media.extractors.base import Clip
from emotrans.media.layouts.base import Layout, RawClip, RawDataset, one_hot

EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")
CSVS: dict[str, str] = {
    "train": "train_sent_emo.csv",
    "valid": "dev_sent_emo.csv",
    "test": "test_sent_emo.csv",
}
CLIP_DIRS: dict[str, str] = {
    "train": "train_splits",
    "valid": "dev_splits_complete",
    "test": "output_repeated_splits_test",
}
COLUMNS = ("Utterance", "Emotion", "Dialogue_ID", "Utterance_ID")


def _find(root: Path, name: str) -> Path | None:
    """``root/name`` or ``root/*/name`` (the first in name order)."""
    if (root / name).exists():
        return root / name
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / name).exists():
            return sub / name
    return None


def detect(path: Path) -> int:
    """3 for a folder holding MELD's train CSV (at the top or one level down)."""
    return 3 if path.is_dir() and _find(path, CSVS["train"]) is not None else 0


def _fix_text(text: str) -> str:
    """Undo the UTF-8-read-as-cp1252 damage some copies of the CSVs carry (``â€™``)."""
    if "â€" in text or "Ã" in text:
        try:
            return text.encode("cp1252").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return text
    return text


def read(path: Path) -> RawDataset:
    """Every utterance of the splits whose CSV is present."""
    clips: list[RawClip] = []
    found = []
    for split, name in CSVS.items():
        csv_path = _find(path, name)
        if csv_path is None:
            continue
        found.append(split)
        clip_dir = _find(path, CLIP_DIRS[split]) or (path / CLIP_DIRS[split])
        try:
            with csv_path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv.DictReader(f)
                missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise DataFormatError(f"{csv_path}: no column {', '.join(missing)}")
                rows = list(reader)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataFormatError(f"{csv_path}: cannot read ({exc})") from None
        for line, row in enumerate(rows, start=2):
            emotion = row["Emotion"].strip().lower()
            if emotion not in EMOTIONS:
                raise DataFormatError(
                    f"{csv_path}:{line}: emotion {row['Emotion']!r} is not one of MELD's "
                    f"{', '.join(EMOTIONS)}"
                )
            try:
                dia, utt = int(row["Dialogue_ID"]), int(row["Utterance_ID"])
            except ValueError:
                raise DataFormatError(
                    f"{csv_path}:{line}: Dialogue_ID/Utterance_ID not integers"
                ) from None
            stem = f"dia{dia}_utt{utt}"
            clip = Clip(
                path=str(clip_dir / f"{stem}.mp4"),
                transcript=_fix_text(row["Utterance"]).strip() or None,
            )
            labels = one_hot(EMOTIONS.index(emotion), len(EMOTIONS))
            # Dialogue ids restart in each split: the split keeps ids unique.
            clips.append(RawClip(id=f"{split}/{stem}", split=split, clip=clip, labels=labels))
    if not found:
        raise DataFormatError(f"{path}: none of {', '.join(CSVS.values())}")
    return RawDataset(
        name="meld",
        emotions=list(EMOTIONS),
        clips=clips,
        single_label=True,
        split={"kind": "release", "files": {s: CSVS[s] for s in found}},
        source=str(path),
        meta={"layout": "meld"},
    )


LAYOUT = Layout(
    name="meld",
    description="MELD.Raw: {train,dev,test}_sent_emo.csv and one mp4 per utterance",
    detect=detect,
    read=read,
)

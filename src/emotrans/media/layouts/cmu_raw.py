"""CMU-MOSI and CMU-MOSEI raw releases: segmented videos and transcripts plus the label .csd.

Layout (from the loaders that read the raw releases; the exact folder names differ between
copies, so files are found by name anywhere under the folder):

- the label computational sequence: ``CMU_MOSEI_Labels.csd`` ("All Labels", 7 columns:
  sentiment, happy, sad, anger, surprise, disgust, fear) or ``CMU_MOSI_Opinion_Labels.csd``
  (1 column, the sentiment in [-3, 3]); ``labels=PATH`` names it, otherwise the one ``.csd``
  whose name contains ``Labels`` is used;
- segmented transcripts under ``Transcript/Segmented``: CMU-MOSEI ``<video>.txt`` with lines
  ``<video>___<segment>___<start>___<end>___<text>``; CMU-MOSI ``<video>.annotprocessed``
  with lines ``<segment>_DELIM_<text>``;
- segmented videos ``<video>_<segment>.mp4`` (CMU-MOSI ``Video/Segmented``, CMU-MOSEI
  ``Videos/Segmented/Combined``), found by name.

A CMU-MOSEI segment takes the label row of its video whose interval matches its start and end
(within 0.05 s); a CMU-MOSI segment ``k`` takes the k-th label row of its video in time order
(the MOSI transcripts carry no times; this pairing is an assumption, checked only on the
fixtures). Segments without a label row are counted and left out. CMU-MOSEI gives the six
emotions in the ``mosei-h5`` order (anger, disgust, fear, happy, sad, surprise; intensities
0..3 kept), or the sentiment with ``task="sentiment"``; CMU-MOSI gives the sentiment. Splits
are the standard folds shipped with emotrans (``emotrans.data.folds``), or ``folds=PATH``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from emotrans.data.csd import open_csd
from emotrans.data.csd_align import EMOTION_COLUMNS
from emotrans.data.dataset import SENTIMENT
from emotrans.data.folds import fold_of, load_folds
from emotrans.data.formats.mosei_h5 import EMOTIONS
from emotrans.errors import ConfigError, DataFormatError
from emotrans.media.extractors.base import Clip
from emotrans.media.layouts.base import Layout, RawClip, RawDataset

MATCH_TOLERANCE = 0.05  # seconds between a transcript segment's times and its label row's
_MOSI_LINE = re.compile(r"^(\d+)_DELIM_(.*)$")


def _transcript_dir(path: Path) -> Path | None:
    for candidate in [path / "Transcript" / "Segmented", *path.glob("*/Transcript/Segmented")]:
        if candidate.is_dir():
            return candidate
    return None


def _label_file(path: Path) -> Path | None:
    found = sorted(p for p in path.rglob("*.csd") if "labels" in p.name.lower())
    return found[0] if found else None


def detect(path: Path) -> int:
    """2 for a folder with ``Transcript/Segmented`` (at the top or one level down)."""
    return 2 if path.is_dir() and _transcript_dir(path) is not None else 0


def _segments(transcripts: Path) -> list[tuple[str, int, float | None, float | None, str]]:
    """(video, segment, start, end, text) of every transcript line, in file and line order."""
    out = []
    for f in sorted(p for p in transcripts.rglob("*") if p.is_file()):
        lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
        if f.suffix == ".annotprocessed":
            for line in lines:
                m = _MOSI_LINE.match(line.strip())
                if m:
                    out.append((f.stem, int(m.group(1)), None, None, m.group(2).strip()))
        elif f.suffix == ".txt":
            for line in lines:
                parts = line.strip().split("___", 4)
                if len(parts) == 5:
                    try:
                        seg, start, end = int(parts[1]), float(parts[2]), float(parts[3])
                    except ValueError:
                        raise DataFormatError(f"{f}: bad line {line.strip()[:80]!r}") from None
                    out.append((parts[0], seg, start, end, parts[4].strip()))
    return out


def read(
    path: Path, *, labels: str | None = None, folds: str | None = None, task: str = "emotion"
) -> RawDataset:
    transcripts = _transcript_dir(path)
    if transcripts is None:
        raise DataFormatError(f"{path}: no Transcript/Segmented folder")
    label_path = Path(labels) if labels else _label_file(path)
    if label_path is None:
        raise DataFormatError(f"{path}: no label .csd (name it with labels=PATH)")
    segments = _segments(transcripts)
    videos = {p.stem: p for p in path.rglob("*.mp4")}
    with open_csd(label_path) as seq:
        dim = seq.dim()
        rows = {v: seq.read(v, dtype=np.float64) for v in {s[0] for s in segments} if v in seq}
    mosei = dim == 7
    if not mosei and dim != 1:
        raise DataFormatError(
            f"{label_path}: {dim} label columns; expected 7 (CMU-MOSEI) or 1 (CMU-MOSI)"
        )
    if task not in ("emotion", "sentiment"):
        raise ConfigError(f"cmu-raw: task {task!r} (use emotion or sentiment)")
    task = task if mosei else "sentiment"
    emotions = list(EMOTIONS) if task == "emotion" else [SENTIMENT]
    columns = list(EMOTION_COLUMNS) if task == "emotion" else [0]
    split_of, _ = fold_of(load_folds(folds or ("mosei" if mosei else "mosi")))

    clips: list[RawClip] = []
    unlabelled = outside = 0
    for video, seg, start, end, text in segments:
        labelled = rows.get(video)
        if video not in split_of:
            outside += 1
            continue
        row = None
        if labelled is not None and len(labelled):
            if mosei:
                gap = np.abs(labelled.intervals - np.array([start, end])).max(axis=1)
                best = int(np.argmin(gap))
                row = best if gap[best] <= MATCH_TOLERANCE else None
            else:
                order = np.argsort(labelled.intervals[:, 0], kind="stable")
                row = int(order[seg - 1]) if 1 <= seg <= len(order) else None
        if row is None:
            unlabelled += 1
            continue
        stem = f"{video}_{seg}"
        media = videos.get(stem, transcripts.parent.parent / "Video" / "Segmented" / f"{stem}.mp4")
        values = labelled.features[row, columns].astype(np.float32)
        clips.append(
            RawClip(
                id=stem,
                split=split_of[video],
                clip=Clip(str(media), transcript=text or None),
                labels=values,
            )
        )
    return RawDataset(
        name=("mosei" if mosei else "mosi") + ("-senti" if mosei and task == "sentiment" else ""),
        emotions=emotions,
        clips=clips,
        single_label=False,
        task=task,
        split={"kind": "folds", "folds": folds or ("mosei" if mosei else "mosi")},
        source=str(path),
        meta={
            "layout": "cmu-raw",
            "labels": str(label_path),
            "segments_without_label": unlabelled,
            "segments_outside_folds": outside,
        },
    )


LAYOUT = Layout(
    name="cmu-raw",
    description="CMU-MOSI / CMU-MOSEI raw: Transcript/Segmented, segmented mp4s, label .csd",
    detect=detect,
    read=read,
    options={
        "labels": "the label .csd (default: the .csd under the folder named *Labels*)",
        "folds": "a folds file or name (default: the shipped standard folds)",
        "task": "emotion (CMU-MOSEI's six emotions) or sentiment",
    },
)

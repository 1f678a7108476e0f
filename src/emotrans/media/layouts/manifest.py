"""A folder of clips described by a CSV manifest: the layout for users' own clips.

Columns (header row required; UTF-8):

- ``path`` (required): the media file, relative to the CSV's folder (or absolute);
- ``id`` (optional): the sample id; default the path without its suffix (plus ``[row]`` when
  the same file appears on several rows);
- ``start``, ``end`` (optional): seconds within the file; empty for the whole file;
- ``transcript`` (optional): what is said; word timing then comes from forced alignment;
- ``split`` (optional): ``train``, ``valid`` (or ``dev``, ``val``) or ``test``; without the
  column, a seeded split stratified by label, 80/10/10, recorded in the dataset;
- labels, either one ``label`` column (single-label; the emotion names are its distinct
  values, sorted) or one numeric column per emotion (every other column; 0/1, or an intensity,
  present when > 0; the names and order are the columns'); or no label column at all, for
  new clips to score (every clip then goes to the ``test`` split unless ``split`` says
  otherwise).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.errors import DataFormatError
from emotrans.media.extractors.base import Clip
from emotrans.media.layouts.base import Layout, RawClip, RawDataset, one_hot, stratified_split

RESERVED = ("path", "id", "start", "end", "transcript", "split")
LABEL = "label"
SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "valid": "valid",
    "val": "valid",
    "dev": "valid",
    "validation": "valid",
    "test": "test",
}


def detect(path: Path) -> int:
    """1 for a ``.csv`` file whose header has a ``path`` column."""
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return 0
    return 1 if "path" in [h.strip().lower() for h in header] else 0


def _float(value: str, where: str, column: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise DataFormatError(f"{where}: {column} {value!r} is not a number") from None


def read(path: Path, *, seed: int = 0) -> RawDataset:
    """Read the manifest at ``path``; see the module docstring for the columns."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFormatError(f"{path}: cannot read the manifest ({exc})") from None
    rows = [{(k or "").strip().lower(): (v or "") for k, v in r.items()} for r in rows]
    if "path" not in header:
        raise DataFormatError(f"{path}: the manifest has no 'path' column")
    single = LABEL in header
    emotion_columns = [h for h in header if h not in RESERVED and h != LABEL]
    if single and emotion_columns:
        raise DataFormatError(
            f"{path}: both a 'label' column and emotion columns "
            f"({', '.join(emotion_columns)}); use one or the other"
        )
    unlabelled = not single and not emotion_columns
    if unlabelled:  # new clips to predict: no labels, all in the test split unless given
        emotions: list[str] = []
        labels = [np.zeros(0, np.float32) for _ in rows]
        keys = [""] * len(rows)
    elif single:
        values = []
        for i, r in enumerate(rows, start=2):
            v = r.get(LABEL, "").strip()
            if not v:
                raise DataFormatError(f"{path}:{i}: empty label")
            values.append(v)
        emotions = sorted(set(values))
        labels = [one_hot(emotions.index(v), len(emotions)) for v in values]
        keys = values
    else:
        emotions = emotion_columns
        labels = []
        for i, r in enumerate(rows, start=2):
            vec = [_float(r.get(e, ""), f"{path}:{i}", e) for e in emotions]
            labels.append(np.array([0.0 if v is None else v for v in vec], np.float32))
        keys = ["+".join(e for e, x in zip(emotions, vec) if x > 0) for vec in labels]

    if "split" in header:
        splits = []
        for i, r in enumerate(rows, start=2):
            s = r.get("split", "").strip().lower()
            if s not in SPLIT_ALIASES:
                raise DataFormatError(
                    f"{path}:{i}: split {s!r} (use train, valid or test)"
                    if s
                    else f"{path}:{i}: empty split (fill every row, or drop the column)"
                )
            splits.append(SPLIT_ALIASES[s])
        split_info: dict[str, Any] = {"kind": "manifest"}
    elif unlabelled:
        splits = ["test"] * len(rows)
        split_info = {"kind": "unlabelled"}
    else:
        splits = stratified_split(keys, seed=seed)
        split_info = {"kind": "stratified", "seed": seed, "fractions": [0.8, 0.1, 0.1]}

    base = path.parent
    paths = [r["path"].strip() for r in rows]
    repeated = {p for p in paths if paths.count(p) > 1}
    clips = []
    for i, (r, split, lab) in enumerate(zip(rows, splits, labels)):
        where = f"{path}:{i + 2}"
        rel = r["path"].strip()
        if not rel:
            raise DataFormatError(f"{where}: empty path")
        media = Path(rel) if Path(rel).is_absolute() else base / rel
        sample_id = r.get("id", "").strip() or str(Path(rel).with_suffix("").as_posix())
        if not r.get("id", "").strip() and rel in repeated:
            sample_id = f"{sample_id}[{i}]"
        start = _float(r.get("start", ""), where, "start")
        end = _float(r.get("end", ""), where, "end")
        if start is not None and end is not None and end <= start:
            raise DataFormatError(f"{where}: end {end} is not after start {start}")
        transcript = r.get("transcript", "").strip() or None
        clip = Clip(path=str(media), start=start, end=end, transcript=transcript)
        clips.append(RawClip(id=sample_id, split=split, clip=clip, labels=lab))
    return RawDataset(
        name=path.stem,
        emotions=emotions,
        clips=clips,
        single_label=single,
        split=split_info,
        source=str(path),
        meta={"layout": "manifest"},
    )


LAYOUT = Layout(
    name="manifest",
    description="a CSV manifest: path, optional start/end/transcript/split, labels",
    detect=detect,
    read=read,
    options={"seed": "seed of the stratified 80/10/10 split when there is no split column"},
)

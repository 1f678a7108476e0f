"""The MulT pickles (Tsai et al., ACL 2019): IEMOCAP and CMU-MOSEI sentiment.

One pickle per dataset, a dict ``{"train"|"valid"|"test": {"text", "audio", "vision",
"labels"[, "id"]}}`` of numpy arrays:

* ``iemocap_data.pkl`` (aligned, T = 20) and ``iemocap_data_noalign.pkl`` (each modality its
  own T): labels (N, 4, 2), one [absent, present] one-hot pair per emotion, in the order
  neutral, happy, sad, angry.
* ``mosei_senti_data.pkl`` (aligned, T = 50) and ``mosei_senti_data_noalign.pkl``: labels
  (N, 1, 1) sentiment in [-3, 3], plus ``id`` (per sample a few strings such as video id,
  start and end). The single emotion is ``"sentiment"``: present when the score is > 0; the
  score is kept as the intensity.

Aligned files share one valid length per sample across modalities; unaligned files get
lengths per modality. Both come from the left zero padding. Pickles are read with a
restricted unpickler that only builds numpy arrays and plain containers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data._io import as_float32, clean_and_measure, default_ids
from emotrans.data.dataset import SPLITS, Dataset, Split
from emotrans.errors import DataFormatError
from emotrans.modalities import MODALITIES
from emotrans.unpickle import load_pickle

log = logging.getLogger(__name__)

IEMOCAP_EMOTIONS: list[str] = ["neutral", "happy", "sad", "angry"]
"""Emotion order of the (N, 4, 2) IEMOCAP labels."""

SENTIMENT: list[str] = ["sentiment"]

FILE_NAMES: tuple[str, ...] = (
    "iemocap_data.pkl",
    "iemocap_data_noalign.pkl",
    "mosei_senti_data.pkl",
    "mosei_senti_data_noalign.pkl",
)
"""The MulT file names this loader is known to read (any ``*_data[_noalign].pkl`` works)."""


def candidates(directory: Path) -> list[Path]:
    """MulT-style pickles in ``directory``, sorted by name."""
    return sorted(
        p for p in directory.glob("*_data*.pkl") if p.stem.endswith(("_data", "_data_noalign"))
    )


def dataset_name(path: Path) -> str:
    """``iemocap_data_noalign.pkl`` -> ``"iemocap"``, ``mosei_senti_data.pkl`` ->
    ``"mosei-senti"``."""
    stem = path.stem
    for suffix in ("_noalign", "_data"):
        stem = stem.removesuffix(suffix)
    return stem.replace("_", "-") or "mult"


def load_mult(path: str | Path, splits: Sequence[str] = SPLITS) -> Dataset:
    """Load a MulT pickle (aligned or unaligned).

    Parameters
    ----------
    path : the ``.pkl`` file, or a directory holding exactly one ``*_data[_noalign].pkl``
    splits : splits to read

    Returns
    -------
    Dataset with features (N, T_m, D_m) float32 and labels (N, K) uint8: K = 4 (neutral,
    happy, sad, angry) for one-hot labels, K = 1 (sentiment, with the score as intensity) for
    (N, 1, 1) labels. ``aligned`` is False for ``*_noalign`` files or differing T.

    Raises
    ------
    DataFormatError
        Missing or unreadable file, missing split or key, or inconsistent shapes.
    """
    path = _resolve(Path(path))
    raw = load_pickle(path)
    if not isinstance(raw, dict):
        raise DataFormatError(f"{path}: expected a dict of splits, found {type(raw).__name__}")
    aligned = "noalign" not in path.stem
    out: dict[str, Split] = {}
    nonfinite: dict[str, int] = {}
    emotions: list[str] | None = None
    reference: dict[str, tuple[int, str]] = {}
    for split in splits:
        if split not in raw:
            raise DataFormatError(
                f"{path}: no {split!r} split (has {', '.join(map(str, raw)) or 'nothing'})"
            )
        part, names, counts, split_aligned = _split(path, split, raw[split], reference, aligned)
        if emotions is not None and names != emotions:
            raise DataFormatError(f"{path} [{split}]: labels of a different kind than the others")
        emotions = names
        aligned &= split_aligned
        out[split] = part
        nonfinite.update({f"{split}/{m}": c for m, c in counts.items()})
        raw[split] = None  # let the pickled arrays go as soon as they are converted
    dataset = Dataset(
        name=dataset_name(path),
        emotions=list(emotions or []),
        splits=out,
        aligned=aligned,
        source=str(path),
        nonfinite=nonfinite,
        meta={"format": "mult-noalign" if "noalign" in path.stem else "mult"},
    )
    return dataset.validate()


def _resolve(path: Path) -> Path:
    if path.is_dir():
        found = candidates(path)
        if not found:
            raise DataFormatError(f"{path}: no MulT pickle (*_data.pkl, *_data_noalign.pkl)")
        if len(found) > 1:
            raise DataFormatError(
                f"{path}: several MulT pickles ({', '.join(p.name for p in found)}); "
                "pass the file you want"
            )
        return found[0]
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    return path


def _split(
    path: Path,
    split: str,
    part: Any,
    reference: dict[str, tuple[int, str]],
    want_aligned: bool,
) -> tuple[Split, list[str], dict[str, int], bool]:
    where = f"{path} [{split}]"
    if not isinstance(part, dict):
        raise DataFormatError(f"{where}: expected a dict of arrays, found {type(part).__name__}")
    if "labels" not in part:
        raise DataFormatError(f"{where}: no 'labels' entry (has {', '.join(map(str, part))})")
    labels, intensities, emotions = _labels(where, part["labels"])
    n = labels.shape[0]
    present = [m for m in MODALITIES if m in part]
    if not present:
        raise DataFormatError(f"{where}: no 'text', 'audio' or 'vision' entry")
    features: dict[str, np.ndarray] = {}
    firsts: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    for m in present:
        x = as_float32(part[m], path, f"[{split}] {m}", ndim=3)  # (N, T_m, D_m)
        if x.shape[0] != n:
            raise DataFormatError(f"{where}: {x.shape[0]} {m} samples but {n} label rows")
        dim, first_split = reference.setdefault(m, (x.shape[2], split))
        if x.shape[2] != dim:
            raise DataFormatError(
                f"{where}: {x.shape[2]} {m} features per step but {dim} in [{first_split}]"
            )
        firsts[m], counts[m] = clean_and_measure(x)
        features[m] = x
    steps = {x.shape[1] for x in features.values()}
    aligned = want_aligned and len(steps) == 1
    if aligned:
        shared = steps.pop() - np.minimum.reduce(list(firsts.values()))  # (N,)
        lengths = {m: shared for m in features}
    else:
        lengths = {m: features[m].shape[1] - firsts[m] for m in features}
    ids = _ids(where, part["id"], n) if "id" in part else default_ids(split, n)
    split_data = Split(
        features=features, lengths=lengths, labels=labels, ids=ids, intensities=intensities
    )
    return split_data, emotions, counts, aligned


def _labels(where: str, raw: Any) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Binary labels (N, K), intensities or None, and emotion names from MulT labels."""
    try:
        y = np.asarray(raw, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataFormatError(f"{where}: labels are not numeric") from None
    if y.ndim == 3 and y.shape[1:] == (len(IEMOCAP_EMOTIONS), 2):
        # [absent, present] per emotion: present when the second entry wins.
        return (y.argmax(axis=2) == 1).astype(np.uint8), None, list(IEMOCAP_EMOTIONS)
    if y.ndim >= 1 and y.shape[1:] in ((1, 1), (1,), ()):
        score = y.reshape(-1, 1)  # (N, 1)
        if not np.isfinite(score).all():
            raise DataFormatError(f"{where}: sentiment labels contain non-finite values")
        return (score > 0).astype(np.uint8), np.ascontiguousarray(score), list(SENTIMENT)
    raise DataFormatError(
        f"{where}: labels have shape {y.shape}, expected (N, 4, 2) one-hot emotions "
        "or (N, 1, 1) sentiment"
    )


def _ids(where: str, raw: Any, n: int) -> np.ndarray:
    """Sample ids from a MulT ``id`` entry: one string, or several joined by ``_``."""
    ids = np.asarray(raw)
    if ids.ndim == 0 or ids.shape[0] != n:
        raise DataFormatError(f"{where}: {ids.shape[0] if ids.ndim else 0} ids but {n} label rows")
    rows = ids.reshape(n, -1)
    return np.array(["_".join(p for p in map(_text, row) if p) for row in rows], dtype=str)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()

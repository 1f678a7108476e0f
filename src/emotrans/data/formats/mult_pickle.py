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
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.data._io import (
    as_float32,
    clean_and_measure,
    default_ids,
    read_pickle,
    real_float32,
)
from emotrans.data.dataset import SPLITS, Dataset, Split, infer_single_label
from emotrans.data.formats.base import Format
from emotrans.errors import DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

IEMOCAP_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry")
"""Emotion order of the (N, 4, 2) IEMOCAP labels."""

SENTIMENT: tuple[str, ...] = ("sentiment",)
"""The single label of the (N, 1, 1) sentiment files."""

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


def detect_aligned(path: Path) -> int:
    """Match score of ``mult``: 4 for an aligned ``.pkl`` file, 2 for a directory with MulT
    pickles not all unaligned (an IEMOCAP-9 or CMU-MOSEI h5 layout there wins)."""
    return _detect(path, noalign=False)


def detect_noalign(path: Path) -> int:
    """Match score of ``mult-noalign``: 4 for a ``*noalign*.pkl`` file, 2 for a directory
    whose MulT pickles are all unaligned."""
    return _detect(path, noalign=True)


def _detect(path: Path, noalign: bool) -> int:
    if path.is_dir():
        found = candidates(path)
        return 2 if found and all("noalign" in p.stem for p in found) == noalign else 0
    return 4 if path.suffix.lower() == ".pkl" and ("noalign" in path.stem) == noalign else 0


def load_aligned(path: str | Path, *, splits: Sequence[str] = SPLITS) -> Dataset:
    """:func:`load_mult` of the file, or of the directory's one aligned pickle."""
    return load_mult(_pick(Path(path), noalign=False), splits)


def load_noalign(path: str | Path, *, splits: Sequence[str] = SPLITS) -> Dataset:
    """:func:`load_mult` of the file, or of the directory's one unaligned pickle."""
    return load_mult(_pick(Path(path), noalign=True), splits)


def _pick(path: Path, noalign: bool) -> Path:
    """The directory's one pickle of the wanted kind, else ``path`` (:func:`load_mult` then
    explains what is wrong)."""
    if path.is_dir():
        found = [p for p in candidates(path) if ("noalign" in p.stem) == noalign]
        if len(found) == 1:
            return found[0]
    return path


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
    raw = read_pickle(path)
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
        task="sentiment" if tuple(emotions or ()) == SENTIMENT else "emotion",
    )
    # IEMOCAP-4 is single-label (one of angry, happy, sad, neutral per utterance); a pickle
    # whose rows say otherwise is loaded as K binary labels, as it is
    dataset.single_label = infer_single_label(dataset.splits, dataset.task)
    if dataset.task == "emotion" and not dataset.single_label:
        log.info("%s: some label rows have no or several emotions: multi-label", path)
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
    y = real_float32(raw, where, "labels")
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
    if n == 0:
        return np.array([], dtype=str)
    rows = ids.reshape(n, -1)
    return np.array(["_".join(p for p in map(_text, row) if p) for row in rows], dtype=str)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def write_aligned(
    dataset: Dataset,
    out: str | Path,
    *,
    id_parts: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> list[Path]:
    """Write ``dataset`` as ``<name>_data.pkl`` into the directory ``out``; see
    :func:`write_mult`."""
    return [write_mult(dataset, Path(out), noalign=False, id_parts=id_parts)]


def write_noalign(
    dataset: Dataset,
    out: str | Path,
    *,
    id_parts: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> list[Path]:
    """Write ``dataset`` as ``<name>_data_noalign.pkl`` into the directory ``out``; see
    :func:`write_mult`."""
    return [write_mult(dataset, Path(out), noalign=True, id_parts=id_parts)]


def write_mult(
    dataset: Dataset,
    out: Path,
    noalign: bool,
    id_parts: Mapping[str, Sequence[Sequence[str]]] | None = None,
) -> Path:
    """Write one MulT pickle (protocol 4), the inverse of :func:`load_mult`.

    Parameters
    ----------
    dataset : IEMOCAP-4 emotions (written as (N, 4, 2) one-hot labels) or sentiment (the
        intensities written as (N, 1, 1) scores), with text, audio and vision features,
        stored as they are (non-finite values included)
    out : the directory; the file is ``<name>_data[_noalign].pkl`` with ``-`` in the
        dataset's name written ``_``
    noalign : write the ``_noalign`` file
    id_parts : per split, the strings of each sample's ``id`` entry (N rows of k strings);
        by default each id is one string, and ids are only written when they are not the
        default ``<split>_<i>``

    Raises
    ------
    DataFormatError
        Other emotions, sentiment without scores, or a modality missing.
    """
    where = dataset.source or dataset.name
    sentiment = tuple(dataset.emotions) == SENTIMENT
    if not sentiment and tuple(dataset.emotions) != IEMOCAP_EMOTIONS:
        raise DataFormatError(
            f"{where}: MulT pickles hold the emotions {', '.join(IEMOCAP_EMOTIONS)} or "
            f"sentiment, not {', '.join(dataset.emotions)}"
        )
    prefix = dataset.name.replace("-", "_")
    path = out / (f"{prefix}_data_noalign.pkl" if noalign else f"{prefix}_data.pkl")
    content = {}
    for split, part in dataset.splits.items():
        missing = [m for m in MODALITIES if m not in part.features]
        if missing:
            raise DataFormatError(f"{where} [{split}]: no {', '.join(missing)} for a MulT pickle")
        entry: dict[str, np.ndarray] = {m: part.features[m] for m in MODALITIES}
        if sentiment:
            if part.intensities is None:
                raise DataFormatError(f"{where} [{split}]: sentiment without scores")
            entry["labels"] = part.intensities.reshape(-1, 1, 1)  # (N, 1, 1) score
        else:
            onehot = np.zeros((part.n, len(IEMOCAP_EMOTIONS), 2), dtype=np.float32)
            onehot[..., 1] = part.labels
            onehot[..., 0] = 1 - part.labels  # (N, 4, 2) [absent, present]
            entry["labels"] = onehot
        if id_parts is not None and split in id_parts:
            entry["id"] = np.array(id_parts[split], dtype=object)  # (N, k)
        elif not np.array_equal(part.ids, default_ids(split, part.n)):
            entry["id"] = np.asarray(part.ids, dtype=object)  # (N,)
        content[split] = entry
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(content, handle, protocol=4)
    return path


FORMAT = Format(
    name="mult",
    description="MulT pickle *_data.pkl (IEMOCAP, CMU-MOSEI sentiment), aligned",
    detect=detect_aligned,
    load=load_aligned,
    write=write_aligned,
    label_order=None,
)

NOALIGN_FORMAT = Format(
    name="mult-noalign",
    description="MulT pickle *_data_noalign.pkl, unaligned",
    detect=detect_noalign,
    load=load_noalign,
    write=write_noalign,
    label_order=None,
)

"""CMU-MultimodalSDK computational sequences -> training tensors, with the SDK's semantics.

The SDK's CMU-MOSEI recipe is: align audio and vision to the words (mean of the overlapping
frames per word), impute the words that got no frame with zeros, align everything to the
labelled segments, drop the segments some sequence has no row for, and cut fixed-length
tensors per fold. :func:`convert_csd` does the same in one streaming pass, video by video,
with the interval arithmetic vectorised (the semantics: docs/design.md, "Alignment of .csd
files"):

1. **Words.** Reference rows shorter than ``eps`` (1e-5 s) are skipped. A row ``[s, e]`` of
   another sequence meets the word ``[rs, re]`` when ``re - s > -eps`` and ``e - rs > -eps``;
   it is clipped to the word and dropped when its clipped length is ``<= eps``. The survivors
   are collapsed (mean by default; -inf propagates) into one row whose interval runs from the
   smallest clipped start to the largest clipped end. A word with no surviving row is imputed:
   zeros over the word's interval. Each modality's word-level rows are then put in start
   order (stable: real rows before imputed ones, then word order), as the SDK's sort does, so
   imputed rows sit at their word's position.
2. **Labels.** Each labelled segment (a row of the label file, in file order, skipped when
   shorter than ``eps``) takes the word-level rows of each sequence that meet it by the same
   test, keeps them unless their clipped length is ``<= eps``, and becomes one sample
   ``<video>[<row>]``. A segment for which some sequence has no row is dropped.
3. **Tensors.** The last ``seq_len`` rows, zeros in front; non-finite values are replaced by
   0 and counted. Samples are ordered by video (the label file's order, which is HDF5 name
   order) then segment row; each goes to the split whose fold lists its video.

Only videos present in every file are used. The two modes differ in one thing, which
videos take part. By default a video missing from some file removes only itself.
``sdk_compat=True`` reproduces the tensors of the current CMU-MultimodalSDK (the code since
2019, whose ``unify`` removes ids by prefix) exactly: removing a missing video removes every
video whose id starts with its id (``vid1`` takes ``vid10`` with it; in CMU-MOSI, ``25522``
takes ``255224`` and ``255226``). tests/test_csd_sdk.py checks both modes against the SDK's
own code on files its writer wrote.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data._io import MAX_ARRAY_BYTES_ENV, max_array_bytes
from emotrans.data.csd import EPS, ComputationalSequence, VideoRows
from emotrans.data.dataset import SENTIMENT, SPLITS, Dataset, Split, replace_nonfinite
from emotrans.data.folds import Folds, fold_of, load_folds
from emotrans.data.formats.mosei_h5 import EMOTIONS
from emotrans.errors import ConfigError, DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

LABEL_COLUMNS: tuple[str, ...] = (
    "sentiment",
    "happy",
    "sad",
    "anger",
    "surprise",
    "disgust",
    "fear",
)
"""Columns of the CMU-MOSEI "All Labels" computational sequence."""

EMOTION_COLUMNS: tuple[int, ...] = tuple(LABEL_COLUMNS.index(e) for e in EMOTIONS)
"""All Labels column of each of :data:`EMOTIONS`: (3, 5, 6, 1, 2, 4)."""

COLLAPSES: tuple[str, ...] = ("mean", "sum", "max", "min")
"""Named collapse functions (vectorised). Any callable ``f(intervals, features) -> (D',)``
works too, called once per word."""

Collapse = str | Callable[[np.ndarray, np.ndarray], np.ndarray]
_REDUCERS = {"mean": np.add, "sum": np.add, "max": np.maximum, "min": np.minimum}
_RELEASE_EVERY = 200
"""Videos between two reopenings of the HDF5 files (see ComputationalSequence.release_caches)."""
_PARALLEL_FROM = 400
"""Videos from which ``workers=0`` starts worker processes (below, starting them costs more)."""


# -- step 1: collapse a sequence onto the reference intervals -----------------------------------


@dataclass
class Collapsed:
    """One sequence collapsed onto reference intervals.

    Attributes
    ----------
    features : float64 array of shape (n_ref, D'), zeros where ``present`` is False
    intervals : float64 array of shape (n_ref, 2): smallest clipped start and largest clipped
        end of the rows collapsed; the reference interval where ``present`` is False
    present : bool array of shape (n_ref,), whether any row survived for the reference row
    """

    features: np.ndarray
    intervals: np.ndarray
    present: np.ndarray


def overlap_pairs(
    reference: np.ndarray, intervals: np.ndarray, eps: float = EPS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (reference row, row) pair that meets with a clipped length above ``eps``.

    Uses the SDK's test exactly: row ``[s, e]`` meets reference ``[rs, re]`` when
    ``re - s > -eps`` and ``e - rs > -eps``; its clipped interval is
    ``[max(s, rs), min(e, re)]`` and it survives when ``|clipped end - clipped start| > eps``.
    Candidates come from binary searches on the rows sorted by start (and on the running
    maximum of their ends), so the cost is O((n_ref + pairs) log n), not O(n_ref * n).

    Parameters
    ----------
    reference : float64 array of shape (n_ref, 2)
    intervals : float64 array of shape (n, 2), in any order

    Returns
    -------
    ref : int64 array of shape (p,), reference row of each pair, ascending
    row : int64 array of shape (p,), row of ``intervals``; within one reference row, rows are
        in start order (ties in file order)
    start, end : float64 arrays of shape (p,), the clipped interval of each pair
    """
    n_ref, n = len(reference), len(intervals)
    if n_ref == 0 or n == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return empty_i, empty_i, empty_f, empty_f
    s, e = intervals[:, 0], intervals[:, 1]
    order = None
    if np.any(s[1:] < s[:-1]):
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
    rs, re = reference[:, 0], reference[:, 1]
    # Candidate window per reference row, a little wider than the exact test.
    margin = 2.0 * eps + 1e-9
    hi = np.searchsorted(s, re + margin, side="right")  # rows >= hi start too late
    lo = np.searchsorted(
        np.maximum.accumulate(e), rs - margin, side="left"
    )  # rows < lo end too early
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    if total == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return empty_i, empty_i, empty_f, empty_f
    ref = np.repeat(np.arange(n_ref, dtype=np.int64), count)  # (p0,)
    first = np.cumsum(count) - count
    pos = np.arange(total, dtype=np.int64) - np.repeat(first - lo, count)  # (p0,) sorted rows
    ps, pe = s[pos], e[pos]
    prs, pre = rs[ref], re[ref]
    start = np.maximum(ps, prs)
    end = np.minimum(pe, pre)
    keep = ((pre - ps) > -eps) & ((pe - prs) > -eps) & (np.abs(start - end) > eps)
    row = pos[keep] if order is None else order[pos[keep]]
    return ref[keep], row, start[keep], end[keep]


def collapse_to_reference(
    reference: np.ndarray,
    intervals: np.ndarray,
    features: np.ndarray,
    eps: float = EPS,
    collapse: Collapse = "mean",
) -> Collapsed:
    """Collapse the rows of one sequence onto each reference interval (SDK ``align`` with a
    collapse function).

    Parameters
    ----------
    reference : float64 array of shape (n_ref, 2), e.g. the words of one video
    intervals : float64 array of shape (n, 2), the other sequence's rows
    features : array of shape (n, D)
    eps : tolerance in seconds
    collapse : ``"mean"`` (default), ``"sum"``, ``"max"``, ``"min"``, or a callable
        ``f(clipped_intervals (k, 2), features (k, D)) -> (D',)`` called per reference row

    Returns
    -------
    :class:`Collapsed` with one row per reference row. A mean over rows holding -inf is
    -inf (and +inf with -inf gives NaN), as in the SDK; callers replace them later.
    """
    n_ref = len(reference)
    ref, row, start, end = overlap_pairs(reference, intervals, eps)
    counts = np.bincount(ref, minlength=n_ref)  # (n_ref,)
    present = counts > 0
    out_iv = np.array(reference, dtype=np.float64, copy=True)
    if not present.any():
        return Collapsed(np.zeros((n_ref, features.shape[1])), out_iv, present)
    offsets = (np.cumsum(counts) - counts)[present]  # (n_present,)
    out_iv[present, 0] = np.minimum.reduceat(start, offsets)
    out_iv[present, 1] = np.maximum.reduceat(end, offsets)
    if callable(collapse):
        out_rows = []
        bounds = np.append(offsets, len(row))
        clipped = np.stack([start, end], axis=1)
        for a, b in zip(bounds[:-1], bounds[1:]):
            value = np.asarray(collapse(clipped[a:b], features[row[a:b]]), dtype=np.float64)
            out_rows.append(value.reshape(-1))
        dim = out_rows[0].shape[0]
        out = np.zeros((n_ref, dim), dtype=np.float64)
        out[present] = np.stack(out_rows)
        return Collapsed(out, out_iv, present)
    if collapse not in _REDUCERS:
        raise ConfigError(f"unknown collapse function {collapse!r} (use {', '.join(COLLAPSES)})")
    gathered = features[row]  # (p, D)
    reduced = _REDUCERS[collapse].reduceat(gathered, offsets, axis=0, dtype=np.float64)
    if collapse == "mean":
        reduced /= counts[present][:, None]
    out = np.zeros((n_ref, features.shape[1]), dtype=np.float64)
    out[present] = reduced
    return Collapsed(out, out_iv, present)


def segment_membership(segments: np.ndarray, intervals: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Which rows each labelled segment takes (SDK ``align`` to labels, no collapse).

    Parameters
    ----------
    segments : float64 array of shape (n_seg, 2)
    intervals : float64 array of shape (m, 2), word-level rows of one sequence

    Returns
    -------
    bool array of shape (n_seg, m): row j meets segment i (``le - s > -eps`` and
    ``e - ls > -eps``) with a clipped length above ``eps``.
    """
    ls, le = segments[:, 0:1], segments[:, 1:2]  # (n_seg, 1)
    s, e = intervals[None, :, 0], intervals[None, :, 1]  # (1, m)
    start = np.maximum(s, ls)
    end = np.minimum(e, le)
    return ((le - s) > -eps) & ((e - ls) > -eps) & (np.abs(start - end) > eps)


# -- one video ----------------------------------------------------------------------------------


@dataclass
class VideoResult:
    """Samples of one video.

    Attributes
    ----------
    video_id : the video
    segments : int64 array of shape (k,), label row index of each sample
    features : modality -> float32 array of shape (k, T, D_m), left zero padded
    lengths : modality -> int64 array of shape (k,), real rows kept (<= T)
    labels : float32 array of shape (k, C), the label rows
    words : reference rows at least ``eps`` long
    imputed : modality -> word rows imputed with zeros
    nonfinite : modality -> feature values replaced by 0 in the samples
    label_nonfinite : label values replaced by 0
    short_segments : label rows shorter than ``eps`` (no sample)
    missing_segments : modality -> segments dropped because that modality had no row
    dropped_segments : segments dropped because some modality had no row
    """

    video_id: str
    segments: np.ndarray
    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    words: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    nonfinite: dict[str, int] = field(default_factory=dict)
    label_nonfinite: int = 0
    short_segments: int = 0
    missing_segments: dict[str, int] = field(default_factory=dict)
    dropped_segments: int = 0


def align_video(
    video_id: str,
    rows: Mapping[str, VideoRows],
    labels: VideoRows,
    *,
    reference: str = "text",
    seq_len: int = 20,
    eps: float = EPS,
    collapse: Collapse = "mean",
) -> VideoResult:
    """Align one video's sequences to its words and then to its labelled segments.

    Parameters
    ----------
    video_id : used in messages only
    rows : modality -> :class:`VideoRows` of that video; ``rows[reference]`` is the reference
    labels : the label rows, intervals (n_seg, 2) and features (n_seg, C)
    reference : the modality whose rows define the steps (the words)
    seq_len : T, steps kept per sample (the last ones)
    eps : tolerance in seconds
    collapse : see :func:`collapse_to_reference`

    Returns
    -------
    :class:`VideoResult` with one sample per kept segment, in label row order.
    """
    ref_rows = rows[reference]
    ref_iv = ref_rows.intervals
    usable = np.flatnonzero(~(np.abs(ref_iv[:, 0] - ref_iv[:, 1]) < eps))  # (n_w,)
    words = ref_iv[usable]  # (n_w, 2)
    n_w = len(usable)

    # Word-level rows of every modality, in the order the label step sees them. The SDK pools
    # a video's word-level entries (real ones in word order, then the imputed ones, which
    # impute() appends) and sorts them by start time with a stable sort; each modality sorts
    # by its own row starts (a collapsed row starts at its first clipped frame).
    word_index = np.arange(n_w)
    level_iv: dict[str, np.ndarray] = {}
    level_ft: dict[str, np.ndarray] = {}
    imputed: dict[str, int] = {}
    for m, seq_rows in rows.items():
        if m == reference:
            iv = words
            ft = ref_rows.features[usable]
            is_imputed = np.zeros(n_w, dtype=bool)
        else:
            got = collapse_to_reference(words, seq_rows.intervals, seq_rows.features, eps, collapse)
            iv, ft = got.intervals, got.features
            is_imputed = ~got.present
            imputed[m] = int(is_imputed.sum())
        order = np.lexsort((word_index, is_imputed, iv[:, 0]))  # start, then real, then word
        level_iv[m] = iv[order]
        level_ft[m] = np.asarray(ft[order], dtype=np.float32)

    seg_iv = labels.intervals
    n_seg = len(seg_iv)
    short = np.abs(seg_iv[:, 0] - seg_iv[:, 1]) < eps  # (n_seg,)
    members = {m: segment_membership(seg_iv, level_iv[m], eps) for m in rows}  # (n_seg, n_w)
    counts = {m: members[m].sum(axis=1) for m in rows}  # (n_seg,)
    has_all = ~short
    missing: dict[str, int] = {}
    for m in rows:
        lacking = ~short & (counts[m] == 0)
        missing[m] = int(lacking.sum())
        has_all &= counts[m] > 0
    kept = np.flatnonzero(has_all)  # (k,)
    k = len(kept)

    features: dict[str, np.ndarray] = {}
    lengths: dict[str, np.ndarray] = {}
    nonfinite: dict[str, int] = {}
    for m in rows:
        out = np.zeros((k, seq_len, level_ft[m].shape[1]), dtype=np.float32)  # (k, T, D)
        lens = np.zeros(k, dtype=np.int64)
        for j, seg in enumerate(kept):
            idx = np.flatnonzero(members[m][seg])[-seq_len:]
            lens[j] = len(idx)
            if len(idx):
                out[j, seq_len - len(idx) :] = level_ft[m][idx]
        nonfinite[m] = replace_nonfinite(out)
        features[m] = out
        lengths[m] = lens
    label_rows = np.asarray(labels.features[kept], dtype=np.float32)  # (k, C)
    label_bad = replace_nonfinite(label_rows)
    return VideoResult(
        video_id=video_id,
        segments=kept.astype(np.int64),
        features=features,
        lengths=lengths,
        labels=label_rows,
        words=n_w,
        imputed=imputed,
        nonfinite=nonfinite,
        label_nonfinite=label_bad,
        short_segments=int(short.sum()),
        missing_segments=missing,
        dropped_segments=int(n_seg - short.sum() - k),
    )


# -- whole files ---------------------------------------------------------------------------------


@dataclass
class ConversionReport:
    """What :func:`convert_csd` kept, dropped and replaced, for the user to check.

    Counts of videos refer to distinct video ids; "segments" are label rows.
    """

    files: dict[str, str]
    sdk_compat: bool
    seq_len: int
    eps: float
    collapse: str
    videos_in_file: dict[str, int] = field(default_factory=dict)
    missing_from: dict[str, list[str]] = field(default_factory=dict)
    dropped_missing: list[str] = field(default_factory=list)
    dropped_prefix: list[str] = field(default_factory=list)
    no_words: list[str] = field(default_factory=list)
    no_fold_videos: int = 0
    no_fold_segments: int = 0
    fold_ids_in_no_file: dict[str, int] = field(default_factory=dict)
    fold_ids_dropped: dict[str, int] = field(default_factory=dict)
    fold_duplicates: int = 0
    videos_used: int = 0
    segments: int = 0
    short_segments: int = 0
    dropped_segments: int = 0
    missing_segments: dict[str, int] = field(default_factory=dict)
    words: int = 0
    imputed: dict[str, int] = field(default_factory=dict)
    nonfinite: dict[str, int] = field(default_factory=dict)
    label_nonfinite: int = 0
    samples: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (video lists cut to their first 20 ids)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, list):
                out[key] = {"count": len(value), "first": value[:20]}
            elif key == "missing_from":
                out[key] = {m: {"count": len(v), "first": v[:20]} for m, v in value.items()}
            else:
                out[key] = value
        return out

    def lines(self) -> list[str]:
        """A short human-readable account, one fact per line."""
        out = [
            "videos per file: " + ", ".join(f"{m} {n:,}" for m, n in self.videos_in_file.items()),
            f"videos used: {self.videos_used:,}; samples: "
            + " / ".join(f"{n:,} {s}" for s, n in self.samples.items()),
        ]
        if self.dropped_missing:
            detail = "; ".join(f"{len(v):,} not in {m}" for m, v in self.missing_from.items() if v)
            out.append(
                f"dropped {len(self.dropped_missing):,} video(s) not present in every file "
                f"({detail}; e.g. {', '.join(self.dropped_missing[:3])})"
            )
        if self.dropped_prefix:
            out.append(
                f"sdk-compat: dropped {len(self.dropped_prefix):,} more video(s) whose id starts "
                f"with a dropped id (e.g. {', '.join(self.dropped_prefix[:3])})"
            )
        if self.no_words:
            out.append(
                f"{len(self.no_words):,} video(s) with no word interval of at least "
                f"{self.eps:g} s gave no sample (e.g. {', '.join(self.no_words[:3])})"
            )
        if self.no_fold_videos:
            out.append(
                f"{self.no_fold_videos:,} video(s) ({self.no_fold_segments:,} labelled "
                "segments) are in no fold: dropped"
            )
        absent = {s: n for s, n in self.fold_ids_in_no_file.items() if n}
        if absent:
            out.append(
                "fold video ids found in no file: "
                + ", ".join(f"{n:,} {s}" for s, n in absent.items())
            )
        dropped_fold = {s: n for s, n in self.fold_ids_dropped.items() if n}
        if dropped_fold:
            out.append(
                "fold video ids dropped (missing from some file): "
                + ", ".join(f"{n:,} {s}" for s, n in dropped_fold.items())
            )
        if self.fold_duplicates:
            out.append(f"{self.fold_duplicates:,} video id(s) listed in two folds: first kept")
        if self.short_segments:
            out.append(
                f"{self.short_segments:,} labelled segment(s) shorter than {self.eps:g} s skipped"
            )
        if self.dropped_segments:
            detail = ", ".join(f"{m} {n:,}" for m, n in self.missing_segments.items() if n)
            out.append(
                f"dropped {self.dropped_segments:,} segment(s) with no row in some sequence "
                f"({detail})"
            )
        if any(self.imputed.values()):
            out.append(
                "word rows imputed with zeros: "
                + ", ".join(f"{m} {n:,} of {self.words:,}" for m, n in self.imputed.items())
            )
        total_nf = sum(self.nonfinite.values())
        if total_nf:
            detail = ", ".join(f"{k} {n:,}" for k, n in self.nonfinite.items() if n)
            out.append(f"non-finite feature values replaced by 0: {total_nf:,} ({detail})")
        if self.label_nonfinite:
            out.append(f"non-finite label values replaced by 0: {self.label_nonfinite:,}")
        return out


@dataclass
class CsdConversion:
    """Result of :func:`convert_csd`.

    Attributes
    ----------
    dataset : the CMU-MOSEI emotion dataset (splits train, valid, test)
    report : what was kept and dropped
    sentiment : split -> float32 array of shape (N,), the sentiment column in [-3, 3]
    """

    dataset: Dataset
    report: ConversionReport
    sentiment: dict[str, np.ndarray]


class _Aligner:
    """Open files and settings of one conversion; callable on a video id."""

    def __init__(
        self,
        paths: Mapping[str, str],
        labels_path: str,
        options: dict[str, Any],
    ) -> None:
        self.seqs = {m: ComputationalSequence(p) for m, p in paths.items()}
        self.labels = ComputationalSequence(labels_path)
        self.options = options
        self.done = 0

    def close(self) -> None:
        for seq in self.seqs.values():
            seq.close()
        self.labels.close()

    def _tick(self) -> None:
        self.done += 1
        if self.done % _RELEASE_EVERY == 0:  # keeps memory flat over thousands of videos
            for seq in (*self.seqs.values(), self.labels):
                seq.release_caches()

    def __call__(self, video_id: str) -> VideoResult:
        self._tick()
        rows = {m: seq.read(video_id, dtype=np.float32) for m, seq in self.seqs.items()}
        labels = self.labels.read(video_id, dtype=np.float64)
        # sdk_compat only changes which videos are aligned (_select), never a video's rows.
        options = {k: v for k, v in self.options.items() if k != "sdk_compat"}
        return align_video(video_id, rows, labels, **options)

    def has_words(self, video_id: str) -> bool:
        self._tick()
        iv = self.seqs[self.options["reference"]].read_intervals(video_id)
        return bool((~(np.abs(iv[:, 0] - iv[:, 1]) < self.options["eps"])).any())


_WORKER: _Aligner | None = None


def _init_worker(paths: Mapping[str, str], labels_path: str, options: dict[str, Any]) -> None:
    global _WORKER
    _WORKER = _Aligner(paths, labels_path, options)


def _work(video_id: str) -> VideoResult:
    assert _WORKER is not None
    return _WORKER(video_id)


def _has_prefix(video_id: str, prefixes: set[str]) -> bool:
    """Whether some id in ``prefixes`` is a prefix of ``video_id`` (itself included)."""
    return any(video_id[:k] in prefixes for k in range(1, len(video_id) + 1))


def convert_csd(
    text: str | Path,
    labels: str | Path,
    folds: str | Path | Mapping[str, Sequence[str]],
    audio: str | Path | None = None,
    vision: str | Path | None = None,
    *,
    seq_len: int = 20,
    sdk_compat: bool = False,
    eps: float = EPS,
    collapse: Collapse = "mean",
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    task: str | None = None,
) -> CsdConversion:
    """Convert CMU-MultimodalSDK computational sequences into a CMU-MOSEI emotion dataset
    (or a sentiment dataset: ``task``, :func:`label_task`).

    Parameters
    ----------
    text : words (e.g. GloVe vectors) ``.csd``: the reference sequence
    labels : the "All Labels" ``.csd`` (7 columns: sentiment, happy, sad, anger, surprise,
        disgust, fear)
    folds : a mapping split -> video ids (see :func:`emotrans.data.folds.load_folds` for
        the shipped standard folds, fold files and the SDK's ``*_std_folds.py``)
    audio, vision : e.g. COVAREP and FACET ``.csd`` files (each optional)
    seq_len : T, steps kept per sample (the last T word rows)
    sdk_compat : reproduce the current SDK's tensors, its id-prefix removal of videos
        included (module docstring); the default removes a missing video only
    eps : interval tolerance in seconds (SDK: 1e-5)
    collapse : how rows within one word are combined (see :func:`collapse_to_reference`)
    workers : processes aligning videos in parallel (1: in this process; 0: automatic, one
        per CPU up to 4 when there are at least 400 videos, else 1)
    progress : called as ``progress(done, total)`` after each video

    Returns
    -------
    :class:`CsdConversion`: the dataset (emotions anger, disgust, fear, happy, sad, surprise;
    labels = intensity > 0; intensities kept), the report, and the sentiment per split.

    Raises
    ------
    DataFormatError
        A file is missing or not a computational sequence, a video's features and intervals
        disagree, intervals are NaN or reversed, the label file has the wrong number of
        columns, feature dimensions differ between videos, or no fold video is in the files.
    ConfigError
        A setting is out of range.
    """
    started = time.perf_counter()
    if seq_len < 1:
        raise ConfigError(f"--seq-len must be at least 1, got {seq_len}")
    if eps < 0:
        raise ConfigError(f"eps must be >= 0, got {eps}")
    if isinstance(collapse, str) and collapse not in COLLAPSES:
        raise ConfigError(f"unknown collapse function {collapse!r} (use {', '.join(COLLAPSES)})")
    paths = {m: str(p) for m, p in (("text", text), ("audio", audio), ("vision", vision)) if p}
    fold_lists: Folds = load_folds(folds)
    options = {
        "reference": "text",
        "seq_len": int(seq_len),
        "sdk_compat": bool(sdk_compat),
        "eps": float(eps),
        "collapse": collapse,
    }
    aligner = _Aligner(paths, str(labels), options)
    try:
        aligner.task = label_task(aligner.labels.dim(), task, str(labels))
        return _convert(
            aligner, paths, str(labels), fold_lists, options, workers, progress, started
        )
    finally:
        aligner.close()


def _convert(
    aligner: _Aligner,
    paths: dict[str, str],
    labels_path: str,
    fold_lists: Folds,
    options: dict[str, Any],
    workers: int,
    progress: Callable[[int, int], None] | None,
    started: float,
) -> CsdConversion:
    """The four steps of a conversion: select the videos, allocate the splits, run the
    alignment over the videos, assemble the dataset."""
    report = ConversionReport(
        files={**paths, "labels": labels_path},
        sdk_compat=options["sdk_compat"],
        seq_len=options["seq_len"],
        eps=options["eps"],
        collapse=options["collapse"] if isinstance(options["collapse"], str) else "callable",
    )
    selection = _select(aligner, labels_path, fold_lists, report)
    splits = _allocate(aligner, paths, selection, report)
    _run(aligner, paths, labels_path, options, selection, splits, report, workers, progress)
    return _assemble(splits, aligner, paths, labels_path, report, started)


@dataclass
class _Selection:
    """The videos a conversion aligns.

    Attributes
    ----------
    work : video ids, in label file order
    owner : video id -> the split whose fold lists it
    """

    work: list[str]
    owner: dict[str, str]


def _select(
    aligner: _Aligner, labels_path: str, fold_lists: Folds, report: ConversionReport
) -> _Selection:
    """Step 1, select: the videos present in every file (the SDK's rules with
    ``sdk_compat``) that a fold lists; what was left out goes into ``report``."""
    seqs, lab = aligner.seqs, aligner.labels
    label_task(lab.dim(), getattr(aligner, "task", None), labels_path)  # 1 or 7 columns
    id_sets = {m: set(s.video_ids) for m, s in seqs.items()}
    id_sets["labels"] = set(lab.video_ids)
    report.videos_in_file = {m: len(ids) for m, ids in id_sets.items()}
    everywhere = set.intersection(*id_sets.values())
    anywhere = set.union(*id_sets.values())
    report.missing_from = {
        m: sorted(anywhere - ids) for m, ids in id_sets.items() if anywhere - ids
    }
    report.dropped_missing = sorted(anywhere - everywhere)

    # Which videos take part (label file order).
    if report.sdk_compat:
        feature_sets = [id_sets[m] for m in seqs]
        feature_all = set.intersection(*feature_sets)
        violators = set.union(*feature_sets) - feature_all  # first unify (words step)
        survivors = {v for v in feature_all if not _has_prefix(v, violators)}
        label_ids = id_sets["labels"]
        # Only videos with a usable word have word-level rows at the second unify.
        with_words = {v for v in survivors if aligner.has_words(v)}
        violators2 = (with_words - label_ids) | (label_ids - with_words)  # second unify
        candidates = [
            v for v in lab.video_ids if v in with_words and not _has_prefix(v, violators2)
        ]
        report.no_words = sorted(survivors - with_words)
        report.dropped_prefix = sorted(everywhere - set(candidates) - (survivors - with_words))
    else:
        candidates = [v for v in lab.video_ids if v in everywhere]

    owner, report.fold_duplicates = fold_of(fold_lists)
    for split in SPLITS:
        ids = fold_lists.get(split, [])
        report.fold_ids_in_no_file[split] = sum(v not in anywhere for v in ids)
        report.fold_ids_dropped[split] = sum(v in anywhere and v not in everywhere for v in ids)
    for split in SPLITS:
        ids = fold_lists.get(split, [])
        if ids and not any(v in anywhere for v in ids):
            raise DataFormatError(
                f"{labels_path}: none of the {len(ids):,} {split} fold video ids occurs in the "
                "computational sequences (wrong folds file?)"
            )
    work = [v for v in candidates if v in owner]
    no_fold = [v for v in candidates if v not in owner]
    report.no_fold_videos = len(no_fold)
    report.no_fold_segments = int(sum(lab.shape(v)[0] for v in no_fold))
    if not work:
        raise DataFormatError(
            f"{labels_path}: no video is both in every computational sequence and in a fold "
            f"({len(set(candidates)):,} in every file, {len(owner):,} in the folds)"
        )
    return _Selection(work=work, owner=owner)


@dataclass
class _SplitBuffer:
    """One split's arrays, preallocated at their largest possible size (one sample per
    label row) and filled video by video.

    Attributes
    ----------
    features : modality -> float32 array of shape (capacity, T, D_m)
    lengths : modality -> int64 array of shape (capacity,)
    labels : float32 array of shape (capacity, 7), the All Labels rows
    ids : sample ids so far
    n : samples so far
    """

    features: dict[str, np.ndarray]
    lengths: dict[str, np.ndarray]
    labels: np.ndarray
    ids: list[str] = field(default_factory=list)
    n: int = 0


def _allocate(
    aligner: _Aligner, paths: dict[str, str], selection: _Selection, report: ConversionReport
) -> dict[str, _SplitBuffer]:
    """Step 2, allocate: one buffer per split, and the report's counters at zero."""
    seqs, lab, seq_len = aligner.seqs, aligner.labels, report.seq_len
    dims = {m: _first_dim(seqs[m], selection.work) for m in seqs}
    capacity = dict.fromkeys(SPLITS, 0)
    for v in selection.work:
        capacity[selection.owner[v]] += lab.shape(v)[0]
    # Every label row may become a sample of seq_len steps: refuse what the label file's
    # declared rows would make too large before allocating (each array is checked against
    # its stored bytes, but one 28-byte label row asks for seq_len * sum(D) * 4 bytes).
    row_bytes = seq_len * sum(dims.values()) * 4 + lab.dim() * 4 + 8 * len(seqs)
    needed = sum(capacity.values()) * row_bytes
    if needed > max_array_bytes():
        raise DataFormatError(
            f"{report.files.get('labels', 'labels')}: {sum(capacity.values()):,} label rows "
            f"would need {needed / 1e9:.1f} GB of arrays ({seq_len} steps of "
            f"{sum(dims.values())} features each), above the limit of "
            f"{max_array_bytes() / 1e9:.1f} GB ({MAX_ARRAY_BYTES_ENV} raises it)"
        )
    buffers = {
        s: _SplitBuffer(
            features={m: np.zeros((capacity[s], seq_len, dims[m]), np.float32) for m in seqs},
            lengths={m: np.zeros(capacity[s], np.int64) for m in seqs},
            labels=np.zeros((capacity[s], lab.dim()), np.float32),  # All Labels: 7; MOSI: 1
        )
        for s in SPLITS
    }
    report.imputed = dict.fromkeys((m for m in seqs if m != "text"), 0)
    report.missing_segments = dict.fromkeys(seqs, 0)
    report.nonfinite = {f"{s}/{m}": 0 for s in SPLITS for m in seqs}
    return buffers


def _place(
    result: VideoResult,
    buf: _SplitBuffer,
    split: str,
    paths: dict[str, str],
    report: ConversionReport,
) -> None:
    """Copy one video's samples into its split's buffer and count them in ``report``."""
    k = len(result.segments)
    start = buf.n
    for m, x in result.features.items():
        dim = buf.features[m].shape[2]
        if x.shape[2] != dim:
            raise DataFormatError(
                f"{paths[m]}: video {result.video_id!r} has {x.shape[2]} features per row, "
                f"other videos {dim}"
            )
        buf.features[m][start : start + k] = x
        buf.lengths[m][start : start + k] = result.lengths[m]
        report.nonfinite[f"{split}/{m}"] += result.nonfinite[m]
    buf.labels[start : start + k] = result.labels
    buf.ids.extend(f"{result.video_id}[{i}]" for i in result.segments)
    buf.n = start + k
    report.videos_used += k > 0
    report.segments += len(result.segments) + result.short_segments + result.dropped_segments
    report.short_segments += result.short_segments
    report.dropped_segments += result.dropped_segments
    report.words += result.words
    report.label_nonfinite += result.label_nonfinite
    for m, n in result.imputed.items():
        report.imputed[m] += n
    for m, n in result.missing_segments.items():
        report.missing_segments[m] += n
    if not report.sdk_compat and result.words == 0:
        report.no_words.append(result.video_id)


def _run(
    aligner: _Aligner,
    paths: dict[str, str],
    labels_path: str,
    options: dict[str, Any],
    selection: _Selection,
    buffers: dict[str, _SplitBuffer],
    report: ConversionReport,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Step 3, run: align every selected video (in this process, or streamed in order from
    a pool of worker processes) and place its samples in its split's buffer."""
    work, owner = selection.work, selection.owner
    total = len(work)

    def place(result: VideoResult) -> None:
        split = owner[result.video_id]
        _place(result, buffers[split], split, paths, report)

    if workers <= 0:
        workers = min(os.cpu_count() or 1, 4) if total >= _PARALLEL_FROM else 1
    if workers > 1 and total > 1:
        context = multiprocessing.get_context("spawn")
        with context.Pool(
            min(workers, total),
            initializer=_init_worker,
            initargs=(paths, labels_path, options),
        ) as pool:
            for done, result in enumerate(pool.imap(_work, work, chunksize=4), 1):
                place(result)
                if progress:
                    progress(done, total)
    else:
        for done, video_id in enumerate(work, 1):
            place(aligner(video_id))
            if progress:
                progress(done, total)


def _assemble(
    buffers: dict[str, _SplitBuffer],
    aligner: _Aligner,
    paths: dict[str, str],
    labels_path: str,
    report: ConversionReport,
    started: float,
) -> CsdConversion:
    """Step 4, assemble: trim the buffers to the samples placed, turn the All Labels rows
    into our emotion order, and build the dataset, its report and the sentiment."""
    seqs = aligner.seqs
    splits: dict[str, Split] = {}
    sentiment: dict[str, np.ndarray] = {}
    task = getattr(aligner, "task", None) or "emotion"
    for s in SPLITS:
        buf = buffers[s]
        n = buf.n
        raw = buf.labels[:n]  # (N, 7) All Labels, or (N, 1) sentiment (CMU-MOSI)
        sentiment[s] = np.ascontiguousarray(raw[:, 0])
        if task == "sentiment":  # the score in [-3, 3] as intensity, label score > 0
            intensities = np.ascontiguousarray(raw[:, :1])  # (N, 1)
        else:
            intensities = np.ascontiguousarray(raw[:, list(EMOTION_COLUMNS)])  # (N, 6)
        splits[s] = Split(
            features={m: buf.features[m][:n] for m in MODALITIES if m in seqs},
            lengths={m: buf.lengths[m][:n] for m in MODALITIES if m in seqs},
            labels=(intensities > 0).astype(np.uint8),
            ids=np.array(buf.ids, dtype=str),
            intensities=intensities,
        )
        report.samples[s] = n
    report.seconds = round(time.perf_counter() - started, 3)
    one_column = buffers[SPLITS[0]].labels.shape[1] == 1
    dataset = Dataset(
        name=("mosi" if one_column else "mosei-senti") if task == "sentiment" else "mosei",
        emotions=[SENTIMENT] if task == "sentiment" else list(EMOTIONS),
        task=task,
        splits=splits,
        aligned=True,
        source=labels_path,
        nonfinite=dict(report.nonfinite),
        meta={
            "format": "csd",
            "files": {**paths, "labels": labels_path},
            "seq_len": report.seq_len,
            "sdk_compat": report.sdk_compat,
            "eps": report.eps,
            "collapse": report.collapse,
            "reference": "text",
            "label_columns": [SENTIMENT] if one_column else list(LABEL_COLUMNS),
            "samples": dict(report.samples),
        },
    ).validate()
    for line in report.lines():
        log.info("%s", line)
    return CsdConversion(dataset=dataset, report=report, sentiment=sentiment)


def label_task(label_dim: int, task: str | None, labels_path: str) -> str:
    """The task of a conversion from its label file's number of columns.

    7 columns are CMU-MOSEI's "All Labels" (sentiment, then six emotions): ``emotion`` by
    default, ``sentiment`` takes column 0. 1 column is a sentiment file such as CMU-MOSI's
    ``CMU_MOSI_Opinion_Labels.csd``: ``sentiment`` only. Anything else, or asking for emotions
    from a 1-column file, is a one-line :class:`DataFormatError`.
    """
    if task not in (None, "emotion", "sentiment"):
        raise ConfigError(f"unknown task {task!r} (use emotion or sentiment)")
    if label_dim == len(LABEL_COLUMNS):
        return task or "emotion"
    if label_dim == 1:
        if task == "emotion":
            raise DataFormatError(
                f"{labels_path}: 1 label column (a sentiment score, as CMU-MOSI's opinion "
                "labels) has no emotions; use --task sentiment"
            )
        return "sentiment"
    raise DataFormatError(
        f"{labels_path}: {label_dim} label columns; expected 1 (sentiment, e.g. CMU-MOSI) or "
        f"the {len(LABEL_COLUMNS)} CMU-MOSEI 'All Labels' columns ({', '.join(LABEL_COLUMNS)})"
    )


def _first_dim(seq: ComputationalSequence, videos: Sequence[str]) -> int:
    for v in videos:
        return seq.shape(v)[1]
    return seq.dim()

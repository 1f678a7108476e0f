"""Clips -> extractor outputs -> aligned tensors -> a native dataset.

:func:`extract_dataset` runs every clip of a :class:`~emotrans.media.layouts.base.RawDataset`
through the chosen extractors in a pool of workers (:mod:`emotrans.media.pool`, or a cluster
pool passed in), one clip per job:

1. **Cache.** A clip's extractor outputs and word timing are stored in one file per clip
   (``<cache>/<key[:2]>/<key>.npz``), keyed by the clip's identity (absolute path, size,
   modification time, start, end, transcript, the dataset's word timing) and the extractors'
   descriptions, so an interrupted extraction resumes and a re-run with other tensor
   settings (``--unaligned``, ``--seq-len``) extracts nothing again.
2. **Word timing.** The dataset's own (``Clip.words``), else forced alignment of the
   transcript, else speech recognition (marked ``automatic``), by :mod:`emotrans.media.timing`;
   the source is recorded per clip.
3. **Tensors.** Aligned (default): audio and vision rows are collapsed onto each word with the
   ``.csd`` semantics (:func:`emotrans.data.csd_align.collapse_to_reference`: rows clipped to
   the word, averaged; a word without rows gets zeros), text has one row per word, and the last
   T words are kept with zeros in front, one length shared by the modalities. Unaligned: each
   modality at its own rate (audio averaged onto fixed windows, by default 10 per second, with
   the same collapse; vision at its frame rate; text per word), each cut to its own T. Audio
   and vision are then z-scored per dimension with the train split's statistics, which the
   record keeps so that new clips are scaled identically (``--like``).
4. **Failures.** A clip that cannot be processed (missing, empty, undecodable, no audio
   stream, no face, no words) becomes a :class:`ClipFailure` with the stage and the reason;
   nothing is dropped silently: the caller decides whether failures are fatal, and the
   dataset's ``extraction`` record lists every skipped clip.

Memory stays bounded by the final tensors: results are placed into preallocated (N, T, D)
arrays as they arrive, and at most two jobs per worker are in flight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
import math
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.csd import EPS
from emotrans.data.csd_align import collapse_to_reference
from emotrans.data.dataset import SPLITS, Dataset, Split, replace_nonfinite
from emotrans.errors import ConfigError, EmotransError, MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features, Words
from emotrans.media.extractors.registry import from_description, get_extractor
from emotrans.media.io import load_audio
from emotrans.media.layouts.base import RawDataset
from emotrans.media.pool import ClipPool, local_pool
from emotrans.modalities import MODALITIES
from emotrans.npz import load_npz
from emotrans.version import __version__

log = logging.getLogger(__name__)

DEFAULT_EXTRACTORS: dict[str, str] = {
    "audio": "egemaps+compare",
    "vision": "face",
    "text": "minilm-words",
}
"""The extractor of each modality when none is named."""

ALIGNED_SEQ_LEN = 50
"""T of aligned tensors (words kept per clip) unless set."""

UNALIGNED_SEQ_LEN: dict[str, int] = {"text": 50, "audio": 200, "vision": 300}
"""T per modality of unaligned tensors unless set (audio: 20 s at 10 rows per second)."""

UNALIGNED_RATES: dict[str, float | None] = {"audio": 10.0, "vision": None}
"""Rows per second of unaligned audio and vision (None: the extractor's own rate)."""

DEFAULT_TIMING = "emotrans.media.timing:word_timing"
"""``module:function`` giving a clip's words when the dataset has no timing."""

TIMING_SOURCES = ("dataset", "aligned", "automatic")
CACHE_VERSION = 1


@dataclass(frozen=True)
class ExtractionSettings:
    """What to extract and how to shape it.

    Attributes
    ----------
    extractors : modality -> (extractor name, settings mapping)
    aligned : collapse audio and vision onto the words (True) or keep own rates (False)
    seq_len : modality -> T (aligned: one T for all, the largest given is used)
    rates : unaligned rows per second of audio / vision (None: as extracted)
    timing : ``"module:function"``, ``f(clip) -> Words``, for clips without the dataset's timing
    standardize : True: z-score audio and vision per dimension with the train split's mean and
        standard deviation (raw openSMILE descriptors reach thousands, which saturates the
        models' recurrent layers); a mapping modality -> {"mean", "std"}: apply those recorded
        statistics (``--like``); False: keep the raw values
    """

    extractors: dict[str, tuple[str, dict[str, Any]]]
    aligned: bool = True
    seq_len: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float | None] = field(default_factory=lambda: dict(UNALIGNED_RATES))
    timing: str = DEFAULT_TIMING
    standardize: dict[str, dict[str, list[float]]] | bool = True

    def lengths(self) -> dict[str, int]:
        """T per extracted modality (aligned: the same T everywhere)."""
        mods = [m for m in MODALITIES if m in self.extractors]
        if self.aligned:
            t = max(self.seq_len.values()) if self.seq_len else ALIGNED_SEQ_LEN
            return {m: t for m in mods}
        return {m: int(self.seq_len.get(m, UNALIGNED_SEQ_LEN[m])) for m in mods}

    def needs_words(self) -> bool:
        return self.aligned or "text" in self.extractors


def make_settings(
    audio: str | None = None,
    vision: str | None = None,
    text: str | None = None,
    *,
    aligned: bool = True,
    seq_len: int | dict[str, int] | None = None,
    audio_rate: float | None = UNALIGNED_RATES["audio"],
    vision_rate: float | None = UNALIGNED_RATES["vision"],
    extractor_settings: dict[str, dict[str, Any]] | None = None,
    timing: str = DEFAULT_TIMING,
) -> ExtractionSettings:
    """Settings from extractor names per modality (``None`` for every modality: the
    defaults, :data:`DEFAULT_EXTRACTORS`; ``"none"`` leaves a modality out)."""
    named = {"audio": audio, "vision": vision, "text": text}
    if all(v is None for v in named.values()):
        named = dict(DEFAULT_EXTRACTORS)
    chosen = {
        m: (name, dict((extractor_settings or {}).get(m, {})))
        for m, name in named.items()
        if name and name != "none"
    }
    if not chosen:
        raise ConfigError("no modality to extract: name at least one extractor")
    if isinstance(seq_len, int):
        lens = {m: seq_len for m in chosen}
    else:
        lens = {m: int(t) for m, t in (seq_len or {}).items() if m in chosen}
    for m, t in lens.items():
        if t < 1:
            raise ConfigError(f"--seq-len {m}={t}: must be at least 1")
    return ExtractionSettings(
        extractors=chosen,
        aligned=aligned,
        seq_len=lens,
        rates={"audio": audio_rate, "vision": vision_rate},
        timing=timing,
    )


def settings_like(record: dict[str, Any]) -> ExtractionSettings:
    """The settings that produced a dataset, from its ``extraction`` record, so new clips are
    extracted identically (same extractors, versions, settings, alignment and T); a one-line
    :class:`ConfigError` when this installation's extractor versions differ."""
    try:
        extractors = {
            m: (d["name"], dict(d.get("settings") or {})) for m, d in record["extractors"].items()
        }
        aligned = record["alignment"] == "words"
        seq_len = {m: int(t) for m, t in record["seq_len"].items()}
    except (KeyError, TypeError, AttributeError):
        raise ConfigError("the dataset's extraction record is incomplete") from None
    for d in record["extractors"].values():
        from_description(d)  # refuses another version
    rates = dict(UNALIGNED_RATES)
    rates.update(record.get("rates") or {})
    return ExtractionSettings(
        extractors=extractors,
        aligned=aligned,
        seq_len=seq_len,
        rates=rates,
        timing=record.get("timing", {}).get("function", DEFAULT_TIMING),
        standardize=record.get("standardized") or False,
    )


def build_extractors(settings: ExtractionSettings) -> dict[str, Extractor]:
    """The extractor instance of each modality; checks each one's modality."""
    out = {}
    for m, (name, options) in settings.extractors.items():
        ext = get_extractor(name, options)
        if ext.modality != m:
            raise ConfigError(f"extractor {name} is a {ext.modality} extractor, not {m}")
        out[m] = ext
    return out


# -- one clip -----------------------------------------------------------------------------------


@dataclass
class ClipJob:
    """One clip to extract, self-contained so it can run in another process or machine."""

    index: int  # position in the raw dataset
    id: str
    clip: Clip
    extractors: dict[str, tuple[type, Any]]  # modality -> (class, settings)
    settings: ExtractionSettings
    cache_dir: str | None


@dataclass
class ClipResult:
    """What one clip gave.

    Attributes
    ----------
    rows : modality -> float32 (t_m, D_m), t_m <= T_m, the valid steps (no padding)
    timing : the word timing's source (``dataset``, ``aligned``, ``automatic``) or None
    tokens : the words the timing gave (what a prediction shows as the transcript used)
    error, stage : why and where the clip failed (None when it did not)
    """

    index: int
    id: str
    rows: dict[str, np.ndarray] = field(default_factory=dict)
    timing: str | None = None
    words: int = 0
    tokens: tuple[str, ...] = ()
    nonfinite: dict[str, int] = field(default_factory=dict)
    cached: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    stage: str | None = None
    seconds: float = 0.0


@dataclass
class ClipFailure:
    """A clip that was not extracted, and why."""

    id: str
    split: str
    path: str
    stage: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


_WORKER_EXTRACTORS: dict[str, Extractor] = {}


def _extractor(cls: type, settings: Any) -> Extractor:
    """One instance per class and settings per process (models load once per worker)."""
    key = f"{cls.__module__}.{cls.__qualname__}:{settings!r}"
    if key not in _WORKER_EXTRACTORS:
        _WORKER_EXTRACTORS[key] = cls(settings)
    return _WORKER_EXTRACTORS[key]


def _resolve(path: str) -> Callable[[Clip], Words]:
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise MediaError(
            f'word timing needs {exc.name or "a media library"}: pip install "emotrans[media]"'
        ) from None
    except AttributeError:
        raise ConfigError(f"word timing: {module} has no {attr}") from None


def clip_identity(clip: Clip) -> dict[str, Any]:
    """What identifies a clip's content: absolute path, size, mtime, start, end, transcript,
    and the dataset's word timing (hashed)."""
    path = os.path.abspath(clip.path)
    try:
        st = os.stat(path)
        size, mtime = st.st_size, st.st_mtime_ns
    except OSError:
        size, mtime = None, None
    words = None
    if clip.words is not None:
        h = hashlib.sha256(json.dumps(list(clip.words.tokens)).encode())
        h.update(np.ascontiguousarray(clip.words.intervals, np.float64).tobytes())
        words = f"{clip.words.source}:{h.hexdigest()[:16]}"
    return {
        "path": path,
        "size": size,
        "mtime_ns": mtime,
        "start": clip.start,
        "end": clip.end,
        "transcript": clip.transcript,
        "words": words,
    }


def cache_key(clip: Clip, descriptions: dict[str, dict[str, Any]], timing: str) -> str:
    """sha256 of the clip's identity, the extractors' descriptions and the timing source."""
    blob = json.dumps(
        {
            "v": CACHE_VERSION,
            "clip": clip_identity(clip),
            "extractors": descriptions,
            "timing": timing,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _cache_path(cache_dir: str, key: str) -> Path:
    return Path(cache_dir) / key[:2] / f"{key}.npz"


def _load_cached(path: Path) -> tuple[dict[str, Features], Words | None, dict[str, Any]] | None:
    try:
        z = load_npz(path, text=("meta",))  # declared sizes checked before allocating
        meta = json.loads(str(z["meta"]))
        feats = {
            m: Features(z[f"{m}_values"], z[f"{m}_intervals"], meta["info"].get(m, {}))
            for m in meta["modalities"]
        }
        words = None
        if meta.get("words") is not None:
            words = Words(tuple(meta["words"]), z["word_intervals"], meta["word_source"])
        return feats, words, meta
    except Exception as exc:  # a damaged cache file is re-extracted, never trusted
        log.warning("ignoring unreadable cache file %s (%s)", path, exc)
        return None


def _store_cached(
    path: Path, feats: dict[str, Features], words: Words | None, descriptions: dict
) -> None:
    arrays: dict[str, np.ndarray] = {}
    for m, f in feats.items():
        arrays[f"{m}_values"] = np.asarray(f.values, np.float32)
        arrays[f"{m}_intervals"] = np.asarray(f.intervals, np.float64)
    meta = {
        "modalities": list(feats),
        "info": {m: f.info for m, f in feats.items()},
        "words": None if words is None else list(words.tokens),
        "word_source": None if words is None else words.source,
        "extractors": descriptions,
    }
    if words is not None:
        arrays["word_intervals"] = np.asarray(words.intervals, np.float64)
    arrays["meta"] = np.array(json.dumps(meta, default=str))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SILENCE_PEAK = 1e-4
"""Audio whose peak amplitude (of 1.0) stays below this is silent: it has no words, whatever a
recogniser or aligner would make of it (pocketsphinx hears words in digital silence)."""


def _check_not_silent(clip: Clip) -> None:
    """Raise :class:`MediaError` when the clip's audio is silent (only for real media files:
    a timing function given for tests may read anything)."""
    audio = load_audio(clip.path, clip.start, clip.end)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak < SILENCE_PEAK:
        raise MediaError(f"{clip.path}: silent audio (peak {peak:.1e}), so no words")


def _words(clip: Clip, timing: str) -> Words:
    if clip.words is not None:
        words = clip.words
    else:
        if timing == DEFAULT_TIMING:
            _check_not_silent(clip)
        words = _resolve(timing)(clip)
    keep = (words.intervals[:, 1] - words.intervals[:, 0]) > EPS if len(words.tokens) else []
    if len(words.tokens) and not np.all(keep):
        words = Words(
            tuple(t for t, k in zip(words.tokens, keep) if k), words.intervals[keep], words.source
        )
    if not words.tokens:
        what = "the transcript could not be aligned" if clip.transcript else "no speech recognised"
        raise MediaError(f"{clip.path}: no words ({what})")
    return words


def _grid(intervals: np.ndarray, rate: float) -> np.ndarray:
    """Consecutive windows of 1/rate s covering [0, last end], shape (n, 2)."""
    end = float(intervals[:, 1].max()) if len(intervals) else 0.0
    n = max(1, math.ceil(end * rate - 1e-9))
    k = np.arange(n, dtype=np.float64)
    return np.stack([k / rate, (k + 1) / rate], axis=1)


def _tail(x: np.ndarray, t: int) -> np.ndarray:
    return np.ascontiguousarray(x[-t:], dtype=np.float32) if len(x) > t else x.astype(np.float32)


def shape_rows(
    feats: dict[str, Features], words: Words | None, settings: ExtractionSettings
) -> dict[str, np.ndarray]:
    """Extractor outputs -> the valid rows of each modality's tensor (see the module doc).

    Returns
    -------
    modality -> float64 (t_m, D_m), t_m <= T_m (aligned: the same t for every modality).
    """
    lengths = settings.lengths()
    out: dict[str, np.ndarray] = {}
    for m, f in feats.items():
        values = np.asarray(f.values, np.float64)
        if settings.aligned or m == "text":
            assert words is not None
            if m == "text" and len(values) == len(words.tokens):
                rows = values  # one row per word already
            else:
                rows = collapse_to_reference(words.intervals, f.intervals, values).features
        else:
            rate = settings.rates.get(m)
            if rate and len(values):
                c = collapse_to_reference(_grid(f.intervals, rate), f.intervals, values)
                rows = c.features[c.present]
            else:
                rows = values
        out[m] = _tail(rows, lengths[m])
    return out


def extract_clip(job: ClipJob) -> ClipResult:
    """Extract one clip (in whatever process runs it). Never raises for a bad clip: the
    failure is in the result, with its stage."""
    start = time.perf_counter()
    result = ClipResult(job.index, job.id)
    stage = "open"
    try:
        clip = job.clip
        if not os.path.isfile(clip.path):
            raise MediaError(f"{clip.path}: no such file")
        if os.path.getsize(clip.path) == 0:
            raise MediaError(f"{clip.path}: empty file (0 bytes)")
        extractors = {m: _extractor(cls, s) for m, (cls, s) in job.extractors.items()}
        descriptions = {m: e.describe() for m, e in extractors.items()}
        key = cache_key(clip, descriptions, job.settings.timing)
        cached = None
        if job.cache_dir:
            path = _cache_path(job.cache_dir, key)
            cached = _load_cached(path) if path.is_file() else None
        if cached is not None:
            feats, words, _ = cached
            result.cached = True
            if job.settings.needs_words() and words is None:
                stage = "timing"
                words = _words(clip, job.settings.timing)
        else:
            words = None
            if job.settings.needs_words():
                stage = "timing"
                words = _words(clip, job.settings.timing)
            with_words = dataclasses.replace(clip, words=words) if words is not None else clip
            feats = {}
            for m, ext in extractors.items():
                stage = f"{m}:{ext.name}"
                f = ext.extract(with_words)
                if f.values.ndim != 2 or len(f.values) == 0:
                    raise MediaError(f"{clip.path}: {ext.name} gave no rows")
                feats[m] = f
            if job.cache_dir:
                _store_cached(_cache_path(job.cache_dir, key), feats, words, descriptions)
        stage = "align"
        rows = shape_rows(feats, words, job.settings)
        for m, x in rows.items():
            if len(x) == 0:
                raise MediaError(
                    f"{clip.path}: no {m} rows overlap the words (is the clip shorter than "
                    "its word timing?)"
                )
            result.nonfinite[m] = replace_nonfinite(x)
        result.rows = rows
        result.timing = None if words is None else words.source
        result.words = 0 if words is None else len(words.tokens)
        result.tokens = () if words is None else tuple(words.tokens)
        result.info = {m: f.info for m, f in feats.items() if f.info}
    except EmotransError as exc:
        result.error, result.stage = " ".join(str(exc).split()), stage
    except Exception as exc:  # an extractor bug: reported per clip, with its traceback logged
        log.debug("clip %s failed:\n%s", job.id, traceback.format_exc())
        text = " ".join(str(exc).split())
        result.error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        result.stage = stage
    result.seconds = time.perf_counter() - start
    return result


# -- the whole dataset ----------------------------------------------------------------------------


@dataclass
class Progress:
    """Passed to the progress callback after each clip."""

    done: int
    total: int
    failed: int
    cached: int
    last: ClipResult
    elapsed: float


@dataclass
class ExtractionResult:
    """The dataset built from the clips that worked, and the clips that did not."""

    dataset: Dataset
    failures: list[ClipFailure]
    record: dict[str, Any]

    def report(self) -> dict[str, Any]:
        """The failure report written next to the output (JSON)."""
        return {
            "source": self.record.get("source"),
            "clips": self.record["clips"],
            "failures": [f.to_dict() for f in self.failures],
        }


class _Assembler:
    """Preallocated (N, T, D) arrays per split, filled as results arrive."""

    def __init__(self, raw: RawDataset, dims: dict[str, int], lengths: dict[str, int]) -> None:
        self.raw = raw
        self.row: list[tuple[str, int]] = []
        count = dict.fromkeys(SPLITS, 0)
        for c in raw.clips:
            count.setdefault(c.split, 0)
            self.row.append((c.split, count[c.split]))
            count[c.split] += 1
        self.sizes = {s: n for s, n in count.items() if n}
        self.features = {
            s: {m: np.zeros((n, lengths[m], d), np.float32) for m, d in dims.items()}
            for s, n in self.sizes.items()
        }
        self.lengths = {s: {m: np.zeros(n, np.int64) for m in dims} for s, n in self.sizes.items()}
        self.ok = {s: np.zeros(n, bool) for s, n in self.sizes.items()}
        self.nonfinite: dict[str, int] = {}

    def place(self, result: ClipResult) -> None:
        split, i = self.row[result.index]
        for m, x in result.rows.items():
            t = len(x)
            if t:
                self.features[split][m][i, -t:] = x
            self.lengths[split][m][i] = t
        self.ok[split][i] = True
        for m, count in result.nonfinite.items():
            key = f"{split}/{m}"
            self.nonfinite[key] = self.nonfinite.get(key, 0) + count

    def splits(self, keep_intensities: bool) -> dict[str, Split]:
        out = {}
        by_split: dict[str, list[np.ndarray]] = {s: [] for s in self.sizes}
        ids: dict[str, list[str]] = {s: [] for s in self.sizes}
        for c in self.raw.clips:
            by_split[c.split].append(c.labels)
            ids[c.split].append(c.id)
        k = len(self.raw.emotions)
        for s in self.sizes:
            mask = self.ok[s]
            values = np.stack(by_split[s]).astype(np.float32).reshape(len(ids[s]), k)[mask]
            out[s] = Split(
                features={m: x[mask] if not mask.all() else x for m, x in self.features[s].items()},
                lengths={m: x[mask] for m, x in self.lengths[s].items()},
                labels=(values > 0).astype(np.uint8),
                ids=np.array(ids[s], dtype=str)[mask],
                intensities=values if keep_intensities else None,
            )
        return out


STANDARDIZED = ("audio", "vision")
"""Modalities z-scored by default (text vectors keep their geometry)."""


def standardize_splits(
    splits: dict[str, Split], stats: dict[str, dict[str, list[float]]] | bool
) -> dict[str, dict[str, list[float]]] | None:
    """z-score the valid steps of audio and vision in place, padding left at zero.

    ``stats`` True: computed from the ``train`` split's valid steps (std below 1e-6 -> 1);
    a mapping: applied as given. Returns the statistics used (None when nothing was done).
    """
    if stats is False:
        return None
    if stats is True:
        train = splits.get("train")
        if train is None or train.n == 0:
            return None
        stats = {}
        for m in STANDARDIZED:
            if m not in train.features:
                continue
            x, lengths = train.features[m], train.lengths[m]
            t = x.shape[1]
            valid = np.arange(t)[None, :] >= (t - lengths)[:, None]  # (N, T)
            rows = x[valid].astype(np.float64)  # (n_valid, D)
            mean = rows.mean(0) if len(rows) else np.zeros(x.shape[2])
            std = rows.std(0) if len(rows) else np.ones(x.shape[2])
            std[std < 1e-6] = 1.0
            stats[m] = {"mean": mean.tolist(), "std": std.tolist()}
    for split in splits.values():
        for m, st in stats.items():
            if m not in split.features:
                continue
            x, lengths = split.features[m], split.lengths[m]
            t = x.shape[1]
            valid = np.arange(t)[None, :] >= (t - lengths)[:, None]
            mean, std = np.asarray(st["mean"], np.float32), np.asarray(st["std"], np.float32)
            x[valid] = (x[valid] - mean) / std
    return stats


def _cache_folder(cache_dir: str | Path | None) -> str | None:
    """The per-clip cache folder as an absolute path (created), or None for no cache."""
    if not cache_dir:
        return None
    folder = Path(cache_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder)


def run_jobs(pool: ClipPool, jobs: Iterable[ClipJob]) -> Iterator[ClipResult]:
    """Run ``jobs`` through ``pool`` (at most two per slot in flight) and yield each clip's
    result as it ends. A job whose worker died is tried once more (the death may have been
    another clip's); a second death is that clip's error (stage ``worker``). The pool is
    closed at the end, and cancelled when the caller stops early or an error propagates."""
    jobs = iter(jobs)
    retried: set[int] = set()
    pending: list[ClipJob] = []
    try:
        while True:
            while pool.in_flight < 2 * pool.slots:
                job = pending.pop() if pending else next(jobs, None)
                if job is None:
                    break
                pool.submit(extract_clip, job)
            if pool.in_flight == 0:
                break
            for job, outcome in pool.wait():
                if isinstance(outcome, BaseException):
                    if job.index not in retried:  # a worker died, maybe on another clip
                        retried.add(job.index)
                        pending.append(job)
                        continue
                    outcome = ClipResult(
                        job.index,
                        job.id,
                        error=f"the worker stopped on this clip ({type(outcome).__name__}: "
                        f"{' '.join(str(outcome).split()) or 'no message'})",
                        stage="worker",
                    )
                yield outcome
    except BaseException:  # an error, or the caller stopped early (GeneratorExit)
        pool.close(cancel=True)
        raise
    pool.close()


def extract_clips(
    clips: Sequence[Clip],
    settings: ExtractionSettings,
    *,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    on_result: Callable[[ClipResult], None] | None = None,
) -> tuple[Split, list[ClipResult]]:
    """Extract ``clips`` exactly as :func:`extract_dataset` would with ``settings``: same
    extractors, word timing, alignment, T, left zero padding and, for settings from
    :func:`settings_like`, the recorded standardisation (fresh settings have no train split to
    take statistics from, so they leave the values raw).

    For prediction on new clips. With one worker the clips are extracted in this process,
    whose extractor instances are kept, so repeated calls load their models once; with more,
    in a pool of ``workers`` spawned processes (each loads the models once).

    Parameters
    ----------
    cache_dir : the per-clip cache folder (None: no cache); a clip extracted before with the
        same extractors is read back instead
    workers : processes extracting at once (1: this process)
    on_result : called with each clip's :class:`ClipResult` as it ends (in the order they
        end); an exception it raises stops the extraction and propagates

    Returns
    -------
    (split, results): ``split`` holds the clips that worked, in order, as (n, T_m, D_m)
    float32 tensors with their lengths, ids the clips' positions in ``clips`` ("0", "1", ...)
    and no labels; ``results`` has one :class:`ClipResult` per clip (``error`` set for a clip
    that failed, one line, with the stage).
    """
    extractors = build_extractors(settings)
    classes = {m: (type(e), e.settings) for m, e in extractors.items()}
    dims = {m: int(e.dim) for m, e in extractors.items()}
    lengths = settings.lengths()
    cache = _cache_folder(cache_dir)
    jobs = (ClipJob(i, str(i), c, classes, settings, cache) for i, c in enumerate(clips))
    done: dict[int, ClipResult] = {}
    with closing(run_jobs(local_pool(workers), jobs)) as outcomes:  # closed even on errors
        for result in outcomes:
            done[result.index] = result
            if on_result is not None:
                on_result(result)
    results = [done[i] for i in range(len(clips))]
    ok = [r for r in results if r.error is None]
    features = {m: np.zeros((len(ok), lengths[m], d), np.float32) for m, d in dims.items()}
    valid = {m: np.zeros(len(ok), np.int64) for m in dims}
    for row, r in enumerate(ok):
        for m, x in r.rows.items():
            if len(x):
                features[m][row, -len(x) :] = x
            valid[m][row] = len(x)
    split = Split(
        features=features,
        lengths=valid,
        labels=np.zeros((len(ok), 0), np.uint8),
        ids=np.array([r.id for r in ok], dtype=str),
    )
    if isinstance(settings.standardize, dict):  # True needs a train split: nothing to apply
        standardize_splits({"test": split}, settings.standardize)
    return split, results


def _jobs(
    raw: RawDataset,
    extractors: dict[str, Extractor],
    settings: ExtractionSettings,
    cache: str | None,
) -> Iterator[ClipJob]:
    classes = {m: (type(e), e.settings) for m, e in extractors.items()}
    for i, c in enumerate(raw.clips):
        yield ClipJob(i, c.id, c.clip, classes, settings, cache)


def extract_dataset(
    raw: RawDataset,
    settings: ExtractionSettings,
    *,
    cache_dir: str | Path | None = None,
    workers: int = 1,
    pool: ClipPool | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> ExtractionResult:
    """Extract every clip of ``raw`` and assemble the dataset of those that worked.

    Parameters
    ----------
    raw : the clips and labels (:func:`emotrans.media.layouts.registry.read_layout`)
    settings : extractors and tensor shapes (:func:`make_settings`)
    cache_dir : the per-clip cache folder (None: no cache)
    workers : local worker processes when no ``pool`` is given (1: this process)
    pool : a pool with the :class:`~emotrans.media.pool.ClipPool` interface (e.g. on Ray)
    progress : called after each clip with a :class:`Progress`

    Returns
    -------
    :class:`ExtractionResult`; its dataset holds only the clips that worked, and its
    ``extraction`` record lists the others. Raises :class:`MediaError` when no clip worked.
    """
    extractors = build_extractors(settings)
    dims = {m: int(e.dim) for m, e in extractors.items()}
    lengths = settings.lengths()
    assembler = _Assembler(raw, dims, lengths)
    cache = _cache_folder(cache_dir)
    results: dict[int, ClipResult] = {}
    failed = cached = 0
    started = time.perf_counter()
    jobs = _jobs(raw, extractors, settings, cache)
    with closing(run_jobs(pool or local_pool(workers), jobs)) as outcomes:
        for outcome in outcomes:
            if outcome.error is None:
                assembler.place(outcome)
                outcome.rows = {}  # placed: free the rows
            else:
                failed += 1
            cached += outcome.cached
            results[outcome.index] = outcome
            if progress is not None:
                progress(
                    Progress(
                        len(results), len(raw.clips), failed, cached, outcome,
                        time.perf_counter() - started,
                    )
                )  # fmt: skip

    failures = [
        ClipFailure(r.id, raw.clips[i].split, raw.clips[i].clip.path, r.stage or "", r.error or "")
        for i, r in sorted(results.items())
        if r.error is not None
    ]
    if len(failures) == len(raw.clips):
        first = failures[0]
        raise MediaError(
            f"no clip could be extracted ({len(failures)} failed; the first: {first.id}: "
            f"{first.reason})"
        )
    timing = {r.id: r.timing for _, r in sorted(results.items()) if r.error is None and r.timing}
    counts = {s: sum(1 for v in timing.values() if v == s) for s in TIMING_SOURCES}
    record = {
        "emotrans": __version__,
        "source": raw.source,
        "layout": raw.meta.get("layout"),
        "extractors": {m: e.describe() for m, e in extractors.items()},
        "alignment": "words" if settings.aligned else "unaligned",
        "seq_len": lengths,
        "rates": (
            None
            if settings.aligned
            else {m: settings.rates.get(m) for m in extractors if m != "text"}
        ),
        "timing": {"counts": counts, "function": settings.timing, "by_clip": timing},
        "split": raw.split,
        "single_label": raw.single_label,
        "clips": {
            "total": len(raw.clips),
            "extracted": len(raw.clips) - len(failures),
            "failed": len(failures),
            "from_cache": cached,
        },
        "skipped": [f.to_dict() for f in failures],
    }
    keep_intensities = raw.task == "sentiment" or any(
        bool(np.any((c.labels != 0) & (c.labels != 1))) for c in raw.clips
    )
    splits = assembler.splits(keep_intensities)
    record["standardized"] = standardize_splits(splits, settings.standardize)
    dataset = Dataset(
        name=raw.name,
        emotions=list(raw.emotions),
        splits=splits,
        aligned=settings.aligned,
        source=raw.source,
        nonfinite={k: v for k, v in assembler.nonfinite.items() if v},
        meta={"format": "extracted", "layout": raw.meta.get("layout"), "layout_meta": raw.meta},
        task=raw.task,
        single_label=bool(raw.single_label) and raw.task == "emotion",
    )
    dataset.extraction = record
    return ExtractionResult(dataset.validate(), failures, record)

"""Generator of CMU-MOSEI-scale computational sequences (``.csd``), for tests and benchmarks.

At ``scale=1`` it writes about what the CMU-MultimodalSDK ships for CMU-MOSEI: 3,800 videos
of 40 to 80 s (one minute on average), about 150 words and 6 labelled segments (23,000 in
all) per video, in four gzip-compressed files in the SDK's layout:

============================================ ============== =========================================
file                                         root           rows per video
============================================ ============== =========================================
``CMU_MOSEI_TimestampedWordVectors.csd``     glove_vectors  one per word, 300-d GloVe-like vectors
``CMU_MOSEI_COVAREP.csd``                    COVAREP        100 Hz frames, 74-d, some -inf in F0
``CMU_MOSEI_VisualFacet42.csd``              FACET 4.2      30 Hz frames, 35-d, gaps with no face
``CMU_MOSEI_Labels.csd``                     All Labels     one per segment: sentiment, happy, sad,
                                                            anger, surprise, disgust, fear
============================================ ============== =========================================

plus ``folds.json`` (train / valid / test video lists in the standard 2,249 : 300 : 678
proportions, covering about 85% of the videos). The data carry what real files carry and the
converter must handle: words of zero length, label rows stored out of time order, segments
that touch, stretches with no FACET frame (so imputed words), a few videos missing from one
file, a few fold ids found in no file, and ids that are prefixes of other ids. Feature
values are quantised to 1/64 so that gzip compresses them about as well as real features.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emotrans.data.csd import CsdWriter
from emotrans.data.csd_align import LABEL_COLUMNS
from emotrans.data.folds import write_folds

log = logging.getLogger(__name__)

FULL_VIDEOS = 3800
"""Videos at ``scale=1`` (CMU-MOSEI: about 3,800 with features, 23,000 labelled segments)."""

FILES = {
    "text": ("CMU_MOSEI_TimestampedWordVectors.csd", "glove_vectors"),
    "audio": ("CMU_MOSEI_COVAREP.csd", "COVAREP"),
    "vision": ("CMU_MOSEI_VisualFacet42.csd", "FACET 4.2"),
    "labels": ("CMU_MOSEI_Labels.csd", "All Labels"),
}
DIMS = {"text": 300, "audio": 74, "vision": 35, "labels": len(LABEL_COLUMNS)}
RATES = {"audio": 100.0, "vision": 30.0}

COVAREP_NAMES = (
    ["F0", "VUV", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "peakSlope", "Rd", "Rd_conf", "creak"]
    + [f"MCEP_{i}" for i in range(25)]
    + [f"HMPDM_{i}" for i in range(25)]
    + [f"HMPDD_{i}" for i in range(13)]
)
FACET_NAMES = (
    ["Anger", "Contempt", "Disgust", "Joy", "Fear", "Baseline", "Sadness", "Surprise"]
    + ["Confusion", "Frustration"]
    + [f"AU{i}" for i in (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 18, 20, 23, 24, 25, 26, 28, 43)]
    + ["Pitch", "Yaw", "Roll", "Has_Glasses", "Is_Male"]
)
# Probability that an emotion's intensity is above 0, per All Labels column after sentiment.
_PRESENT = {
    "happy": 0.52,
    "sad": 0.26,
    "anger": 0.21,
    "surprise": 0.10,
    "disgust": 0.17,
    "fear": 0.08,
}
_FOLD_SHARE = (2249, 300, 678)
_VOCABULARY = 4000
_ID_CHARS = string.ascii_letters + string.digits + "-_"


def write_synthetic_csd(
    out_dir: str | Path,
    *,
    scale: float = 1.0,
    videos: int | None = None,
    seed: int = 0,
    seconds: float = 60.0,
    missing_videos: bool = True,
    compression_level: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Write the four ``.csd`` files and ``folds.json`` into ``out_dir``.

    Parameters
    ----------
    out_dir : directory (created)
    scale : fraction of the full size (``videos = round(3800 * scale)``, at least 4)
    videos : exact number of videos instead of ``scale``
    seed : random seed; the same seed gives the same files
    seconds : mean video length (lengths are uniform in [2/3, 4/3] of it; at least 6 s)
    missing_videos : leave a few videos out of some files (as real releases do)
    compression_level : gzip level (the SDK writes 9; 1 writes much faster, reads the same)
    progress : called as ``progress(done, total)`` after each video

    Returns
    -------
    dict ``text``, ``audio``, ``vision``, ``labels``, ``folds`` -> path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_videos = max(4, int(round(FULL_VIDEOS * scale)) if videos is None else int(videos))
    rng = np.random.default_rng(seed)
    ids = _video_ids(rng, n_videos)
    vocabulary = rng.standard_normal((_VOCABULARY, DIMS["text"]), dtype=np.float32) * 0.35
    vocabulary = _quantise(vocabulary)
    zipf = 1.0 / np.arange(1, _VOCABULARY + 1)
    zipf /= zipf.sum()

    # Which videos each file lacks (a few per file), and the folds.
    missing = {
        m: set(rng.choice(n_videos, size=max(0, n_videos // share), replace=False).tolist())
        for m, share in (("audio", 500), ("vision", 300), ("labels", 400))
    }
    if not missing_videos:
        missing = {m: set() for m in missing}
    elif n_videos >= 50:  # the shortest prefixing id lacks FACET: --sdk-compat drops id + "0" too
        missing["vision"].add(0)
    paths = {m: out / name for m, (name, _) in FILES.items()}
    metadata = _metadata()
    writers = {
        m: CsdWriter(paths[m], root, metadata[m], compression_opts=compression_level)
        for m, (_, root) in FILES.items()
    }
    for w in writers.values():
        w.__enter__()
    try:
        for done, (index, video_id) in enumerate(enumerate(ids), 1):
            video_rng = np.random.default_rng([seed, index])
            rows = _video(video_rng, vocabulary, zipf, max(6.0, seconds))
            for m, writer in writers.items():
                if index not in missing.get(m, ()):
                    writer.add(video_id, *rows[m])
            if progress:
                progress(done, n_videos)
    except BaseException as exc:
        for w in writers.values():
            w.__exit__(type(exc), exc, exc.__traceback__)
        raise
    for w in writers.values():
        w.__exit__(None, None, None)

    in_folds = rng.permutation(n_videos)[: int(round(0.85 * n_videos))]
    cuts = np.cumsum(np.array(_FOLD_SHARE) / sum(_FOLD_SHARE) * len(in_folds)).round().astype(int)
    folds = {
        "train": [ids[i] for i in sorted(in_folds[: cuts[0]])],
        "valid": [ids[i] for i in sorted(in_folds[cuts[0] : cuts[1]])],
        "test": [ids[i] for i in sorted(in_folds[cuts[1] :])],
    }
    for split, ghosts in (("train", 3), ("test", 1)):  # ids found in no file, as in real folds
        folds[split] += [f"absent{split}{i}" for i in range(ghosts)]
    paths["folds"] = write_folds(folds, out / "folds.json")
    (out / "synthetic_csd.json").write_text(
        json.dumps(
            {
                "videos": n_videos,
                "seed": seed,
                "scale": scale,
                "seconds": seconds,
                "missing_videos": missing_videos,
                "compression_level": compression_level,
                "missing": {m: len(v) for m, v in missing.items()},
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    return paths


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    """YouTube-like ids and numeric ids, unique, with a few ids that prefix others."""
    ids: list[str] = []
    seen: set[str] = set()
    while len(ids) < n:
        if rng.random() < 0.3:
            candidate = str(int(rng.integers(10_000, 300_000)))
        else:
            candidate = "".join(rng.choice(list(_ID_CHARS), size=11))
        if candidate not in seen:
            seen.add(candidate)
            ids.append(candidate)
    for i in range(min(3, n // 50)):  # id + "0" prefixed by id
        if ids[i] + "0" not in seen:
            ids[-(i + 1)] = ids[i] + "0"
    return ids


def _quantise(x: np.ndarray) -> np.ndarray:
    return np.round(x * 64.0) / 64.0


def _video(
    rng: np.random.Generator, vocabulary: np.ndarray, zipf: np.ndarray, seconds: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Intervals and features of one video in every file."""
    duration = float(rng.uniform(seconds * 2 / 3, seconds * 4 / 3))
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # Words: back to back with short pauses; about 1% have zero length.
    n_guess = int(duration * 3)
    lengths = rng.uniform(0.12, 0.5, n_guess)
    lengths[rng.random(n_guess) < 0.01] = 0.0
    gaps = rng.exponential(0.08, n_guess) * (rng.random(n_guess) < 0.7)
    starts = 0.5 + np.cumsum(np.concatenate([[0.0], (lengths + gaps)[:-1]]))
    keep = starts + lengths < duration - 0.3
    starts, lengths = starts[keep], lengths[keep]
    words = np.round(np.stack([starts, starts + lengths], axis=1), 3)  # (n_w, 2)
    tokens = rng.choice(len(vocabulary), size=len(words), p=zipf)
    out["text"] = (words, vocabulary[tokens])

    # Frame-level features: a per-video level plus noise, quantised.
    for m in ("audio", "vision"):
        rate = RATES[m]
        n = int(duration * rate)
        k = np.arange(n + 1, dtype=np.float64) / rate
        intervals = np.stack([k[:-1], k[1:]], axis=1)  # (n, 2)
        level = rng.standard_normal(DIMS[m]).astype(np.float32)
        feats = level + 0.5 * rng.standard_normal((n, DIMS[m]), dtype=np.float32)
        feats = _quantise(feats).astype(np.float32)
        if m == "audio":
            unvoiced = rng.random(n) < 0.4
            feats[:, 1] = (~unvoiced).astype(np.float32)  # VUV
            feats[unvoiced, 0] = 0.0  # F0
            feats[rng.random(n) < 0.002, 0] = -np.inf
        elif rng.random() < 0.3:  # the face is lost for a few seconds
            a = rng.uniform(0.0, max(0.0, duration - 5.5))
            lost = (intervals[:, 0] >= a) & (intervals[:, 1] <= a + rng.uniform(1.0, 5.0))
            intervals, feats = intervals[~lost], feats[~lost]
        out[m] = (intervals, feats)

    # Labelled segments: consecutive runs of words, some touching, some out of time order.
    n_w = len(words)
    n_seg = int(np.clip(rng.poisson(6.05), 1, max(1, n_w // 4)))
    cuts = (
        np.sort(rng.choice(np.arange(1, n_w), size=n_seg - 1, replace=False)) if n_seg > 1 else []
    )
    bounds = np.concatenate([[0], cuts, [n_w]]).astype(int)
    segs = []
    previous_end = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        start = max(previous_end, round(words[a, 0] - rng.uniform(0.0, 0.2), 3))  # may touch
        end = max(round(words[b - 1, 1] + rng.uniform(0.0, 0.2), 3), start + 0.05)
        segs.append([start, end])
        previous_end = end
    segments = np.array(segs, dtype=np.float64)
    labels = np.zeros((len(segments), DIMS["labels"]), dtype=np.float32)
    labels[:, 0] = rng.integers(-9, 10, len(segments)) / 3.0
    for column, p in _PRESENT.items():
        j = LABEL_COLUMNS.index(column)
        present = rng.random(len(segments)) < p
        labels[present, j] = rng.integers(1, 10, int(present.sum())) / 3.0
    if rng.random() < 0.1:
        order = rng.permutation(len(segments))
        segments, labels = segments[order], labels[order]
    out["labels"] = (segments, labels)
    return out


def _metadata() -> dict[str, dict[str, object]]:
    common = {
        "computational sequence version": "1.0",
        "alignment compatible": True,
        "dataset name": "CMU-MOSEI (synthetic)",
        "dataset version": "1.0",
        "creator": "emotrans synthetic_csd",
        "contact": "",
        "featureset bib citation": "",
        "dataset bib citation": "",
    }
    names = {
        "text": [f"glove_{i}" for i in range(DIMS["text"])],
        "audio": COVAREP_NAMES,
        "vision": FACET_NAMES,
        "labels": list(LABEL_COLUMNS),
    }
    descriptions = {
        "text": "word vectors (GloVe-like, 300-d), one row per word",
        "audio": "COVAREP acoustic features at 100 Hz",
        "vision": "FACET 4.2 facial features at 30 Hz",
        "labels": "sentiment and six emotion intensities per labelled segment",
    }
    return {
        m: {
            **common,
            "computational sequence description": descriptions[m],
            "dimension names": names[m],
        }
        for m in FILES
    }

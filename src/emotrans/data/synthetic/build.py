"""Synthetic datasets with a planted signal, in every supported file format.

The generator writes data of the real sizes and shapes (CMU-MOSEI emotion, IEMOCAP-4,
IEMOCAP-9, CMU-MOSEI sentiment) whose labels depend on the features through the emotion
embeddings, so that supervised learning and zero-shot transfer are both possible, and it
records its own Bayes-optimal scores (the *oracle*) so that the best achievable metrics are
known.

The world
---------
A *world* depends only on the seed and the embedding source, never on the dataset, so that
IEMOCAP-4 data and IEMOCAP-9 extras generated with the same seed and source share it:

* emotion vectors ``e_k`` for the reference vocabulary :data:`REFERENCE_VOCABULARY` (every
  emotion name of every dataset) come from the embedding source, unit-normalised;
* an affect projection ``Q`` (d x r, r = :data:`AFFECT_RANK`: the top-r principal
  directions of those vectors, turned by a seeded random rotation) gives each emotion a code
  ``c_k = e_k Q``, a fixed linear map of its vector, scaled to unit norm;
* a random mixing matrix ``M_m`` (r x D_m) per modality maps the affect space to features.

Samples
-------
Each sample has a latent affect ``z ~ N(0, I_r)`` and emotion scores ``s_k = z . c_k``.

* Multi-label (``mosei``): ``y_k = 1[s_k + SIGMA_Y eps_k > theta_k]`` with ``theta_k`` set so
  that the prevalence matches CMU-MOSEI's training rates; oracle
  ``p_k = Phi((s_k - theta_k) / SIGMA_Y)``. Intensities (h5 layout) are 1/3 .. 3 in thirds,
  growing with the margin, for positives, and 0 for negatives.
* Single-label (``iemocap``, ``iemocap9``): ``y = argmax_k(s_k / TAU + b_k + Gumbel)`` with
  biases ``b_k`` fitted to the real class proportions; oracle ``softmax(s / TAU + b)``.
* Sentiment (``mosei-senti``): ``score = clip(1.5 (z . w + SIGMA_Y eps), -3, 3)`` with
  ``w`` the unit direction of ``c_happy - c_sad``; label ``score > 0``; oracle
  ``Phi(z . w / SIGMA_Y)``.

Features: at each valid step t, ``x_m[t] = a_t (z M_m) + NOISE[m] * N(0, I)`` with
``a_t ~ 1 + 0.2 N(0, 1)``; text carries the most information, audio and vision less but
enough on their own. Valid lengths are T (with probability 0.4) or uniform between T/2 and T,
with left zero padding; about 0.5 % of valid audio frames get -inf in column 0 (as COVAREP's
F0 does).

The oracle is stored as a logit adjusted by the training split's ``log(neg/pos)`` per
emotion, so that ``sigmoid(logit) > 0.5`` is its balanced decision (what a model trained with
BCE and ``pos_weight = neg/pos`` learns to approximate).

Sizes: the real split sizes times ``scale``, rounded half up, at least 8 per split.

Calibration (``benchmarks/check_synthetic_signal.py --embeddings default``, full CMU-MOSEI
size, test split): the oracle's average weighted accuracy is 0.80; a logistic regression on
each sample's mean features (all modalities) reaches 0.79 (about 1 point less), text alone
0.80, audio alone 0.71, vision alone 0.70; the zero-shot ceiling (:func:`zero_shot_ceiling`)
is 0.80 ROC AUC on average over the six emotions.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import shutil
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.atomic import atomic_path, write_text_atomic
from emotrans.data.dataset import SPLITS, Dataset, Split, replace_nonfinite
from emotrans.errors import ConfigError, DataFormatError
from emotrans.modalities import MODALITIES

log = logging.getLogger(__name__)

REFERENCE_VOCABULARY: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
    "angry",
    "excited",
    "surprised",
    "frustrated",
)
"""Every emotion name of every synthetic dataset; their principal directions make the affect
space."""

AFFECT_RANK = 4
"""Dimension r of the latent affect space.

Zero-shot transfer needs an unseen emotion's scores to follow from the seen emotions' scores
the way its vector follows from theirs: a model trained on five CMU-MOSEI emotions only learns
the part of its utterance vector that lies in the span of their five vectors. With codes that
are a linear map of the (not centred) vectors this holds approximately, the better the lower
r: predicting each held-out emotion from the other five emotions' oracle scores, combined with
the least-squares weights that rebuild its vector from theirs, gives a test ROC AUC of about
0.83 (r = 3), 0.80 (r = 4), 0.77 (r = 5) on average over the six, where centred codes gave
0.4-0.6 (no transfer). r = 4 keeps most of the emotions' geometry with room for the target.
"""

DIMS: dict[str, int] = {"text": 300, "audio": 74, "vision": 35}
"""Feature dimension per modality (GloVe, COVAREP, FACET)."""

NOISE: dict[str, float] = {"text": 5.0, "audio": 16.0, "vision": 12.0}
"""Per-step noise standard deviation per modality (the signal has unit variance per feature)."""

SIGMA_Y = 0.85
"""Label noise of the multi-label and sentiment datasets (oracle average WA about 0.80)."""

TAU = 0.5
"""Temperature of the single-label datasets' scores."""

AMPLITUDE_SD = 0.2
"""Standard deviation of the per-step amplitude ``a_t`` around 1."""

FULL_LENGTH_RATE = 0.4
"""Share of samples whose sequences use every step."""

AUDIO_NEG_INF_RATE = 0.005
"""Share of valid audio frames whose column 0 is -inf."""

SENTIMENT_SCALE = 1.5
"""Sentiment score = clip(SENTIMENT_SCALE * (z . w + noise), -3, 3)."""

INTENSITY_STEP = 0.5
"""Margin per intensity level (1/3) above the threshold, CMU-MOSEI h5 layout."""

GENERATOR_VERSION = 2
_ROW_BLOCK = 1024  # rows generated at a time (keeps temporaries small; fixed for determinism)


@dataclass(frozen=True)
class DatasetSpec:
    """Shape of one synthetic dataset (the real one's sizes and label kinds)."""

    name: str
    emotions: tuple[str, ...]
    sizes: tuple[int, int, int]
    steps: int
    kind: str  # "multi", "single" or "sentiment"
    rates: tuple[float, ...]  # prevalence (multi) or class proportions (single)
    formats: tuple[str, ...]
    unaligned_steps: dict[str, int] = field(default_factory=dict)


_IEMOCAP9_COUNTS = (735, 686, 19, 690, 65, 1235, 338, 954, 1)

SPECS: dict[str, DatasetSpec] = {
    "mosei": DatasetSpec(
        name="mosei",
        emotions=("anger", "disgust", "fear", "happy", "sad", "surprise"),
        sizes=(16326, 1871, 4659),
        steps=20,
        kind="multi",
        rates=(0.22, 0.18, 0.08, 0.53, 0.25, 0.10),
        formats=("mosei-h5", "native"),
    ),
    "iemocap": DatasetSpec(
        name="iemocap",
        emotions=("neutral", "happy", "sad", "angry"),
        sizes=(2717, 798, 938),
        steps=20,
        kind="single",
        rates=(0.33, 0.30, 0.18, 0.19),
        formats=("mult", "mult-noalign", "native"),
        unaligned_steps={"text": 20, "audio": 400, "vision": 500},
    ),
    "iemocap9": DatasetSpec(
        name="iemocap9",
        emotions=(
            "anger",
            "excited",
            "fear",
            "sad",
            "surprised",
            "frustrated",
            "happy",
            "neutral",
            "disgust",
        ),
        sizes=(
            sum(_IEMOCAP9_COUNTS),
            round(sum(_IEMOCAP9_COUNTS) * 798 / 2717),
            round(sum(_IEMOCAP9_COUNTS) * 938 / 2717),
        ),
        steps=21,
        kind="single",
        rates=tuple(c / sum(_IEMOCAP9_COUNTS) for c in _IEMOCAP9_COUNTS),
        formats=("iemocap9", "native"),
    ),
    "mosei-senti": DatasetSpec(
        name="mosei-senti",
        emotions=("sentiment",),
        sizes=(16326, 1871, 4659),
        steps=50,
        kind="sentiment",
        rates=(),
        formats=("mult", "mult-noalign", "native"),
        unaligned_steps={"text": 50, "audio": 500, "vision": 500},
    ),
}
"""The synthetic datasets by name."""

SYNTH_FORMATS: tuple[str, ...] = ("mosei-h5", "mult", "mult-noalign", "iemocap9", "native")


# -- the world ---------------------------------------------------------------------------------


@dataclass
class World:
    """Everything shared by all datasets of one (seed, embedding source).

    Attributes
    ----------
    seed, embeddings : what determines the world
    vectors : dict name -> raw emotion vector (d,), float32, as the source gave it
    codes : dict name -> unit affect code (r,), float64
    mixing : dict modality -> (r, D_m) float64 map from affect to features
    """

    seed: int
    embeddings: str
    vectors: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    mixing: dict[str, np.ndarray]

    @property
    def dim(self) -> int:
        """Embedding dimension d."""
        return int(next(iter(self.vectors.values())).shape[0])

    def code_matrix(self, names: Sequence[str]) -> np.ndarray:
        """Codes of ``names`` stacked, shape (K, r)."""
        return np.stack([self.codes[n] for n in names])


def _rng(seed: int, *keys: str) -> np.random.Generator:
    """An independent, reproducible stream for ``seed`` and a path of names."""
    return np.random.default_rng([int(seed), *(zlib.crc32(k.encode()) for k in keys)])


def affect_projection(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The affect projection Q (d, r): the top-r principal directions of the (unit, not
    centred) reference vectors, turned by a seeded random rotation.

    A plain Gaussian projection from d dimensions down to r = 5 distorts the emotions'
    geometry badly (with the default embeddings it made "disgust" and "happy" nearly
    collinear); the principal directions keep as much of it as r dimensions can (with the
    default embeddings: anger/angry 0.97, surprise/surprised 0.94, happy/disgust -0.42).
    The rotation leaves the codes' angles unchanged and makes the axes depend on the seed.
    """
    _, _, vt = np.linalg.svd(vectors, full_matrices=False)  # vt: (min(V, d), d)
    k = min(AFFECT_RANK, vt.shape[0])
    basis = np.zeros((vectors.shape[1], AFFECT_RANK))
    basis[:, :k] = vt[:k].T
    signs = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(AFFECT_RANK)])
    basis *= np.where(signs == 0, 1.0, signs)  # SVD signs are arbitrary: fix them
    gauss = rng.standard_normal((AFFECT_RANK, AFFECT_RANK))
    rotation, upper = np.linalg.qr(gauss)
    rotation *= np.sign(np.diag(upper))  # a uniformly random rotation
    return basis @ rotation


def make_world(seed: int = 0, embeddings: str = "default") -> World:
    """Build the world of ``seed`` and embedding source spec ``embeddings``."""
    from emotrans.embeddings import load_source

    source = load_source(embeddings)
    raw = np.asarray(source.embed(list(REFERENCE_VOCABULARY)), dtype=np.float32)  # (V, d)
    if raw.ndim != 2 or raw.shape[0] != len(REFERENCE_VOCABULARY):
        raise ConfigError(f"embedding source {embeddings!r} returned shape {raw.shape}")
    unit = raw.astype(np.float64)
    norms = np.linalg.norm(unit, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.isfinite(unit).all():
        raise ConfigError(f"embedding source {embeddings!r} gave a zero or non-finite vector")
    unit /= norms
    q = affect_projection(unit, _rng(seed, "world", "projection"))  # (d, r)
    codes = unit @ q  # (V, r): a fixed linear map of each emotion's vector
    code_norms = np.linalg.norm(codes, axis=1, keepdims=True)
    if np.any(code_norms < 1e-9):
        raise ConfigError(
            f"embedding source {embeddings!r}: some emotion vectors are orthogonal to the "
            "vocabulary's principal directions; no emotion code can be built from them"
        )
    codes /= code_norms
    mixing = {
        m: _rng(seed, "world", "mixing", m).standard_normal((AFFECT_RANK, d))
        / math.sqrt(AFFECT_RANK)
        for m, d in DIMS.items()
    }
    return World(
        seed=int(seed),
        embeddings=str(embeddings),
        vectors={n: raw[i] for i, n in enumerate(REFERENCE_VOCABULARY)},
        codes={n: codes[i] for i, n in enumerate(REFERENCE_VOCABULARY)},
        mixing=mixing,
    )


# -- labels ------------------------------------------------------------------------------------


def split_sizes(spec: DatasetSpec, scale: float) -> dict[str, int]:
    """Samples per split: real size x ``scale`` rounded half up, at least 8."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"--scale must be a positive number, not {scale}")
    return {s: max(8, int(math.floor(n * scale + 0.5))) for s, n in zip(SPLITS, spec.sizes)}


def _thresholds(spec: DatasetSpec) -> np.ndarray:
    """theta_k such that P(s_k + SIGMA_Y eps > theta_k) equals the target prevalence."""
    from scipy.special import ndtri

    return -math.sqrt(1 + SIGMA_Y**2) * ndtri(np.asarray(spec.rates))


def _biases(spec: DatasetSpec, world: World) -> np.ndarray:
    """b_k such that the expected class proportions of softmax(s / TAU + b) match the spec."""
    from scipy.special import logsumexp

    z = _rng(world.seed, "bias", spec.name).standard_normal((20_000, AFFECT_RANK))
    scores = z @ world.code_matrix(spec.emotions).T / TAU  # (n, K)
    target = np.asarray(spec.rates)
    b = np.log(target)
    for _ in range(300):  # fixed point: raise the bias of under-represented classes
        logits = scores + b
        mean = np.exp(logits - logsumexp(logits, axis=1, keepdims=True)).mean(axis=0)
        step = np.log(target / mean)
        b += step
        if np.max(np.abs(step)) < 1e-4:
            break
    return b - b.mean()


@dataclass
class _Labels:
    labels: np.ndarray  # (n, K) uint8
    oracle: np.ndarray  # (n, K) float64: logit of the oracle posterior (not yet adjusted)
    intensities: np.ndarray | None  # (n, K) float32
    classes: np.ndarray | None = None  # (n,) int, single-label only


def _draw_labels(
    spec: DatasetSpec, world: World, z: np.ndarray, rng: np.random.Generator, params: dict
) -> _Labels:
    from scipy.special import log_ndtr, logsumexp

    n = z.shape[0]
    if spec.kind == "multi":
        s = z @ world.code_matrix(spec.emotions).T  # (n, K)
        theta = params["thresholds"]
        margin = s + SIGMA_Y * rng.standard_normal(s.shape) - theta  # (n, K)
        labels = (margin > 0).astype(np.uint8)
        levels = np.clip(1 + np.floor(margin / INTENSITY_STEP), 1, 9)
        intensities = np.where(margin > 0, levels / 3.0, 0.0).astype(np.float32)
        u = (s - theta) / SIGMA_Y
        oracle = log_ndtr(u) - log_ndtr(-u)  # logit(Phi(u)), stable in both tails
        return _Labels(labels, oracle, intensities)
    if spec.kind == "single":
        logits = z @ world.code_matrix(spec.emotions).T / TAU + params["biases"]  # (n, K)
        gumbel = -np.log(-np.log(rng.uniform(np.finfo(float).tiny, 1.0, size=logits.shape)))
        classes = np.argmax(logits + gumbel, axis=1)  # (n,)
        labels = np.zeros(logits.shape, dtype=np.uint8)
        labels[np.arange(n), classes] = 1
        # logit(p_k) = l_k - logsumexp_{j != k} l_j
        k = logits.shape[1]
        others = np.stack(
            [logsumexp(np.delete(logits, j, axis=1), axis=1) for j in range(k)], axis=1
        )
        return _Labels(labels, logits - others, None, classes)
    # sentiment
    w = params["direction"]
    u = z @ w  # (n,)
    raw = u + SIGMA_Y * rng.standard_normal(n)
    score = np.clip(SENTIMENT_SCALE * raw, -3.0, 3.0).astype(np.float32)
    labels = (score > 0).astype(np.uint8)[:, None]  # (n, 1)
    v = u / SIGMA_Y
    oracle = (log_ndtr(v) - log_ndtr(-v))[:, None]
    return _Labels(labels, oracle, score[:, None])


def _label_params(spec: DatasetSpec, world: World) -> dict[str, Any]:
    if spec.kind == "multi":
        return {"thresholds": _thresholds(spec)}
    if spec.kind == "single":
        return {"biases": _biases(spec, world)}
    w = world.codes["happy"] - world.codes["sad"]
    return {"direction": w / np.linalg.norm(w)}


# -- features ----------------------------------------------------------------------------------


def _lengths(rng: np.random.Generator, n: int, steps: dict[str, int]) -> dict[str, np.ndarray]:
    """Valid lengths per modality from one shared fraction per sample: 1 (full) with
    probability FULL_LENGTH_RATE, else uniform in [1/2, 1]."""
    full = rng.random(n) < FULL_LENGTH_RATE
    fraction = np.where(full, 1.0, rng.uniform(0.5, 1.0, n))
    out = {}
    for m, t in steps.items():
        low = (t + 1) // 2
        out[m] = np.clip(np.rint(fraction * t), low, t).astype(np.int64)
    return out


def _features(
    rng: np.random.Generator,
    signal: np.ndarray,
    lengths: np.ndarray,
    amplitude: np.ndarray,
    steps: int,
    noise: float,
    neg_inf_rate: float,
) -> np.ndarray:
    """Left-padded features for one modality, block by block.

    Parameters
    ----------
    signal : (N, D) per-sample signal z M_m
    lengths : (N,) valid steps
    amplitude : (N, T) per-step amplitude a_t

    Returns
    -------
    float32 array of shape (N, T, D), zero on padded steps, -inf in column 0 of some valid
    frames when ``neg_inf_rate`` > 0.
    """
    n, d = signal.shape
    out = np.empty((n, steps, d), dtype=np.float32)
    t_index = np.arange(steps)
    for start in range(0, n, _ROW_BLOCK):
        stop = min(n, start + _ROW_BLOCK)
        rows = stop - start
        block = rng.standard_normal((rows, steps, d), dtype=np.float32)  # (b, T, D)
        block *= np.float32(noise)
        amp = amplitude[start:stop, :, None].astype(np.float32)  # (b, T, 1)
        block += amp * signal[start:stop, None, :].astype(np.float32)
        valid = t_index[None, :] >= (steps - lengths[start:stop, None])  # (b, T)
        block *= valid[:, :, None]
        if neg_inf_rate > 0:
            hits = (rng.random((rows, steps)) < neg_inf_rate) & valid  # (b, T)
            block[hits, 0] = -np.inf
        out[start:stop] = block
    return out


def _steps(spec: DatasetSpec, aligned: bool) -> dict[str, int]:
    if aligned or not spec.unaligned_steps:
        return {m: spec.steps for m in MODALITIES}
    return dict(spec.unaligned_steps)


def _split(
    spec: DatasetSpec,
    world: World,
    split: str,
    n: int,
    params: dict[str, Any],
    aligned: bool,
) -> tuple[Split, np.ndarray]:
    """One raw split (audio still holds -inf) and its unadjusted oracle logits (N, K)."""
    rng = _rng(world.seed, spec.name, split, "samples")
    z = rng.standard_normal((n, AFFECT_RANK))  # (N, r)
    drawn = _draw_labels(spec, world, z, rng, params)
    steps = _steps(spec, aligned)
    lengths = _lengths(_rng(world.seed, spec.name, split, "lengths"), n, steps)
    amp_rng = _rng(world.seed, spec.name, split, "amplitude")
    shared_amp = 1.0 + AMPLITUDE_SD * amp_rng.standard_normal((n, spec.steps))
    features = {}
    for m in MODALITIES:
        amp = (
            shared_amp
            if steps[m] == spec.steps
            else 1.0 + AMPLITUDE_SD * amp_rng.standard_normal((n, steps[m]))
        )
        features[m] = _features(
            _rng(world.seed, spec.name, split, "features", m),
            z @ world.mixing[m],  # (N, D_m)
            lengths[m],
            amp,
            steps[m],
            NOISE[m],
            AUDIO_NEG_INF_RATE if m == "audio" else 0.0,
        )
    if aligned:
        shared = lengths["text"]
        lengths = {m: shared for m in MODALITIES}
    ids = _ids(spec, split, lengths["text"])
    part = Split(
        features=features,
        lengths=lengths,
        labels=drawn.labels,
        ids=ids,
        intensities=drawn.intensities,
    )
    return part, drawn.oracle


def _id_parts(spec: DatasetSpec, split: str, text_lengths: np.ndarray) -> list[list[str]]:
    """Per sample the strings of a MulT ``id`` entry (sentiment data), else one string."""
    if spec.kind == "sentiment":
        return [[f"{split}_{i}", "0", str(int(t))] for i, t in enumerate(text_lengths)]
    return [[f"{split}_{i}"] for i in range(len(text_lengths))]


def _ids(spec: DatasetSpec, split: str, text_lengths: np.ndarray) -> np.ndarray:
    return np.array(["_".join(p) for p in _id_parts(spec, split, text_lengths)], dtype=str)


# -- oracle ------------------------------------------------------------------------------------


def _adjust(oracle: dict[str, np.ndarray], train_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Add log(neg/pos) of the training split per emotion (counts floored at 1)."""
    pos = train_labels.sum(axis=0).astype(np.float64)
    neg = train_labels.shape[0] - pos
    shift = np.log(np.maximum(neg, 1.0) / np.maximum(pos, 1.0))  # (K,)
    return {k: (v + shift).astype(np.float32) for k, v in oracle.items()}


def _oracle_scores(labels: np.ndarray, logits: np.ndarray, emotions: Sequence[str]) -> dict:
    """Weighted accuracy of the oracle's balanced decision (logit > 0), per emotion."""
    pred = logits > 0
    truth = labels.astype(bool)
    out = {}
    for k, name in enumerate(emotions):
        p, n = truth[:, k].sum(), (~truth[:, k]).sum()
        if p == 0 or n == 0:
            out[name] = None
            continue
        tpr = (pred[:, k] & truth[:, k]).sum() / p
        tnr = (~pred[:, k] & ~truth[:, k]).sum() / n
        out[name] = round(float((tpr + tnr) / 2), 4)
    defined = [v for v in out.values() if v is not None]
    return {
        "wacc": out,
        "average_wacc": round(float(np.mean(defined)), 4) if defined else None,
    }


# -- public API --------------------------------------------------------------------------------


@dataclass
class Synthetic:
    """A generated dataset before cleaning, with its oracle and settings."""

    raw: Dataset  # audio still holds -inf, as the files do
    oracle: dict[str, Any]  # {"emotions": [...], split: {"logits": (N, K), "ids": (N,)}}
    settings: dict[str, Any]
    world: World


def _spec(dataset: str) -> DatasetSpec:
    key = dataset.strip().lower().replace("_", "-")
    if key not in SPECS:
        raise ConfigError(f"unknown synthetic dataset {dataset!r} (use {', '.join(SPECS)})")
    return SPECS[key]


def synthesize(
    dataset: str = "mosei",
    scale: float = 1.0,
    seed: int = 0,
    embeddings: str = "default",
    aligned: bool = True,
) -> Synthetic:
    """Generate a dataset with raw features (audio -inf kept), its oracle and settings."""
    spec = _spec(dataset)
    sizes = split_sizes(spec, float(scale))
    world = make_world(seed, embeddings)
    params = _label_params(spec, world)
    splits: dict[str, Split] = {}
    oracle_raw: dict[str, np.ndarray] = {}
    for split in SPLITS:
        splits[split], oracle_raw[split] = _split(spec, world, split, sizes[split], params, aligned)
    adjusted = _adjust(oracle_raw, splits["train"].labels)
    emotions = list(spec.emotions)
    oracle: dict[str, Any] = {"emotions": emotions}
    scores = {}
    for split, part in splits.items():
        oracle[split] = {"logits": adjusted[split], "ids": part.ids}
        scores[split] = _oracle_scores(part.labels, adjusted[split], emotions)
    settings = {
        "generator": "emotrans.data.synthetic",
        "version": GENERATOR_VERSION,
        "dataset": spec.name,
        "scale": float(scale),
        "seed": int(seed),
        "world_seed": int(seed),
        "embeddings": str(embeddings),
        "embedding_dim": world.dim,
        "emotions": emotions,
        "kind": spec.kind,
        "aligned": bool(aligned),
        "sizes": sizes,
        "steps": _steps(spec, aligned),
        "dims": dict(DIMS),
        "affect_rank": AFFECT_RANK,
        "affect_projection": "top principal directions of the unit reference vectors, "
        "seeded random rotation",
        "reference_vocabulary": list(REFERENCE_VOCABULARY),
        "noise": dict(NOISE),
        "sigma_y": SIGMA_Y,
        "tau": TAU,
        "amplitude_sd": AMPLITUDE_SD,
        "full_length_rate": FULL_LENGTH_RATE,
        "audio_neg_inf_rate": AUDIO_NEG_INF_RATE,
        "label_parameters": {k: np.asarray(v).round(6).tolist() for k, v in params.items()},
        "target_rates": dict(zip(emotions, spec.rates)),
        "oracle_rule": "sigmoid(logit) > 0.5, logit = logit(posterior) + log(neg/pos) of train",
        "oracle": scores,
    }
    raw = Dataset(
        name=spec.name,
        emotions=emotions,
        splits=splits,
        aligned=aligned,
        source=f"synthetic:{spec.name}",
        meta={
            "format": "synthetic",
            "synthetic": {
                "dataset": spec.name,
                "seed": int(seed),
                "scale": float(scale),
                "embeddings": str(embeddings),
            },
        },
    )
    return Synthetic(raw=raw, oracle=oracle, settings=settings, world=world)


def _clean(raw: Dataset) -> Dataset:
    """Replace -inf by 0 in place and record the counts, as a loader would."""
    for split, part in raw.splits.items():
        for m, x in part.features.items():
            raw.nonfinite[f"{split}/{m}"] = replace_nonfinite(x)
    return raw.validate()


def generate(
    dataset: str = "mosei",
    scale: float = 1.0,
    seed: int = 0,
    embeddings: str = "default",
    aligned: bool = True,
) -> tuple[Dataset, dict[str, Any]]:
    """Generate a synthetic dataset in memory.

    Parameters
    ----------
    dataset : ``"mosei"``, ``"iemocap"``, ``"iemocap9"`` or ``"mosei-senti"``
    scale : multiplies every split size (rounded half up, at least 8 per split)
    seed : world and sample seed; the same seed gives the same data
    embeddings : embedding source spec of the emotion vectors (``"random:0"``, ``"default"``,
        ``"dict:PATH"``, ...)
    aligned : False gives the unaligned MulT step counts (iemocap, mosei-senti)

    Returns
    -------
    dataset : cleaned :class:`Dataset` (non-finite audio replaced by 0 and counted), equal to
        what loading the written files gives
    oracle : ``{"emotions": [...], split: {"logits": (N, K) float32, "ids": (N,) str}}``
    """
    synthetic = synthesize(dataset, scale, seed, embeddings, aligned)
    return _clean(synthetic.raw), synthetic.oracle


def write_synthetic(
    out_dir: str | Path,
    dataset: str = "mosei",
    format: str = "native",
    scale: float = 1.0,
    seed: int = 0,
    embeddings: str = "default",
) -> Path:
    """Generate a dataset and write it to ``out_dir`` in ``format``.

    Besides the data files, writes ``oracle.npz`` (``<split>_logits`` (N, K) float32,
    ``<split>_ids`` (N,) str, ``emotions``), ``synthetic.json`` (every setting and the oracle's
    weighted accuracies) and ``emotion_vectors.json`` (the raw vectors of the reference
    vocabulary, so ``dict:OUT/emotion_vectors.json`` rebuilds the same world).

    Every file is first written (atomically) into a hidden sibling folder and moved in only
    when all of them are complete: if anything fails, ``out_dir`` is as it was. ``out_dir`` must be empty or a previous synthetic output
    (whose files are replaced).

    Returns
    -------
    ``out_dir`` as a :class:`Path`.
    """
    spec = _spec(dataset)
    fmt = format.strip().lower().replace("_", "-")
    if fmt not in SYNTH_FORMATS:
        raise ConfigError(f"unknown format {format!r} (use {', '.join(SYNTH_FORMATS)})")
    if fmt not in spec.formats:
        raise ConfigError(
            f"dataset {spec.name} cannot be written as {fmt} (use {', '.join(spec.formats)})"
        )
    out = Path(out_dir).absolute()
    previous = _previous_files(out)
    synthetic = synthesize(spec.name, scale, seed, embeddings, aligned=fmt != "mult-noalign")
    synthetic.settings["format"] = fmt
    # Stage every file in a hidden sibling folder, then move them in: a failure leaves
    # ``out`` as it was.
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        names = _write_data(stage, spec, fmt, synthetic)
        _write_oracle(stage / "oracle.npz", synthetic.oracle)
        vectors = {n: [float(v) for v in vec] for n, vec in synthetic.world.vectors.items()}
        write_text_atomic(stage / "emotion_vectors.json", json.dumps(vectors) + "\n")
        names += ["oracle.npz", "emotion_vectors.json", "synthetic.json"]
        synthetic.settings["files"] = names
        write_text_atomic(stage / "synthetic.json", json.dumps(synthetic.settings, indent=2) + "\n")
        out.mkdir(exist_ok=True)
        for name in previous - set(names):
            (out / name).unlink(missing_ok=True)
        for name in names:
            os.replace(stage / name, out / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("wrote synthetic %s (%s) to %s", spec.name, fmt, out)
    return out


def _previous_files(out: Path) -> set[str]:
    """Files of an earlier synthetic output in ``out`` (replaced); refuse other content."""
    if not out.exists():
        return set()
    if not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return set()
    meta = out / "synthetic.json"
    if meta.is_file():
        try:
            files = set(json.loads(meta.read_text(encoding="utf-8")).get("files", []))
        except (OSError, ValueError):
            files = set()
        if entries <= files | {"synthetic.json"}:
            return files | {"synthetic.json"}
    raise ConfigError(f"{out}: directory is not empty; choose a new --out or remove it first")


def zero_shot_ceiling(labels: np.ndarray, oracle: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """ROC AUC per emotion of its zero-shot prediction from the other emotions' oracle scores.

    An embedding model trained without emotion k only learns the part of its utterance
    vector in the span of the other emotions' vectors, so its score for k is, at best, the
    others' scores combined with the least-squares weights that rebuild ``vectors[k]`` from
    theirs. This is that prediction, with the oracle's scores in place of a model's.

    Parameters
    ----------
    labels : (n, K) binary labels
    oracle : (n, K) oracle logits of the same samples
    vectors : (K, d) the emotions' embedding vectors

    Returns
    -------
    (K,) AUC of each emotion held out in turn (NaN where its labels are constant)
    """
    from emotrans.metrics import roc_auc

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    k = unit.shape[0]
    scores = np.empty(oracle.shape, dtype=np.float64)  # (n, K)
    for u in range(k):
        seen = [j for j in range(k) if j != u]
        weights = np.linalg.lstsq(unit[seen].T, unit[u], rcond=None)[0]  # (K-1,)
        scores[:, u] = oracle[:, seen] @ weights
    return roc_auc(np.asarray(labels).astype(bool), scores)


def oracle_logits(path_or_dataset_dir: str | Path) -> dict[str, Any]:
    """Read the generator's oracle next to a synthetic dataset.

    Parameters
    ----------
    path_or_dataset_dir : the dataset directory, a file in it, or ``oracle.npz`` itself

    Returns
    -------
    ``{"emotions": [...], split: {"logits": (N, K) float32, "ids": (N,) str}}``; apply a
    sigmoid to the logits and threshold at 0.5 for the oracle's balanced decision.
    """
    path = Path(path_or_dataset_dir)
    if path.is_dir():
        path = path / "oracle.npz"
    elif path.name != "oracle.npz":
        path = path.parent / "oracle.npz"
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file (not a synthetic dataset?)")
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            out: dict[str, Any] = {"emotions": [str(e) for e in z["emotions"]]}
            for key in sorted(files):
                if key.endswith("_logits"):
                    split = key[: -len("_logits")]
                    out[split] = {"logits": z[key], "ids": z[f"{split}_ids"]}
    except (OSError, ValueError, KeyError) as exc:
        raise DataFormatError(f"{path}: unreadable oracle file ({exc})") from None
    return out


# -- writers -----------------------------------------------------------------------------------


def _write_oracle(path: Path, oracle: dict[str, Any]) -> Path:
    arrays = {"emotions": np.array(oracle["emotions"], dtype=str)}
    for split in SPLITS:
        arrays[f"{split}_logits"] = oracle[split]["logits"]
        arrays[f"{split}_ids"] = np.asarray(oracle[split]["ids"], dtype=str)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
    return path


def _write_data(out: Path, spec: DatasetSpec, fmt: str, synthetic: Synthetic) -> list[str]:
    """Write the data files of ``fmt`` into ``out``; return their names."""
    raw = synthetic.raw
    written: list[Path] = []
    if fmt == "native":
        from emotrans.data.native import save_native

        path = out / f"{spec.name}.h5"
        save_native(_clean(raw), path)
        return [path.name]
    if fmt == "mosei-h5":
        from emotrans.data.mosei_h5 import FEATURE_FILES, KEY, LABEL_FILE

        for split, part in raw.splits.items():
            for m, x in part.features.items():
                path = out / FEATURE_FILES[m].format(split=split)
                written.append(_write_h5(path, KEY, x))
            path = out / LABEL_FILE.format(split=split)
            written.append(_write_h5(path, KEY, part.intensities))
        return [p.name for p in written]
    if fmt in ("mult", "mult-noalign"):
        prefix = spec.name.replace("-", "_")
        name = f"{prefix}_data_noalign.pkl" if fmt == "mult-noalign" else f"{prefix}_data.pkl"
        content = {}
        for split, part in raw.splits.items():
            entry: dict[str, np.ndarray] = {m: part.features[m] for m in MODALITIES}
            if spec.kind == "sentiment":
                entry["labels"] = part.intensities.reshape(-1, 1, 1)  # (N, 1, 1) score
                parts = _id_parts(spec, split, part.lengths["text"])
                entry["id"] = np.array(parts, dtype=object)  # (N, 3)
            else:
                onehot = np.zeros((part.n, len(spec.emotions), 2), dtype=np.float32)
                onehot[..., 1] = part.labels
                onehot[..., 0] = 1 - part.labels  # (N, 4, 2) [absent, present]
                entry["labels"] = onehot
            content[split] = entry
        path = out / name
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            pickle.dump(content, handle, protocol=4)
        return [path.name]
    # iemocap9: one Python-2-compatible (protocol 2) pickle per array
    from emotrans.data.iemocap9 import FEATURE_FILES as P_FILES
    from emotrans.data.iemocap9 import LABEL_COLUMNS
    from emotrans.data.iemocap9 import LABEL_FILE as P_LABELS

    for split, part in raw.splits.items():
        for m, x in part.features.items():
            written.append(_write_pickle2(out / P_FILES[m].format(split=split), x))
        y = np.zeros((part.n, len(LABEL_COLUMNS)), dtype=np.float32)
        y[:, 1:-1] = part.labels  # other and unknown stay 0
        written.append(_write_pickle2(out / P_LABELS.format(split=split), y))
    return [p.name for p in written]


def _write_h5(path: Path, key: str, array: np.ndarray) -> Path:
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(key, data=array)
    return path


def _write_pickle2(path: Path, array: np.ndarray) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump(array, handle, protocol=2)
    return path

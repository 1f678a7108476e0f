"""Samples of one split: latent affect, labels drawn from it (with the oracle's posterior),
and features that mix it into each modality (see :mod:`emotrans.data.synthetic` for the
model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from emotrans.data.dataset import Split
from emotrans.data.synthetic.specs import DatasetSpec
from emotrans.data.synthetic.world import AFFECT_RANK, World, stream
from emotrans.modalities import MODALITIES

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

_ROW_BLOCK = 1024  # rows generated at a time (keeps temporaries small; fixed for determinism)


def thresholds(spec: DatasetSpec) -> np.ndarray:
    """theta_k such that P(s_k + SIGMA_Y eps > theta_k) equals the target prevalence."""
    from scipy.special import ndtri  # scipy is only needed while generating

    return -math.sqrt(1 + SIGMA_Y**2) * ndtri(np.asarray(spec.rates))


def biases(spec: DatasetSpec, world: World) -> np.ndarray:
    """b_k such that the expected class proportions of softmax(s / TAU + b) match the spec."""
    from scipy.special import logsumexp

    z = stream(world.seed, "bias", spec.name).standard_normal((20_000, AFFECT_RANK))
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
class Labels:
    """Labels of n samples and the oracle's (not yet adjusted) logits."""

    labels: np.ndarray  # (n, K) uint8
    oracle: np.ndarray  # (n, K) float64: logit of the oracle posterior (not yet adjusted)
    intensities: np.ndarray | None  # (n, K) float32
    classes: np.ndarray | None = None  # (n,) int, single-label only


def draw_labels(
    spec: DatasetSpec, world: World, z: np.ndarray, rng: np.random.Generator, params: dict
) -> Labels:
    """Labels of the samples with latent affect ``z`` (n, r), and the oracle's logits.

    ``params`` is :func:`label_params` of the spec (thresholds, biases or the sentiment
    direction).
    """
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
        return Labels(labels, oracle, intensities)
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
        return Labels(labels, logits - others, None, classes)
    # sentiment
    w = params["direction"]
    u = z @ w  # (n,)
    raw = u + SIGMA_Y * rng.standard_normal(n)
    score = np.clip(SENTIMENT_SCALE * raw, -3.0, 3.0).astype(np.float32)
    labels = (score > 0).astype(np.uint8)[:, None]  # (n, 1)
    v = u / SIGMA_Y
    oracle = (log_ndtr(v) - log_ndtr(-v))[:, None]
    return Labels(labels, oracle, score[:, None])


def label_params(spec: DatasetSpec, world: World) -> dict[str, Any]:
    if spec.kind == "multi":
        return {"thresholds": thresholds(spec)}
    if spec.kind == "single":
        return {"biases": biases(spec, world)}
    w = world.codes["happy"] - world.codes["sad"]
    return {"direction": w / np.linalg.norm(w)}


def sample_lengths(
    rng: np.random.Generator, n: int, steps: dict[str, int]
) -> dict[str, np.ndarray]:
    """Valid lengths per modality from one shared fraction per sample: 1 (full) with
    probability FULL_LENGTH_RATE, else uniform in [1/2, 1]."""
    full = rng.random(n) < FULL_LENGTH_RATE
    fraction = np.where(full, 1.0, rng.uniform(0.5, 1.0, n))
    out = {}
    for m, t in steps.items():
        low = (t + 1) // 2
        out[m] = np.clip(np.rint(fraction * t), low, t).astype(np.int64)
    return out


def sample_features(
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


def modality_steps(spec: DatasetSpec, aligned: bool) -> dict[str, int]:
    """Steps T per modality: the spec's T, or MulT's unaligned step counts."""
    if aligned or not spec.unaligned_steps:
        return {m: spec.steps for m in MODALITIES}
    return dict(spec.unaligned_steps)


def sample_split(
    spec: DatasetSpec,
    world: World,
    split: str,
    n: int,
    params: dict[str, Any],
    aligned: bool,
) -> tuple[Split, np.ndarray]:
    """One raw split (audio still holds -inf) and its unadjusted oracle logits (N, K)."""
    rng = stream(world.seed, spec.name, split, "samples")
    z = rng.standard_normal((n, AFFECT_RANK))  # (N, r)
    drawn = draw_labels(spec, world, z, rng, params)
    steps = modality_steps(spec, aligned)
    lengths = sample_lengths(stream(world.seed, spec.name, split, "lengths"), n, steps)
    amp_rng = stream(world.seed, spec.name, split, "amplitude")
    shared_amp = 1.0 + AMPLITUDE_SD * amp_rng.standard_normal((n, spec.steps))
    features = {}
    for m in MODALITIES:
        amp = (
            shared_amp
            if steps[m] == spec.steps
            else 1.0 + AMPLITUDE_SD * amp_rng.standard_normal((n, steps[m]))
        )
        features[m] = sample_features(
            stream(world.seed, spec.name, split, "features", m),
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
    ids = sample_ids(spec, split, lengths["text"])
    part = Split(
        features=features,
        lengths=lengths,
        labels=drawn.labels,
        ids=ids,
        intensities=drawn.intensities,
    )
    return part, drawn.oracle


def id_parts(spec: DatasetSpec, split: str, text_lengths: np.ndarray) -> list[list[str]]:
    """Per sample the strings of a MulT ``id`` entry (sentiment data), else one string."""
    if spec.kind == "sentiment":
        return [[f"{split}_{i}", "0", str(int(t))] for i, t in enumerate(text_lengths)]
    return [[f"{split}_{i}"] for i in range(len(text_lengths))]


def sample_ids(spec: DatasetSpec, split: str, text_lengths: np.ndarray) -> np.ndarray:
    """Sample ids, shape (N,): the :func:`id_parts` joined by ``_``, as the MulT loader does."""
    return np.array(["_".join(p) for p in id_parts(spec, split, text_lengths)], dtype=str)

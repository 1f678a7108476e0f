"""Generating a synthetic dataset in memory: the world, each split's samples, the oracle and
the settings (see :mod:`emotrans.data.synthetic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emotrans.data.dataset import SPLITS, Dataset, Split, replace_nonfinite
from emotrans.data.synthetic.oracle import adjust_oracle, oracle_scores
from emotrans.data.synthetic.sampling import (
    AMPLITUDE_SD,
    AUDIO_NEG_INF_RATE,
    FULL_LENGTH_RATE,
    NOISE,
    SIGMA_Y,
    TAU,
    label_params,
    modality_steps,
    sample_split,
)
from emotrans.data.synthetic.specs import get_spec, split_sizes
from emotrans.data.synthetic.world import AFFECT_RANK, DIMS, REFERENCE_VOCABULARY, World, make_world

GENERATOR_VERSION = 2


@dataclass
class Synthetic:
    """A generated dataset before cleaning, with its oracle and settings."""

    raw: Dataset  # audio still holds -inf, as the files do
    oracle: dict[str, Any]  # {"emotions": [...], split: {"logits": (N, K), "ids": (N,)}}
    settings: dict[str, Any]
    world: World


def synthesize(
    dataset: str = "mosei",
    scale: float = 1.0,
    seed: int = 0,
    embeddings: str = "default",
    aligned: bool = True,
) -> Synthetic:
    """Generate a dataset with raw features (audio -inf kept), its oracle and settings."""
    spec = get_spec(dataset)
    sizes = split_sizes(spec, float(scale))
    world = make_world(seed, embeddings)
    params = label_params(spec, world)
    splits: dict[str, Split] = {}
    oracle_raw: dict[str, np.ndarray] = {}
    for split in SPLITS:
        splits[split], oracle_raw[split] = sample_split(
            spec, world, split, sizes[split], params, aligned
        )
    adjusted = adjust_oracle(oracle_raw, splits["train"].labels)
    emotions = list(spec.emotions)
    oracle: dict[str, Any] = {"emotions": emotions}
    scores = {}
    for split, part in splits.items():
        oracle[split] = {"logits": adjusted[split], "ids": part.ids}
        scores[split] = oracle_scores(part.labels, adjusted[split], emotions)
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
        "steps": modality_steps(spec, aligned),
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
        task="sentiment" if spec.kind == "sentiment" else "emotion",
        single_label=spec.kind == "single",
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


def clean(raw: Dataset) -> Dataset:
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
    dataset : ``"mosei"``, ``"iemocap"``, ``"iemocap9"``, ``"mosei-senti"`` or ``"mosi"``
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
    return clean(synthetic.raw), synthetic.oracle

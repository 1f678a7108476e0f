"""The generative world of the synthetic datasets: emotion vectors from an embedding source,
their affect codes, and the modality mixing matrices (see :mod:`emotrans.data.synthetic`).

A world depends only on the seed and the embedding source, never on the dataset, so that
IEMOCAP-4 data and IEMOCAP-9 extras generated with the same seed and source share it.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from emotrans.data.formats import iemocap9, mosei_h5, mult_pickle
from emotrans.embeddings import load_source
from emotrans.errors import ConfigError

REFERENCE_VOCABULARY: tuple[str, ...] = tuple(
    dict.fromkeys((*mosei_h5.EMOTIONS, *mult_pickle.IEMOCAP_EMOTIONS, *iemocap9.EMOTIONS))
)
"""Every emotion name of every synthetic dataset (CMU-MOSEI's, then IEMOCAP-4's and
IEMOCAP-9's new ones, in their formats' label orders: anger, disgust, fear, happy, sad,
surprise, neutral, angry, excited, surprised, frustrated); their principal directions make
the affect space. Fixed: a new synthetic dataset must not move the world of the others."""

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


def stream(seed: int, *keys: str) -> np.random.Generator:
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
    source = load_source(embeddings)
    raw = np.asarray(source.embed(list(REFERENCE_VOCABULARY)), dtype=np.float32)  # (V, d)
    if raw.ndim != 2 or raw.shape[0] != len(REFERENCE_VOCABULARY):
        raise ConfigError(f"embedding source {embeddings!r} returned shape {raw.shape}")
    unit = raw.astype(np.float64)
    norms = np.linalg.norm(unit, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.isfinite(unit).all():
        raise ConfigError(f"embedding source {embeddings!r} gave a zero or non-finite vector")
    unit /= norms
    q = affect_projection(unit, stream(seed, "world", "projection"))  # (d, r)
    codes = unit @ q  # (V, r): a fixed linear map of each emotion's vector
    code_norms = np.linalg.norm(codes, axis=1, keepdims=True)
    if np.any(code_norms < 1e-9):
        raise ConfigError(
            f"embedding source {embeddings!r}: some emotion vectors are orthogonal to the "
            "vocabulary's principal directions; no emotion code can be built from them"
        )
    codes /= code_norms
    mixing = {
        m: stream(seed, "world", "mixing", m).standard_normal((AFFECT_RANK, d))
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

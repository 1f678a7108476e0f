"""Deterministic random vectors (``random:SEED`` or ``random:SEED:DIM``), for tests and
synthetic data: no model, no file, no torch.

Each name gets a unit-norm Gaussian vector drawn from a generator seeded by a hash of
(seed, name), so a name's vector does not depend on the other names asked for, nor on the
process. Names are used as given (after whitespace cleaning): "Anger" and "anger" differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from emotrans.embeddings.base import EmbeddingSource, SourceKind, clean_names
from emotrans.errors import EmbeddingError

DEFAULT_DIM = 300


def random_vector(seed: int, name: str, dim: int) -> np.ndarray:
    """Unit-norm vector of shape (dim,), float32, fixed by (seed, name, dim)."""
    digest = hashlib.sha256(f"{seed}\x00{name}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:16], "little"))
    v = rng.standard_normal(dim)  # (dim,)
    return (v / np.linalg.norm(v)).astype(np.float32)


class RandomSource(EmbeddingSource):
    """Deterministic unit-norm random vectors, one per name."""

    def __init__(self, seed: int, dim: int = DEFAULT_DIM) -> None:
        if dim < 1:
            raise EmbeddingError(f"random:{seed}:{dim}: the dimension must be at least 1")
        self.seed = int(seed)
        self._dim = int(dim)
        self.spec = f"random:{self.seed}:{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, names: Sequence[str]) -> np.ndarray:
        rows = [random_vector(self.seed, n, self._dim) for n in clean_names(names)]
        if not rows:
            return np.zeros((0, self._dim), np.float32)
        return np.stack(rows)  # (K, d)


def _build_random(prefix: str, arg: str, spec: str, allow_pickle: bool) -> RandomSource:
    try:
        numbers = [int(p) for p in arg.split(":")]
    except ValueError:
        raise ValueError("SEED and DIM must be integers") from None
    if len(numbers) > 2:
        raise ValueError("too many fields")
    return RandomSource(numbers[0], numbers[1] if len(numbers) == 2 else DEFAULT_DIM)


KIND = SourceKind(prefixes=("random",), forms=("random:SEED[:DIM]",), build=_build_random)
"""``random:SEED[:DIM]``: a fixed random unit vector per name."""

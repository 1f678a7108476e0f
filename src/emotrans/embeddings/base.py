"""The interface every emotion-embedding source implements."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from emotrans.errors import EmbeddingError


class EmbeddingSource(abc.ABC):
    """Maps emotion names (words or short phrases) to fixed vectors.

    Attributes
    ----------
    spec : str
        The spec string the source was made from (``default``, ``glove:PATH``, ...).
    dim : int
        Length d of every vector.
    """

    spec: str

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Length d of the vectors."""

    @abc.abstractmethod
    def embed(self, names: Sequence[str]) -> np.ndarray:
        """Vectors of ``names``.

        Parameters
        ----------
        names : sequence of K str
            Emotion names, words or short phrases.

        Returns
        -------
        ndarray of shape (K, d), float32; row k belongs to ``names[k]``. The same names give
        the same rows, in any order and in any process.

        Raises
        ------
        EmbeddingError
            The source cannot be read, or does not know some names (all of them are listed).
        """

    def embed_isolated(self, names: Sequence[str]) -> np.ndarray:
        """Like :meth:`embed`, keeping heavy models out of this process where a source can
        (sentence models embed in a short-lived child process); other sources just embed."""
        return self.embed(names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"


@dataclass(frozen=True)
class SourceKind:
    """One kind of embedding source, as the spec registry (:mod:`emotrans.embeddings.spec`)
    knows it: the spec prefixes it answers, the forms shown in help, and how to build it.

    ``build(prefix, argument, spec, allow_pickle)`` gets the spec split at its first ``:``
    (``"glove:/data/g.txt"`` -> ``"glove"``, ``"/data/g.txt"``); a ``bare`` kind answers a
    spec without ``:`` equal to its prefix (``"default"``) with an empty argument. ``build``
    raises ``ValueError`` for a malformed argument (reported with the accepted forms) and
    :class:`EmbeddingError` for anything else.
    """

    prefixes: tuple[str, ...]
    forms: tuple[str, ...]
    build: Callable[[str, str, str, bool], EmbeddingSource]
    bare: bool = False


def clean_names(names: Sequence[str]) -> list[str]:
    """Names with surrounding whitespace removed and inner runs of whitespace made one space.

    Raises
    ------
    TypeError
        ``names`` is a single string rather than a sequence of names.
    EmbeddingError
        A name is empty or not a string.
    """
    if isinstance(names, (str, bytes)):
        raise TypeError("names must be a sequence of names, not a single string")
    cleaned = []
    for name in names:
        if not isinstance(name, str):
            raise EmbeddingError(f"emotion name {name!r} is not a string")
        text = " ".join(name.split())
        if not text:
            raise EmbeddingError("an emotion name is empty")
        cleaned.append(text)
    return cleaned


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarities of the rows.

    Parameters
    ----------
    vectors : ndarray of shape (K, d)

    Returns
    -------
    ndarray of shape (K, K), float64 in [-1, 1]; a zero row has similarity 0 with everything.
    """
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)  # (K, 1)
    unit = np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)  # (K, d)
    return np.clip(unit @ unit.T, -1.0, 1.0)  # (K, K)

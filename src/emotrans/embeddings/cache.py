"""On-disk cache of the vectors extracted from a big word-vector file.

One ``.npz`` entry per version of a file, named from a hash of its absolute path and a hash
of its (size, modification time): a file that changes gets a new entry and the old one is
removed. An entry records the tokens found with their vectors, the tokens known to be absent
(after a complete scan) and the close spellings computed for missing words, so a later
request for any subset of what was already looked up is answered without opening the file.
Requests for new words scan the file again and grow the entry.

The folder is ``$EMOTRANS_CACHE`` or ``~/.cache/emotrans/embeddings``; ``EMOTRANS_CACHE=off``
disables caching. Entries are written atomically; an unreadable entry is ignored.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.npz import load_npz

log = logging.getLogger(__name__)

_OFF = {"off", "0", "none", "false", "no"}


def default_cache_dir() -> Path | None:
    """The cache folder from ``$EMOTRANS_CACHE``, or the default; None when disabled."""
    env = os.environ.get("EMOTRANS_CACHE")
    if env is not None:
        if env.strip().lower() in _OFF or not env.strip():
            return None
        return Path(env).expanduser()
    return Path.home() / ".cache" / "emotrans" / "embeddings"


@dataclass
class CacheEntry:
    """What is known about one version of a word-vector file.

    Attributes
    ----------
    dim : int
        Vector length d (0 when nothing is known yet).
    found : dict of str -> ndarray of shape (d,)
    absent : set of str
        Tokens a complete scan did not find.
    suggestions : dict of str -> list of str
        Lower-cased missing word -> close spellings seen in the file.
    """

    dim: int = 0
    found: dict[str, np.ndarray] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    suggestions: dict[str, list[str]] = field(default_factory=dict)


class VectorCache:
    """The cache entry of one file, as it is now (path, size, modification time)."""

    def __init__(self, file: Path, root: Path | None) -> None:
        self.file = file
        self.root = root
        resolved = str(file.resolve())
        st = file.stat()
        self._file_key = hashlib.sha256(resolved.encode("utf-8")).hexdigest()[:24]
        version = f"{st.st_size}:{st.st_mtime_ns}".encode()
        self._version_key = hashlib.sha256(version).hexdigest()[:16]

    @property
    def path(self) -> Path | None:
        """The entry's file, or None when caching is disabled."""
        if self.root is None:
            return None
        return self.root / f"{self._file_key}-{self._version_key}.npz"

    def load(self) -> CacheEntry:
        """The cached entry; empty when there is none or it cannot be read."""
        path = self.path
        if path is None or not path.is_file():
            return CacheEntry()
        try:
            z = load_npz(path, text=("tokens", "absent", "suggestions", "source"))  # sizes checked
            dim = int(z["dim"])
            tokens = [str(t) for t in z["tokens"]]
            vectors = np.asarray(z["vectors"], dtype=np.float32)
            absent = {str(t) for t in z["absent"]}
            suggestions = json.loads(str(z["suggestions"]))
            if vectors.shape != (len(tokens), dim):
                raise ValueError(f"vectors of shape {vectors.shape} for {len(tokens)} tokens")
        except Exception as exc:  # a damaged cache must never stop the user
            log.warning("ignoring unreadable embedding cache %s (%s)", path, exc)
            return CacheEntry()
        log.info("embedding cache %s: %d tokens", path, len(tokens))
        return CacheEntry(dim, dict(zip(tokens, vectors, strict=True)), absent, suggestions)

    def save(self, entry: CacheEntry) -> None:
        """Write ``entry`` atomically and remove entries of older versions of the file."""
        path = self.path
        if path is None:
            return
        tokens = sorted(entry.found)
        vectors = (
            np.stack([entry.found[t] for t in tokens]).astype(np.float32)
            if tokens
            else np.zeros((0, entry.dim), np.float32)
        )  # (n_tokens, d)
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    dim=np.int64(entry.dim),
                    tokens=np.array(tokens, dtype=str),
                    vectors=vectors,
                    absent=np.array(sorted(entry.absent), dtype=str),
                    suggestions=np.array(json.dumps(entry.suggestions, sort_keys=True)),
                    source=np.array(str(self.file.resolve())),
                )
        except OSError as exc:
            log.warning("cannot write embedding cache %s (%s)", path, exc)
            return
        for stale in path.parent.glob(f"{self._file_key}-*.npz"):
            if stale != path:
                with contextlib.suppress(OSError):
                    stale.unlink()

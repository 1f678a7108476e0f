"""The contract every raw layout implements.

A :class:`Layout` answers two questions: does this path look like my layout
(``detect(path) -> score``), and what clips does it hold (``read(path, **options) ->``
:class:`RawDataset`). A :class:`RawDataset` keeps the dataset's own emotion names, in its own
order, its split (and how it was made), and whether each clip has exactly one label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.data.dataset import SPLITS
from emotrans.errors import DataFormatError
from emotrans.media.extractors.base import Clip


@dataclass
class RawClip:
    """One labelled clip of a raw release.

    Attributes
    ----------
    id : sample id, unique in the dataset (e.g. ``"dia3_utt1"``, ``"Ses01F_impro01_F000"``)
    split : ``"train"``, ``"valid"`` or ``"test"``
    clip : what to extract from (media path, optional start/end, transcript, word timing)
    labels : float32 array of shape (K,), in the order of :attr:`RawDataset.emotions`: 0/1,
        or intensities (present when > 0)
    """

    id: str
    split: str
    clip: Clip
    labels: np.ndarray


@dataclass
class RawDataset:
    """The clips of a raw release and what they mean.

    Attributes
    ----------
    name : short dataset name (``"meld"``, ``"iemocap"``, the manifest's stem, ...)
    emotions : the K label names, in the release's order
    clips : every clip, in the release's order
    single_label : whether every clip has exactly one label (MELD, IEMOCAP, a ``label`` column)
    task : ``"emotion"`` or ``"sentiment"`` (see :data:`emotrans.data.dataset.TASKS`)
    split : how the split was made, JSON-serialisable (e.g. ``{"kind": "release"}`` or
        ``{"kind": "stratified", "seed": 0, "fractions": [0.8, 0.1, 0.1]}``)
    source : the path read
    meta : anything else worth recording (layout options), JSON-serialisable
    """

    name: str
    emotions: list[str]
    clips: list[RawClip]
    single_label: bool
    task: str = "emotion"
    split: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Clips per split."""
        out = {s: 0 for s in SPLITS}
        for c in self.clips:
            out[c.split] = out.get(c.split, 0) + 1
        return out

    def validate(self) -> RawDataset:
        """Check ids are unique, splits are known and label vectors have K entries."""
        seen: set[str] = set()
        k = len(self.emotions)
        for c in self.clips:
            if c.id in seen:
                raise DataFormatError(f"{self.source}: clip id {c.id!r} appears twice")
            seen.add(c.id)
            if c.split not in SPLITS:
                raise DataFormatError(
                    f"{self.source}: clip {c.id}: unknown split {c.split!r} "
                    f"(use {', '.join(SPLITS)})"
                )
            if c.labels.shape != (k,):
                raise DataFormatError(
                    f"{self.source}: clip {c.id}: {c.labels.shape[0]} labels, expected {k}"
                )
        if not self.clips:
            raise DataFormatError(f"{self.source}: no clips")
        return self


@dataclass(frozen=True)
class Layout:
    """A raw layout, registered by name in :mod:`.registry`.

    Attributes
    ----------
    name : registry key (``emotrans extract --layout NAME``)
    description : one line for listings
    detect : path -> int score, 0 when not this layout (higher: more specific evidence)
    read : ``read(path, **options) -> RawDataset``
    options : the keyword options ``read`` accepts, with a one-line help each
    """

    name: str
    description: str
    detect: Callable[[Path], int]
    read: Callable[..., RawDataset]
    options: dict[str, str] = field(default_factory=dict)


def one_hot(index: int, k: int) -> np.ndarray:
    """float32 (k,) with a 1 at ``index``."""
    out = np.zeros(k, np.float32)
    out[index] = 1.0
    return out


def stratified_split(
    keys: Sequence[str], seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> list[str]:
    """A seeded split stratified by ``keys`` (one stratum per distinct key).

    Within each stratum the items are shuffled with ``seed`` and cut at the cumulative
    fractions, rounding so that a stratum of 3 or more items puts at least one item in
    ``valid`` and one in ``test``.

    Returns
    -------
    list of split names, one per key, in input order.
    """
    rng = np.random.default_rng(seed)
    out = ["train"] * len(keys)
    strata: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        strata.setdefault(key, []).append(i)
    for key in sorted(strata):
        members = np.array(strata[key])
        members = members[rng.permutation(len(members))]
        n = len(members)
        n_valid = int(round(fractions[1] * n))
        n_test = int(round(fractions[2] * n))
        if n >= 3:
            n_valid, n_test = max(1, n_valid), max(1, n_test)
        for i in members[:n_valid]:
            out[i] = "valid"
        for i in members[n_valid : n_valid + n_test]:
            out[i] = "test"
    return out

"""The synthetic datasets: the real ones' sizes, label kinds and formats.

Emotion names and their order come from the formats (each format's label order), never
from a copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from emotrans.data.dataset import SPLITS
from emotrans.data.formats import iemocap9, mosei_h5, mult_pickle
from emotrans.errors import ConfigError


@dataclass(frozen=True)
class DatasetSpec:
    """Shape of one synthetic dataset (the real one's sizes and label kinds)."""

    name: str
    emotions: tuple[str, ...]
    sizes: tuple[int, int, int]
    steps: int
    kind: str  # "multi", "single" or "sentiment"
    rates: tuple[float, ...]  # prevalence (multi) or class proportions (single)
    formats: tuple[str, ...]  # registered format names; the first is the usual one
    unaligned_steps: dict[str, int] = field(default_factory=dict)

    @property
    def default_format(self) -> str:
        """The format the real dataset is usually distributed in."""
        return self.formats[0]


_IEMOCAP9_COUNTS = (735, 686, 19, 690, 65, 1235, 338, 954, 1)

SPECS: dict[str, DatasetSpec] = {
    "mosei": DatasetSpec(
        name="mosei",
        emotions=mosei_h5.EMOTIONS,
        sizes=(16326, 1871, 4659),
        steps=20,
        kind="multi",
        rates=(0.22, 0.18, 0.08, 0.53, 0.25, 0.10),
        formats=("mosei-h5", "native"),
    ),
    "iemocap": DatasetSpec(
        name="iemocap",
        emotions=mult_pickle.IEMOCAP_EMOTIONS,
        sizes=(2717, 798, 938),
        steps=20,
        kind="single",
        rates=(0.33, 0.30, 0.18, 0.19),
        formats=("mult", "mult-noalign", "native"),
        unaligned_steps={"text": 20, "audio": 400, "vision": 500},
    ),
    "iemocap9": DatasetSpec(
        name="iemocap9",
        emotions=iemocap9.EMOTIONS,
        sizes=(
            sum(_IEMOCAP9_COUNTS),
            round(sum(_IEMOCAP9_COUNTS) * 798 / 2717),
            round(sum(_IEMOCAP9_COUNTS) * 938 / 2717),
        ),
        steps=21,
        kind="single",
        rates=tuple(c / sum(_IEMOCAP9_COUNTS) for c in _IEMOCAP9_COUNTS),
        formats=("iemocap9", "native"),
    ),
    "mosei-senti": DatasetSpec(
        name="mosei-senti",
        emotions=mult_pickle.SENTIMENT,
        sizes=(16326, 1871, 4659),
        steps=50,
        kind="sentiment",
        rates=(),
        formats=("mult", "mult-noalign", "native"),
        unaligned_steps={"text": 50, "audio": 500, "vision": 500},
    ),
    # CMU-MOSI: 2,199 opinion segments of 93 videos, the usual 1,284 / 229 / 686 split, T = 50
    # as in MulT's pickles. The feature dims are the generator's (300 / 74 / 35), not those of
    # any published MOSI feature set.
    "mosi": DatasetSpec(
        name="mosi",
        emotions=mult_pickle.SENTIMENT,
        sizes=(1284, 229, 686),
        steps=50,
        kind="sentiment",
        rates=(),
        formats=("mult", "mult-noalign", "native"),
        unaligned_steps={"text": 50, "audio": 375, "vision": 500},
    ),
}
"""The synthetic datasets by name."""


def split_sizes(spec: DatasetSpec, scale: float) -> dict[str, int]:
    """Samples per split: real size x ``scale`` rounded half up, at least 8."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ConfigError(f"--scale must be a positive number, not {scale}")
    return {s: max(8, int(math.floor(n * scale + 0.5))) for s, n in zip(SPLITS, spec.sizes)}


def get_spec(dataset: str) -> DatasetSpec:
    """The spec called ``dataset`` (``_`` or ``-``, any case); unknown names raise
    :class:`ConfigError`."""
    key = dataset.strip().lower().replace("_", "-")
    if key not in SPECS:
        raise ConfigError(f"unknown synthetic dataset {dataset!r} (use {', '.join(SPECS)})")
    return SPECS[key]

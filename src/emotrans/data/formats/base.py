"""The :class:`Format` a dataset format module declares (see docs/design.md, "Formats and
label orders", and "Extending emotrans" for adding one)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emotrans.data.dataset import Dataset
from emotrans.errors import DataFormatError


@dataclass(frozen=True)
class Format:
    """One dataset format: how to recognise, read and write it.

    Attributes
    ----------
    name : the name users give (``--format NAME``), lower case with hyphens
    description : a few words for help texts, e.g. ``"CMU-MOSEI emotion, reference h5 layout"``
    detect : ``detect(path) -> int``, a match score for a file or directory: 0 when it is
        not this format, higher the more specific the evidence. :func:`detect_format` takes
        the highest score (ties: the format registered first). A ``bool`` works too.
    load : ``load(path, *, splits=..., [modalities=...,] **options) -> Dataset``; the
        keyword parameters it declares are the options ``emotrans.data.load`` accepts for it
    write : ``write(dataset, out_dir, **options) -> list[Path]``, the inverse of ``load``
        (files written into the directory ``out_dir``), or None where writing is impossible
    label_order : the emotion names of the label columns in file order, or None where the
        file decides (e.g. MulT pickles: IEMOCAP emotions or sentiment)
    finite_only : whether ``write`` refuses non-finite features (the others store them as
        real files do, e.g. COVAREP's -inf, and the loader replaces them)
    """

    name: str
    description: str
    detect: Callable[[Path], int]
    load: Callable[..., Dataset]
    write: Callable[..., list[Path]] | None
    label_order: tuple[str, ...] | None
    finite_only: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options ``load`` takes besides the path, e.g. ``("splits", "modalities")``."""
        return tuple(list(inspect.signature(self.load).parameters)[1:])

    def __repr__(self) -> str:
        return f"Format({self.name!r}, {self.description!r})"


def require_label_order(dataset: Dataset, layout: str, order: tuple[str, ...]) -> None:
    """Refuse to write ``dataset`` in a layout whose label columns are fixed to ``order``."""
    if tuple(dataset.emotions) != order:
        raise DataFormatError(
            f"{dataset.source or dataset.name}: the {layout} layout holds the emotions "
            f"{', '.join(order)} in this order, not {', '.join(dataset.emotions)}"
        )

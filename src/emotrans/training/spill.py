"""Feature arrays parked on disk while a run does not need them in memory.

A training run holds every split's features from loading to the end, but needs the test
split only after training and the training split only during it. On full-size CMU-MOSEI the
test split is 0.15 GB and the training split 0.5 GB of a run that peaks near 1.5 GB, so the
run writes each to a ``.npy`` file while it is idle and reads it back as a copy-on-write
memory map: the pages leave the process (they stay in the page cache, and come back when the
split is scored), and the values are the same bytes. Small splits (tests, tiny runs) stay in
memory: below :data:`MIN_BYTES` the write would cost more than it saves.

A split that cannot be written (a full disk) simply stays in memory.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from emotrans.data.dataset import Split

log = logging.getLogger(__name__)

MIN_BYTES = 64 * 2**20
"""Splits whose features take less than this stay in memory."""

SPILL_FOLDER = ".spill"
"""Where a run's parked arrays go inside its staging folder (removed before it is renamed)."""


@contextmanager
def spill_folder(parent: str | Path | None) -> Iterator[Path]:
    """A folder for parked arrays: ``parent/.spill`` (any leftover of a killed run emptied
    first), or a temporary folder when ``parent`` is None; removed on exit."""
    if parent is None:
        with tempfile.TemporaryDirectory(prefix="emotrans-spill-") as tmp:
            yield Path(tmp)
        return
    folder = Path(parent) / SPILL_FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def spill(split: Split, folder: Path, name: str) -> bool:
    """Move ``split``'s feature arrays to ``folder/<name>-<modality>.npy`` and replace them by
    memory maps of those files, in place. Returns True when it did (the split was large enough
    and every file could be written)."""
    arrays = {m: x for m, x in split.features.items() if not isinstance(x, np.memmap)}
    if not arrays or sum(x.nbytes for x in arrays.values()) < MIN_BYTES:
        return False
    maps = {}
    try:
        for m, x in arrays.items():
            path = folder / f"{name}-{m}.npy"
            np.save(path, x, allow_pickle=False)
            maps[m] = np.load(path, mmap_mode="c", allow_pickle=False)
    except OSError as exc:  # a full disk: keep the split in memory
        log.warning("could not park the %s features on disk (%s); they stay in memory", name, exc)
        return False
    split.features.update(maps)
    log.debug("%s features parked in %s", name, folder)
    return True

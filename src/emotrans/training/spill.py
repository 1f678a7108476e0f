"""Feature arrays parked on disk, so a run holds one batch of them instead of the whole split.

A training run needs the test split only after training and reads the training and
validation splits one batch at a time. On full-size CMU-MOSEI the training split is 0.5 GB
and the test split 0.15 GB, most of a run's memory, so before training the run writes each
split to a ``.npy`` file in its staging folder and puts a copy-on-write memory map of the file
in the split's place (the same bytes, and still an array for any code that wants one).
Batches do not read through the map: :class:`~emotrans.training.batches.TensorSplit` reads
each batch's rows from the file with ``preadv`` (:class:`FileRows`), so the rows pass through
the page cache, which the kernel can reclaim, into the batch, and the process holds one batch
of the split. (Reading through the map would keep every touched page mapped, and a kernel
that maps a file's large folios whole maps 2 MiB per row read.) Small splits (tests, tiny
runs, the validation split of full-size CMU-MOSEI) stay in memory: below :data:`MIN_BYTES`
the write would cost more than it saves.

A split that cannot be written (a full disk) simply stays in memory.
"""

from __future__ import annotations

import logging
import math
import mmap
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

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


class FileRows:
    """The rows of a C-ordered array stored in a file, read on demand: a parked split's
    features as :class:`~emotrans.training.batches.TensorSplit` uses them.

    Parameters
    ----------
    path : the file
    offset : where the array's bytes start in it
    shape : (N, ...) the array's shape; rows are indexed along the first axis
    dtype : its element type
    """

    def __init__(self, path: str | Path, offset: int, shape: tuple[int, ...], dtype) -> None:
        self.path = str(path)
        self.offset = int(offset)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        self._fd = os.open(self.path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    @classmethod
    def of(cls, array: np.ndarray) -> FileRows | None:
        """The file rows behind ``array`` when it is a C-ordered memory map of a whole file
        region (a parked split's features) and the platform reads at offsets; else None."""
        if not (isinstance(array, np.memmap) and hasattr(os, "preadv")):
            return None
        # the map itself, not a view of it (a view keeps the file's offset but not its rows)
        whole = isinstance(array.base, mmap.mmap) and len(array.base) == (
            array.offset % mmap.ALLOCATIONGRANULARITY + array.nbytes
        )
        if not whole or array.filename is None or not array.flags.c_contiguous or array.ndim < 1:
            return None
        return cls(array.filename, array.offset, array.shape, array.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: slice | torch.Tensor | np.ndarray) -> torch.Tensor:
        """The rows ``index`` (a slice with step 1, or an integer array) as a new tensor."""
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("FileRows reads slices with step 1 only")
            out = np.empty((max(stop - start, 0), *self.shape[1:]), self.dtype)
            self._read(memoryview(out.reshape(-1).view(np.uint8)), start)
            return torch.from_numpy(out)
        rows = np.asarray(index, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < -len(self) or rows.max() >= len(self)):
            raise IndexError(f"{self.path}: row index out of range for {len(self)} rows")
        rows = np.where(rows < 0, rows + len(self), rows)
        out = np.empty((rows.size, *self.shape[1:]), self.dtype)
        view = memoryview(out.reshape(-1).view(np.uint8))
        # runs of consecutive rows (scoring in stored order) are one read each
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for first, last in zip(
            np.concatenate([[0], breaks]), np.concatenate([breaks, [rows.size]]), strict=True
        ):
            if last > first:
                b = self.row_bytes
                self._read(view[first * b : last * b], int(rows[first]))
        return torch.from_numpy(out)

    def _read(self, view: memoryview, row: int) -> None:
        at = self.offset + row * self.row_bytes
        while len(view):
            got = os.preadv(self._fd, [view], at)
            if got <= 0:
                raise OSError(f"{self.path}: the file ends before row {row}'s bytes")
            view, at = view[got:], at + got

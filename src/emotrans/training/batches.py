"""Mini-batches straight from a :class:`~emotrans.data.dataset.Split`, without copies.

The split's NumPy arrays are wrapped as torch tensors once (``torch.from_numpy`` shares the
memory) and batches are gathered by index. This avoids a DataLoader's per-sample Python work,
which on CPU costs more than the model itself for T = 20 sequences. Features parked on disk
(:mod:`emotrans.training.spill`) are read from their file batch by batch instead
(:class:`~emotrans.training.spill.FileRows`), so such a split costs the process one batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from emotrans.data.dataset import Split, split_targets
from emotrans.training.spill import FileRows


@dataclass
class TensorSplit:
    """A split as torch tensors: features (N, T_m, D_m), lengths (N,), labels (N, K) float32.

    ``labels`` are the training targets: the binary labels for the emotion task, the scores
    (N, 1) in [-3, 3] for the sentiment task."""

    features: dict[str, torch.Tensor | FileRows]
    lengths: dict[str, torch.Tensor]
    labels: torch.Tensor
    ids: np.ndarray

    @classmethod
    def from_split(
        cls, split: Split, modalities: Sequence[str], task: str = "emotion"
    ) -> TensorSplit:
        features = {m: _rows(split.features[m]) for m in modalities}
        lengths = {m: torch.from_numpy(split.lengths[m].astype(np.int64)) for m in modalities}
        labels = torch.from_numpy(split_targets(split, task))
        return cls(features, lengths, labels, split.ids)

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        by_length: bool = False,
        order: torch.Tensor | None = None,
    ) -> Iterator[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]]:
        """Yield ``(features, lengths, labels)`` batches; the last batch may be smaller.

        With ``shuffle`` and ``by_length`` the batches group rows of similar length (see
        :meth:`length_grouped_order`), so exact encoders crop each batch to little padding.
        Without ``shuffle``, ``order`` (N,) gives the sample order (default: stored order).
        """
        if shuffle:
            order = self.shuffled_order(batch_size, generator, by_length)
        for start in range(0, self.n, batch_size):
            if order is None:
                idx = slice(start, start + batch_size)
                feats = {m: x[idx] for m, x in self.features.items()}
                lens = {m: x[idx] for m, x in self.lengths.items()}
                labels = self.labels[idx]
            else:
                index = order[start : start + batch_size]
                feats = {
                    m: x[index] if isinstance(x, FileRows) else x.index_select(0, index)
                    for m, x in self.features.items()
                }
                lens = {m: x.index_select(0, index) for m, x in self.lengths.items()}
                labels = self.labels.index_select(0, index)
            if str(device) != "cpu":
                feats = {m: x.to(device, non_blocking=True) for m, x in feats.items()}
                lens = {m: x.to(device, non_blocking=True) for m, x in lens.items()}
                labels = labels.to(device, non_blocking=True)
            yield feats, lens, labels

    def shuffled_order(
        self, batch_size: int, generator: torch.Generator | None = None, by_length: bool = False
    ) -> torch.Tensor:
        """The seeded sample order (N,) of one shuffled pass: :meth:`length_grouped_order`
        with ``by_length``, else a random permutation."""
        if by_length:
            return self.length_grouped_order(batch_size, generator)
        return torch.randperm(self.n, generator=generator)

    def length_order(self) -> torch.Tensor:
        """Sample order (N,) by the longest modality's length, ties in stored order; scoring in
        this order lets exact encoders crop each batch (put results back with ``[order]``)."""
        longest = torch.stack(list(self.lengths.values())).amax(0)  # (N,)
        return torch.sort(longest, stable=True).indices

    def length_grouped_order(
        self, batch_size: int, generator: torch.Generator | None = None, pool: int = 50
    ) -> torch.Tensor:
        """A seeded sample order (N,) whose consecutive ``batch_size`` chunks hold rows of
        similar length.

        The samples are shuffled, cut into pools of ``pool`` batches, each pool sorted by the
        sample's longest modality (a stable sort: equal lengths keep their random order), cut
        into batches, and the batches of all pools shuffled together; only the last batch may
        be smaller, and it stays last.
        """
        order = torch.randperm(self.n, generator=generator)  # (N,)
        longest = torch.stack(list(self.lengths.values())).amax(0)  # (N,)
        span = batch_size * pool
        chunks = []
        for start in range(0, self.n, span):
            part = order[start : start + span]
            chunks.append(part[torch.sort(longest[part], stable=True).indices])
        grouped = torch.cat(chunks) if chunks else order
        full = self.n // batch_size
        batches = list(grouped[: full * batch_size].view(full, batch_size))  # (batch_size,) each
        rest = grouped[full * batch_size :]
        shuffled = [batches[i] for i in torch.randperm(full, generator=generator).tolist()]
        return torch.cat([*shuffled, rest]) if shuffled else rest

    def num_batches(self, batch_size: int) -> int:
        return (self.n + batch_size - 1) // batch_size


def _rows(array: np.ndarray) -> torch.Tensor | FileRows:
    """A split's feature array as batches read it: from its file when it is parked there,
    else as a tensor sharing its memory."""
    rows = FileRows.of(array)
    return rows if rows is not None else torch.from_numpy(np.ascontiguousarray(array))

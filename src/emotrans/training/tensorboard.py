"""Live training logs for TensorBoard (``emotrans train --log tensorboard``).

:class:`TensorBoardLog` is an epoch observer of the trainer
(:class:`~emotrans.training.trainer.EpochObserver`): after every epoch it writes the epoch's
scalars (``loss/train``, ``loss/valid``, ``lr``, ``time/epoch_seconds``, ``valid/<metric>``)
at step = epoch, and flushes, so ``tensorboard --logdir`` shows the run while it trains. The
events go to ``tensorboard/`` in the run directory (while training, in its staging folder
``.<name>.partial``).

The writer is torch's ``SummaryWriter``, which needs the ``tensorboard`` package (the
``tensorboard`` extra: ``pip install "emotrans[tensorboard]"``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emotrans.errors import ConfigError

LOG_WRITERS = ("tensorboard",)
"""The names ``--log`` accepts."""

FOLDER = "tensorboard"
"""The folder of the events in a run directory."""


def check_writers(names: Sequence[str]) -> None:
    """Raise a one-line :class:`ConfigError` for an unknown writer, or for ``tensorboard``
    when its package is not installed (called before any data is read)."""
    for name in names:
        if name not in LOG_WRITERS:
            raise ConfigError(f"--log {name}: choose one of {', '.join(LOG_WRITERS)}")
        if name == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError(
                '--log tensorboard needs the tensorboard package: pip install "emotrans[tensorboard]"'
            )


class TensorBoardLog:
    """Writes each epoch's scalars to TensorBoard event files in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # deferred: imports tensorboard

        self.folder = Path(folder)
        self._writer: Any = SummaryWriter(log_dir=str(self.folder))

    def __call__(self, epoch: int, scalars: dict[str, float]) -> None:
        for name, value in scalars.items():
            self._writer.add_scalar(name, value, global_step=epoch)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def open_writers(names: Sequence[str], run_folder: str | Path) -> list[TensorBoardLog]:
    """The epoch observers named by ``--log``, writing under ``run_folder``."""
    check_writers(names)
    return [TensorBoardLog(Path(run_folder) / FOLDER) for name in dict.fromkeys(names)]

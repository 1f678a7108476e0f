"""The last-epoch checkpoint of a run being trained, and its live ``history.csv``.

A run is trained into its staging folder (``.<name>.partial`` beside the run directory, see
:func:`emotrans.training.rundir.staging_dir`). After every epoch :class:`Checkpoint` writes
there, atomically:

- ``checkpoint.pt``: the model, the optimizer, the scheduler, the early-stopping state, the
  history, every random state (torch, NumPy, Python, the data order generator) and, for the
  continual modes, the position in the episodic memory's shuffled batches, saved
  with tensors and plain values only and read back with ``weights_only=True``;
- one more row of ``history.csv``, appended, so ``tail -f`` follows the run.

A run killed by SIGKILL leaves that folder; ``emotrans train --resume`` (and a grid, run
again) continue from the last epoch, and end with the same weights and metrics as a run that
was never interrupted. The folder also holds ``config.json``: resuming with other settings is
refused.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import torch

from emotrans.atomic import atomic_path, write_text_atomic
from emotrans.config import RunConfig
from emotrans.training.rundir import CHECKPOINT, StagedRunError

log = logging.getLogger(__name__)

STATE_KEYS = ("epoch", "model", "optimizer", "scheduler", "best_epoch", "best_score", "history",
              "stopped_early", "best_state", "stale", "rng")  # fmt: skip
"""What every checkpoint holds (``memory``, the episodic memory's position, only those of
the ``agem`` and ``replay`` modes written since it was added)."""
STARTED = "config.json"


class Checkpoint:
    """Saves and loads the trainer's state in ``folder`` (see the module docstring)."""

    def __init__(self, folder: str | Path, config: RunConfig) -> None:
        self.folder = Path(folder)
        self.file = self.folder / CHECKPOINT
        self.history = self.folder / "history.csv"
        started = self.folder / STARTED
        mine = json.loads(json.dumps(config.to_dict()))  # as it reads back from JSON
        if self.file.is_file():
            try:
                theirs = json.loads(started.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                theirs = None
            if theirs != mine:
                changed = (
                    sorted(k for k in mine if theirs.get(k) != mine[k])
                    if isinstance(theirs, dict)
                    else []  # not an object: unreadable
                )
                raise StagedRunError(
                    f"{self.folder}: the interrupted run there has other settings "
                    f"({', '.join(changed) or 'config.json unreadable'}); resume it with the "
                    "same settings, or pass --overwrite to start again"
                )
        else:
            config.save(started)

    @staticmethod
    def epoch_of(folder: str | Path) -> int | None:
        """The last finished epoch saved in ``folder``, or None when there is none."""
        file = Path(folder) / CHECKPOINT
        if not file.is_file():
            return None
        try:
            return int(torch.load(file, weights_only=True, map_location="cpu")["epoch"])
        except Exception:  # an unreadable checkpoint is no checkpoint
            return None

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when no epoch has finished yet."""
        if not self.file.is_file():
            return None
        try:
            state = torch.load(self.file, weights_only=True, map_location="cpu")
        except Exception as exc:  # torch raises many kinds for a damaged file
            raise StagedRunError(
                f"{self.file}: cannot read the checkpoint ({' '.join(str(exc).split())[:200]}); "
                "pass --overwrite to start again"
            ) from None
        if not isinstance(state, dict) or "epoch" not in state:
            raise StagedRunError(f"{self.file}: not an emotrans checkpoint")
        missing = [k for k in STATE_KEYS if k not in state]
        if missing or not isinstance(state["history"], list):
            raise StagedRunError(
                f"{self.file}: an incomplete checkpoint (no {', '.join(missing) or 'history'}); "
                "pass --overwrite to start again"
            )
        self._write_history(state["history"])  # the rows up to the saved epoch, no more
        return state

    def save(self, state: dict[str, Any], row: dict[str, Any]) -> None:
        """Write ``state`` atomically, then append ``row`` to ``history.csv``."""
        with atomic_path(self.file) as tmp:
            torch.save(state, tmp)
        new = not self.history.is_file() or self.history.stat().st_size == 0
        with self.history.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
            fh.flush()

    def _write_history(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            write_text_atomic(self.history, "")
            return
        with atomic_path(self.history) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

"""How far a run has got and how long it has left, from its per-epoch history.

The trainer's per-epoch line and a grid's report of its runs in flight (which reads each
run's live ``history.csv``) both use :func:`estimate`, so they agree.

The estimate is a range, from the mean epoch time so far:

- ``soonest``: the run stops early, because validation does not improve in the
  ``early_stop - stale`` epochs early stopping still allows (``stale``: epochs since the
  best one), nor beyond the maximum number of epochs;
- ``latest``: the run goes on to its maximum number of epochs.

Both leave out the final evaluation on the test split (seconds, not epochs).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emotrans.config import RunConfig
from emotrans.metrics import LOWER_IS_BETTER

HISTORY = "history.csv"


@dataclass(frozen=True)
class Estimate:
    """The progress of a run after ``epoch`` of at most ``epochs`` epochs.

    Attributes
    ----------
    epoch : epochs finished (1-based number of the last one)
    epochs : the run's maximum number of epochs
    stale : epochs since the best one (0 when the last epoch was the best)
    soonest, latest : seconds left if early stopping ends the run as soon as it can, and if
        the run goes on to ``epochs`` (see the module docstring)
    """

    epoch: int
    epochs: int
    stale: int
    soonest: float
    latest: float

    def describe(self) -> str:
        """``"left 25s..3m10s"``, or one figure when the two agree (``"left 12s"``)."""
        low, high = format_seconds(self.soonest), format_seconds(self.latest)
        return f"left {high}" if low == high else f"left {low}..{high}"


def estimate(
    seconds: Sequence[float], epoch: int, epochs: int, stale: int, patience: int
) -> Estimate:
    """The time left of a run (see the module docstring).

    Parameters
    ----------
    seconds : the duration of each finished epoch, in seconds (at least one)
    epoch : the last finished epoch (1-based)
    epochs : the maximum number of epochs
    stale : epochs since the best epoch
    patience : early stopping's patience (``RunConfig.early_stop``), epochs
    """
    finite = [s for s in seconds if math.isfinite(s) and s >= 0]
    mean = sum(finite) / len(finite) if finite else 0.0
    left = max(0, epochs - epoch)
    early = max(0, min(left, patience - stale))
    return Estimate(epoch, epochs, stale, mean * early, mean * left)


def format_seconds(seconds: float) -> str:
    """``"45s"``, ``"3m10s"`` or ``"2h05m"`` (rounded to the second)."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def selection_column(fields: Sequence[str]) -> str:
    """The history column the best epoch is chosen on: ``valid_selection`` when the run
    weighs its emotions (few-shot fine-tuning), else the ``valid_<metric>`` column after
    ``valid_loss`` (``valid_loss`` itself when the run selects on the loss)."""
    if "valid_selection" in fields:
        return "valid_selection"
    others = [f for f in fields if f.startswith("valid_") and f != "valid_loss"]
    return others[0] if others else "valid_loss"


def stale_epochs(rows: Sequence[Mapping[str, Any]]) -> int:
    """Epochs since the best one in a history, chosen as the trainer chooses it: the first
    epoch of the best selection figure (lower is better for loss and MAE), NaN never best."""
    if not rows:
        return 0
    column = selection_column(list(rows[0]))
    lower = column == "valid_loss" or column.removeprefix("valid_") in LOWER_IS_BETTER
    best, best_at = -math.inf, 0
    for i, row in enumerate(rows):
        try:
            value = float(row[column])
        except (KeyError, TypeError, ValueError):
            continue
        score = -value if lower else value
        if math.isfinite(score) and score > best:
            best, best_at = score, i
    return len(rows) - 1 - best_at


def max_epochs(config: RunConfig) -> int:
    """The epochs the trainer runs at most: ``fsl_epochs`` for few-shot fine-tuning (the
    finetune, continual and replay modes), else ``epochs``."""
    if config.fsl and config.fsl_mode != "joint":
        return config.fsl_epochs
    return config.epochs


def read_history(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``history.csv`` (none when missing, empty or being rewritten)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return [row for row in csv.DictReader(fh) if row.get("epoch")]
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def estimate_folder(folder: str | Path, config: RunConfig) -> Estimate | None:
    """The progress of the run training in ``folder`` (its staging folder), from its live
    ``history.csv``; None before its first epoch ends."""
    rows = read_history(Path(folder) / HISTORY)
    if not rows:
        return None
    try:
        seconds = [float(r["seconds"]) for r in rows]
        epoch = int(rows[-1]["epoch"])
    except (KeyError, ValueError):
        return None
    return estimate(seconds, epoch, max_epochs(config), stale_epochs(rows), config.early_stop)

"""Argument types for the numeric flags that are not run settings (``--seq-len``, ``--jobs``).

Each checks its value's type and range where it is parsed, with the same
:class:`~emotrans.config.Interval` as the run settings, and refuses with a one-line
:class:`~emotrans.errors.ConfigError` naming the flag and the range (argparse only catches
``ValueError``, so the error reaches the command's error handler as it is).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from emotrans.config import NON_NEGATIVE, Interval
from emotrans.errors import ConfigError
from emotrans.training.tensorboard import LOG_WRITERS

MAX_SEQ_LEN = 100_000
"""Steps per sample at most: past this one sample's tensors no longer fit in memory."""

SEQ_LEN = Interval(1, MAX_SEQ_LEN)
WORKERS = Interval(0, 1024)
JOBS = Interval(1, 1024)


def number(tp: type, valid: Interval, flag: str) -> Callable[[str], int | float]:
    """An argparse ``type`` reading an ``int`` or a ``float`` in ``valid``."""

    def parse(text: str) -> int | float:
        try:
            value = tp(text)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(
                f"{flag} {text!r}: not a valid {tp.__name__}; must be {valid}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value) or value not in valid:
            raise ConfigError(f"{flag} {text}: must be {valid}")
        return value

    parse.__name__ = tp.__name__  # argparse names the type in its own messages
    return parse


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` of a command that runs torch itself (0: the automatic choice)."""
    parser.add_argument(
        "--threads",
        type=number(int, NON_NEGATIVE, "--threads"),
        default=0,
        metavar="N",
        help="torch CPU threads (0: automatic, the free cores; logged)",
    )


def add_log_option(parser: argparse.ArgumentParser, where: str) -> None:
    """``--log WRITER`` (repeatable) of a command that trains; ``where`` says where a run's
    events go, e.g. ``OUT/tensorboard``."""
    parser.add_argument(
        "--log",
        choices=LOG_WRITERS,
        action="append",
        default=[],
        help="also write live logs each epoch: tensorboard (losses, validation metrics and "
        f'lr as TensorBoard scalars in {where}; pip install "emotrans[tensorboard]")',
    )

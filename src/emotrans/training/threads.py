"""How many CPU threads torch uses: the ``threads`` setting, or a choice that survives a busy
machine.

PyTorch's default (one intra-op thread per logical CPU) collapses when another process keeps a
core busy: the threads of each parallel region wait for the slowest one, which is descheduled,
and an epoch took 66.6 s instead of 6.9 s with one thread on 2 cores (issue #16). The automatic
choice (``threads = 0``) therefore counts the cores this process may use (its CPU affinity,
capped at the physical cores), subtracts the cores other processes are keeping busy right now
(sampled from ``/proc/stat`` for a fifth of a second; ``os.getloadavg`` where that file is
missing) and keeps at least one. It is made once per process and logged once. A thread count
given in the environment (``OMP_NUM_THREADS``, as the test suite sets) is respected instead.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)

_chosen: int | None = None  # the automatic choice, once made in this process


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped at the physical cores."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        allowed = os.cpu_count() or 1
    try:
        import psutil

        physical = psutil.cpu_count(logical=False) or allowed
    except ImportError:
        physical = allowed
    return max(1, min(allowed, physical))


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat, or None where it is not readable."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(interval: float = 0.2) -> float:
    """How many of the machine's CPUs other processes keep busy now (this one sleeps while it
    measures): the busy share of ``interval`` seconds of /proc/stat times the CPU count, or
    the one-minute load average where /proc/stat is missing."""
    before = _cpu_times()
    if before is None:
        try:
            return float(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0.0
    time.sleep(interval)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return 0.0
    share = (after[0] - before[0]) / (after[1] - before[1])
    return share * (os.cpu_count() or 1)


def auto_threads(cores: int | None = None, busy: float | None = None) -> int:
    """The automatic thread count: usable cores minus the cores busy elsewhere (rounded),
    at least 1.

    Parameters
    ----------
    cores : usable cores (default :func:`usable_cores`)
    busy : CPUs other processes keep busy (default :func:`busy_cores`)
    """
    cores = usable_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    return max(1, min(cores, round(cores - busy)))


def apply_threads(requested: int = 0) -> int:
    """Set torch's intra-op threads and return the number set.

    ``requested > 0`` is used as given. ``0`` makes the automatic choice (:func:`auto_threads`)
    the first time in a process, logged once; later calls with 0 keep what is set, so a
    caller that set a count (a grid executor) is not overridden.
    """
    global _chosen
    import torch  # deferred: importing this module stays light

    if requested > 0:
        torch.set_num_threads(requested)
        _chosen = requested
        return requested
    if _chosen is None and os.environ.get("OMP_NUM_THREADS", "").strip().isdigit():
        _chosen = torch.get_num_threads()  # the environment chose; torch read it at start
        log.info("torch threads: %d (from OMP_NUM_THREADS)", _chosen)
    if _chosen is None:
        cores, busy = usable_cores(), busy_cores()
        _chosen = auto_threads(cores, busy)
        torch.set_num_threads(_chosen)
        log.info(
            "torch threads: %d (%d usable cores, %.1f busy with other work; --threads N to set)",
            _chosen,
            cores,
            busy,
        )
    return torch.get_num_threads()

"""Keep the C heap from growing during training (glibc only).

glibc's ``malloc`` serves a block larger than its *mmap threshold* (128 KiB at start) with its
own ``mmap`` and unmaps it when freed. Each time such a block is freed, glibc raises the
threshold to the block's size (up to 32 MiB), so that later blocks of that size come from the
heap instead. Training allocates and frees blocks of many sizes every step (the exact
encoders crop each batch to its own length), so after the first few steps most of them come
from the heap, where freed space is fragmented and rarely returned: a full-size CMU-MOSEI run
grew by ~550 MB over its first epoch, beyond what the model, its gradients and Adam's moments
hold (~120 MB). Setting the threshold once fixes it (glibc then stops adjusting it), so the
large blocks are mapped and unmapped again and the process stays near its working set: the
same run peaked ~250 MB lower at the same speed (``benchmarks/bench_train.py --memory``).

A threshold chosen in the environment (``MALLOC_MMAP_THRESHOLD_``) is left as it is, and on a
C library other than glibc nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD = 128 * 1024
"""Blocks from this size up get their own mapping: glibc's starting value, kept fixed."""

_done = False


def steady_heap(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes, once per process.

    Returns True when it was set now or before, False where it cannot be (not glibc, or the
    environment sets it).
    """
    global _done
    if _done:
        return True
    if os.environ.get("MALLOC_MMAP_THRESHOLD_") is not None:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (raises AttributeError on a C library not glibc)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, threshold))
    if _done:
        log.debug("malloc: mmap threshold fixed at %d bytes", threshold)
    return _done

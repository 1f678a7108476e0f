"""Where clip extractions run: in this process, or in a pool of spawned worker processes.

A pool runs ``fn(job)`` for submitted jobs and hands back ``(job, result)`` pairs, the result
being what ``fn`` returned or the exception that stopped it (a worker that died, a job that
could not be shipped). It has the shape of the grids' executors (``submit``, ``wait``,
``in_flight``, ``slots``, ``close``), so a cluster pool with the same interface can be passed
in from above (``emotrans extract --executor ray`` builds one in the CLI from
:mod:`emotrans.experiments.executor`, which this layer may not import).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

Outcome = tuple[Any, Any]  # (job, result or BaseException)


class ClipPool(Protocol):
    slots: int

    @property
    def in_flight(self) -> int: ...

    def submit(self, fn: Callable[[Any], Any], job: Any) -> None: ...

    def wait(self) -> list[Outcome]: ...

    def close(self, cancel: bool = False) -> None: ...


class InlinePool:
    """Runs each job inside :meth:`wait`, in this process (``--workers 1``)."""

    slots = 1

    def __init__(self) -> None:
        self._queue: list[tuple[Callable[[Any], Any], Any]] = []

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, fn: Callable[[Any], Any], job: Any) -> None:
        self._queue.append((fn, job))

    def wait(self) -> list[Outcome]:
        fn, job = self._queue.pop(0)
        try:
            return [(job, fn(job))]
        except Exception as exc:  # fn reports clip errors itself; this is a bug, kept per job
            return [(job, exc)]

    def close(self, cancel: bool = False) -> None:
        self._queue.clear()


def _exit_with_parent(parent: int, every: float = 2.0) -> None:
    """Daemon-thread loop: end this worker when the process that started it is gone."""
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(parent: int) -> None:
    """One numeric thread per worker (the pool is the parallelism), and watch the parent."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


class ProcessPool:
    """Up to ``workers`` jobs at once in spawned processes. A worker that dies fails the jobs
    it held (their outcome is the exception); the pool is rebuilt for the jobs that follow."""

    def __init__(self, workers: int) -> None:
        self.slots = max(1, workers)
        self._pool: Any = None
        self._futures: dict[Any, Any] = {}

    def _ensure(self) -> Any:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def submit(self, fn: Callable[[Any], Any], job: Any) -> None:
        self._futures[self._ensure().submit(fn, job)] = job

    def wait(self) -> list[Outcome]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait_futures(list(self._futures), return_when=FIRST_COMPLETED)
        out: list[Outcome] = []
        broken = False
        for fut in done:
            job = self._futures.pop(fut)
            try:
                out.append((job, fut.result()))
            except BrokenProcessPool as exc:
                broken = True
                out.append((job, exc))
            except Exception as exc:  # pickling problems and the like
                out.append((job, exc))
        if broken and not self._futures:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        return out

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            shutdown_pool(self._pool, cancel)
            self._pool = None
        self._futures.clear()


def shutdown_pool(pool: Any, cancel: bool = False) -> None:
    """Shut a ``ProcessPoolExecutor`` down; with ``cancel``, queued tasks are dropped and the
    workers still running one are terminated (otherwise interpreter exit waits for them)."""
    if not cancel:
        pool.shutdown(wait=True)
        return
    workers = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in workers:
        if proc.is_alive():
            proc.terminate()
    for proc in workers:
        proc.join(timeout=10)


def local_pool(workers: int) -> InlinePool | ProcessPool:
    """This process for one worker, else a pool of ``workers`` spawned processes."""
    return InlinePool() if workers <= 1 else ProcessPool(workers)

"""Where the runs of a grid execute: in this process, in a local process pool, or on Ray.

Every executor runs :func:`execute_task` on a :class:`RunTask` and hands back a
:class:`RunOutcome`. The task is self-contained (settings as a plain dict, the absolute run
directory), so the same function runs in a spawned process or on a Ray worker. A task whose run
directory is already complete is not trained again; a task never overwrites an existing run
directory (:func:`emotrans.training.rundir.staging_dir` refuses), so resuming is safe whichever
executor runs it.

Executors share a small interface used by :mod:`emotrans.experiments.runner`:
``submit(task)``, ``wait() -> list[RunOutcome]`` (blocks until at least one submitted task
ends), ``in_flight``, ``slots`` (how many tasks may run at once) and ``close()``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from emotrans.config import RunConfig
from emotrans.errors import ConfigError, EmotransError
from emotrans.media.pool import shutdown_pool
from emotrans.training.rundir import is_complete
from emotrans.training.threads import apply_threads

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")


@dataclass
class RunTask:
    """One run to execute.

    Attributes
    ----------
    run_id : the run's id in the grid (``runs/<cell>/seed-<s>-<digest>``)
    path : absolute run directory
    config : RunConfig settings as a dict (``RunConfig.to_dict()``)
    threads : torch CPU threads for the run (0: leave the process's setting)
    log : live logs the run writes (see :func:`emotrans.training.pipeline.train_run`)
    """

    run_id: str
    path: str
    config: dict[str, Any]
    threads: int = 0
    log: tuple[str, ...] = ()


@dataclass
class RunOutcome:
    """What happened to a :class:`RunTask`.

    Attributes
    ----------
    status : "complete" (the run directory is complete) or "failed"
    trained : whether this task trained the run (False: it was already complete)
    seconds : wall time of the task
    error : one-line error message when failed
    traceback : the Python traceback of an unexpected error (a bug), else None
    """

    run_id: str
    status: str
    trained: bool
    seconds: float
    error: str | None = None
    traceback: str | None = None


def one_line(exc: BaseException) -> str:
    """A one-line description of ``exc``; user errors keep their message as it is."""
    text = " ".join(str(exc).split())
    if isinstance(exc, EmotransError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _remove_stale_partials(path: Path) -> None:
    """Delete staging folders left beside ``path`` by a killed run (``.<name>.*.partial``)."""
    for stale in path.parent.glob(f".{path.name}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def _set_threads(threads: int) -> None:
    apply_threads(threads)  # 0: the automatic choice, once per process


def execute_task(task: RunTask) -> RunOutcome:
    """Train ``task`` into its run directory unless it is already complete.

    Never raises for a failing run: the error is returned in the outcome (one line, plus the
    traceback when it is not a user-facing :class:`EmotransError`).
    """
    from emotrans.training import pipeline  # deferred: imports torch

    start = time.perf_counter()
    path = Path(task.path)
    if is_complete(path):
        return RunOutcome(task.run_id, "complete", False, 0.0)
    try:
        _remove_stale_partials(path)
        _set_threads(task.threads)
        config = RunConfig.from_dict(task.config, where=f"{task.run_id}/config.json")
        pipeline.train_run(config, path, resume=True, log=task.log)  # a killed run resumes
    except Exception as exc:
        log.info("%s failed: %s", task.run_id, one_line(exc))
        return RunOutcome(
            task.run_id,
            "failed",
            False,
            time.perf_counter() - start,
            error=one_line(exc),
            traceback=None if isinstance(exc, EmotransError) else traceback.format_exc(),
        )
    return RunOutcome(task.run_id, "complete", True, time.perf_counter() - start)


def default_threads(jobs: int) -> int:
    """Torch threads per parallel job so that jobs x threads <= the CPU count."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


# -- executors -------------------------------------------------------------------------------


class InlineExecutor:
    """Runs tasks one at a time in this process (``--jobs 1``).

    The task runs inside :meth:`wait`, so Ctrl-C interrupts it directly. With ``threads`` > 0
    torch's thread count is set for the task and restored afterwards.
    """

    slots = 1

    def __init__(self, threads: int = 0) -> None:
        self.threads = threads
        self._queue: list[RunTask] = []

    @property
    def in_flight(self) -> int:
        return len(self._queue)

    def submit(self, task: RunTask) -> None:
        self._queue.append(task)

    def wait(self) -> list[RunOutcome]:
        task = self._queue.pop(0)
        if self.threads <= 0:
            return [execute_task(task)]
        import torch

        before = torch.get_num_threads()
        try:
            return [execute_task(replace(task, threads=self.threads))]
        finally:
            torch.set_num_threads(before)

    def close(self, cancel: bool = False) -> None:
        self._queue.clear()


def _exit_with_parent(parent: int, every: float = 2.0) -> None:
    """Daemon-thread loop: end this worker when the process that started it is gone.

    A grid killed with SIGKILL cannot stop its workers; without this they would train on,
    orphaned, and write run directories nobody waits for.
    """
    while True:
        time.sleep(every)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int, parent: int) -> None:
    """Process-pool initializer: cap the numeric libraries' threads before torch loads, and
    watch the parent process."""
    import threading

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


class ProcessExecutor:
    """Runs up to ``jobs`` tasks at once in spawned worker processes.

    Workers are started with the ``spawn`` method (safe with torch and threads) and run each
    task with ``threads`` torch threads. A worker that dies (killed, out of memory) fails its
    task; the pool is rebuilt for the tasks that follow.
    """

    def __init__(self, jobs: int, threads: int) -> None:
        self.slots = max(1, jobs)
        self.threads = max(1, threads)
        self._pool = None
        self._futures: dict[Any, RunTask] = {}

    def _ensure_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.slots,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.threads, os.getpid()),
            )
        return self._pool

    @property
    def in_flight(self) -> int:
        return len(self._futures)

    def submit(self, task: RunTask) -> None:
        task = replace(task, threads=self.threads)
        self._futures[self._ensure_pool().submit(execute_task, task)] = task

    def wait(self) -> list[RunOutcome]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        done, _ = wait_futures(list(self._futures), return_when=FIRST_COMPLETED)
        outcomes, broken = [], False
        for fut in done:
            task = self._futures.pop(fut)
            try:
                outcomes.append(fut.result())
            except BrokenProcessPool:
                broken = True
                outcomes.append(
                    RunOutcome(
                        task.run_id, "failed", False, 0.0, error="worker process died (killed?)"
                    )
                )
            except Exception as exc:  # pickling problems and the like
                outcomes.append(RunOutcome(task.run_id, "failed", False, 0.0, error=one_line(exc)))
        if broken and not self._futures:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        return outcomes

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down; with ``cancel``, queued tasks are dropped and the workers still
        running a task are terminated (their staging folders are removed on the next run)."""
        if self._pool is not None:
            shutdown_pool(self._pool, cancel)
            self._pool = None
        self._futures.clear()


def connect_ray(address: str | None = None, local_cpus: int | None = None) -> tuple[Any, bool]:
    """Ray, connected to the cluster at ``address`` (default ``"auto"``: this machine's
    cluster or ``RAY_ADDRESS``), or to a local instance with ``local_cpus`` CPUs started when
    none runs. Returns ``(ray, owns)``: ``owns`` when this call started Ray (the caller shuts
    it down)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'emotrans[ray]' (or 'ray[default]')"
        ) from None
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=address or "auto", log_to_driver=False)
    except ConnectionError:
        if address not in (None, "auto"):
            raise ConfigError(f"--ray-address {address}: no Ray cluster there") from None
        log.info("no running Ray cluster found; starting a local Ray instance")
        ray.init(
            num_cpus=local_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            log_to_driver=False,
        )
    return ray, True


def ray_resources(config: dict[str, Any], threads: int) -> dict[str, int]:
    """The Ray resources one run asks for: ``threads`` CPUs, and one GPU when its ``device``
    names CUDA (``cuda`` or ``cuda:N``; Ray then shows the task its GPU as ``cuda:0``).
    ``auto`` asks for none, so such runs take the CPU on Ray, which hides GPUs from tasks
    that did not ask for one.

    Parameters
    ----------
    config : a run's settings as saved (``RunConfig.to_dict()``)
    threads : torch threads of the run
    """
    device = str(config.get("device", "auto"))
    wants_gpu = device == "cuda" or device.startswith("cuda:")
    return {"num_cpus": max(1, threads), "num_gpus": 1 if wants_gpu else 0}


class RayExecutor:
    """Submits tasks as Ray tasks (``--executor ray``).

    Connects to the cluster at ``address`` (default ``"auto"``: the cluster this machine
    belongs to, or the one named by ``RAY_ADDRESS``); when none is running, starts a local Ray
    instance with ``local_cpus`` CPUs (the machine's by default) and stops it on
    :meth:`close`. Each task reserves ``threads`` CPUs and runs with that many torch threads,
    plus one GPU when its device is CUDA (:func:`ray_resources`); at most ``jobs`` tasks are in flight. The workers need emotrans installed and must see the
    data and the grid folder at the same paths (a shared filesystem).
    """

    def __init__(
        self, jobs: int, threads: int, address: str | None = None, local_cpus: int | None = None
    ) -> None:
        ray, self._owns = connect_ray(address, local_cpus)
        self._ray = ray
        self.slots = max(1, jobs)
        self.threads = max(1, threads)
        self._remote = ray.remote(num_cpus=self.threads, max_retries=0)(execute_task)
        self._refs: dict[Any, RunTask] = {}

    @property
    def in_flight(self) -> int:
        return len(self._refs)

    def submit(self, task: RunTask) -> None:
        task = replace(task, threads=self.threads)
        resources = ray_resources(task.config, self.threads)
        self._refs[self._remote.options(**resources).remote(task)] = task

    def wait(self) -> list[RunOutcome]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1)
        outcomes = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                outcomes.append(self._ray.get(ref))
            except Exception as exc:  # the worker died or the task could not be shipped
                outcomes.append(RunOutcome(task.run_id, "failed", False, 0.0, error=one_line(exc)))
        return outcomes

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in list(self._refs):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or not cancellable
                    pass
        self._refs.clear()
        if self._owns:
            self._ray.shutdown()


class RayPool:
    """Runs ``fn(job)`` for any function as Ray tasks, with the interface of
    :class:`emotrans.media.pool.ProcessPool` (``submit(fn, job)``, ``wait() -> [(job,
    result or exception)]``), so ``emotrans extract --executor ray`` sends clips to the same
    cluster the grids use. Each task reserves ``cpus`` CPUs; at most ``jobs`` run at once.
    The workers need emotrans and must see the media and the cache at the same paths."""

    def __init__(
        self, jobs: int, cpus: int = 1, address: str | None = None, local_cpus: int | None = None
    ) -> None:
        self._ray, self._owns = connect_ray(address, local_cpus)
        self.slots = max(1, jobs)
        self.cpus = max(1, cpus)
        self._remote: dict[Any, Any] = {}
        self._refs: dict[Any, Any] = {}

    @property
    def in_flight(self) -> int:
        return len(self._refs)

    def submit(self, fn: Any, job: Any) -> None:
        if fn not in self._remote:
            self._remote[fn] = self._ray.remote(num_cpus=self.cpus, max_retries=0)(fn)
        self._refs[self._remote[fn].remote(job)] = job

    def wait(self) -> list[tuple[Any, Any]]:
        ready, _ = self._ray.wait(list(self._refs), num_returns=1)
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                out.append((job, self._ray.get(ref)))
            except Exception as exc:  # the worker died or the job could not be shipped
                out.append((job, exc))
        return out

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in list(self._refs):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or not cancellable
                    pass
        self._refs.clear()
        if self._owns:
            self._ray.shutdown()


def make_executor(
    kind: str = "local",
    jobs: int = 1,
    threads: int | None = None,
    ray_address: str | None = None,
):
    """The executor for ``--executor kind --jobs jobs``.

    ``local`` with one job runs in this process; with more, in a spawned process pool with
    ``threads`` torch threads per process (default :func:`default_threads`). ``ray`` submits to
    a Ray cluster (see :class:`RayExecutor`).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be at least 1")
    if kind == "local":
        if jobs == 1:
            return InlineExecutor(threads or 0)
        return ProcessExecutor(jobs, threads or default_threads(jobs))
    if kind == "ray":
        return RayExecutor(jobs, threads or 1, address=ray_address)
    raise ConfigError(f"--executor {kind}: choose one of {', '.join(EXECUTORS)}")

"""Running a grid: resume, dependencies, failures, and the grid folder's bookkeeping.

::

    OUT/
      grid.json        the expanded grid: data path, seeds, --set overrides, cells, and one
                       record per run (status pending/running/complete/failed/skipped, error)
      failures.json    the runs that failed or were skipped in the last invocation, with their
                       one-line errors (empty list when none)
      runs/<cell>/seed-<s>-<digest>/   one normal run directory per (cell, seed)

:func:`prepare_grid` expands a grid and looks at what is already complete;
:meth:`GridPlan.run` trains the rest with an executor. A run whose dependency (``@cell``
reference) failed is skipped, and one failing run never stops the others. Interrupting (Ctrl-C)
leaves every finished run in place; running the same command again resumes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from emotrans.errors import ConfigError, RunDirError
from emotrans.experiments.executor import RunOutcome, RunTask, make_executor
from emotrans.experiments.grid import Grid, RunSpec, expand_runs, load_grid, parse_seeds
from emotrans.training.documents import check_grid, read_json
from emotrans.training.progress import Estimate, estimate_folder
from emotrans.training.rundir import is_complete, partial_dir, write_json
from emotrans.version import __version__

log = logging.getLogger(__name__)

GRID_JSON = "grid.json"
FAILURES_JSON = "failures.json"
LOCK_FILE = ".reproduce.lock"
STATUSES = ("pending", "running", "complete", "failed", "skipped")


@dataclass
class GridSummary:
    """What :meth:`GridPlan.run` did.

    Attributes
    ----------
    total : runs in the grid
    counts : status -> number of runs after this invocation
    trained : runs trained by this invocation
    failures : the failed and skipped runs: {"run", "cell", "seed", "status", "error"}
    seconds : wall time of the invocation
    """

    out: Path
    total: int
    counts: dict[str, int]
    trained: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.counts.get("complete", 0) == self.total


class _Lock:
    """An exclusive lock on a file in the grid folder: one `emotrans reproduce` per folder.

    An OS lock (``flock``) on ``.reproduce.lock``: taking it is atomic, the OS releases it
    when its holder dies (even by SIGKILL), and the file names the holder for the message.
    After locking, the file is checked to still be the one at the path (a holder that just
    finished removes it), so two processes never both hold it.
    """

    def __init__(self, folder: Path) -> None:
        self.file = folder / LOCK_FILE
        self.fd: int | None = None

    def __enter__(self) -> _Lock:
        import fcntl

        self.file.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            fd = os.open(self.file, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                try:
                    holder = self.file.read_text(encoding="utf-8").strip() or "starting"
                except OSError:
                    holder = "unknown"
                raise ConfigError(
                    f"{self.file.parent}: another `emotrans reproduce` is running in this "
                    f"folder ({holder}); wait for it to finish"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.file).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # removed by a holder finishing meanwhile: lock the new file
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
            self.fd = fd
            return self
        raise ConfigError(f"{self.file}: cannot take the grid folder's lock")

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            self.file.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GridPlan:
    """An expanded grid bound to a data path and an output folder.

    Build it with :func:`prepare_grid`. ``records`` holds one dict per run (``run``, ``cell``,
    ``seed``, ``digest``, ``status``, ``trained``, ``seconds``, ``error``, ``depends``), in
    the order of ``runs``.
    """

    def __init__(
        self,
        grid: Grid,
        data: Path,
        out: Path,
        runs: list[RunSpec],
        seeds: list[int],
        overrides: dict[str, Any],
    ) -> None:
        self.grid, self.data, self.out, self.runs = grid, data, out, runs
        self.seeds, self.overrides = seeds, overrides
        self.records: dict[str, dict[str, Any]] = {}
        for r in runs:
            done = is_complete(r.path)
            self.records[r.run_id] = {
                "run": r.run_id,
                "cell": r.cell,
                "seed": r.seed,
                "digest": r.digest,
                "status": "complete" if done else "pending",
                "trained": False,
                "seconds": None,
                "error": None,
                "depends": list(r.depends),
            }
        self._tracebacks: dict[str, str] = {}

    # -- views -----------------------------------------------------------------------------
    @property
    def todo(self) -> list[RunSpec]:
        """Runs that are not complete yet."""
        return [r for r in self.runs if self.records[r.run_id]["status"] != "complete"]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for rec in self.records.values():
            out[rec["status"]] += 1
        return out

    def in_flight(self) -> list[tuple[str, Estimate | None]]:
        """The runs being trained now, each with its progress read from the live
        ``history.csv`` in its staging folder (None before its first epoch ends): safe to
        call from another thread while :meth:`run` goes on."""
        specs = {r.run_id: r for r in self.runs}
        running = [rid for rid, rec in list(self.records.items()) if rec["status"] == "running"]
        return [
            (rid, estimate_folder(partial_dir(specs[rid].path), specs[rid].config))
            for rid in running
        ]

    def failures(self) -> list[dict[str, Any]]:
        rows = []
        for rec in self.records.values():
            if rec["status"] in ("failed", "skipped"):
                row = {k: rec[k] for k in ("run", "cell", "seed", "status", "error")}
                if rec["run"] in self._tracebacks:
                    row["traceback"] = self._tracebacks[rec["run"]]
                rows.append(row)
        return rows

    # -- files -----------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:

        return {
            "format": 1,
            "emotrans": __version__,
            "grid": self.grid.name,
            "description": self.grid.description,
            "source": self.grid.source,
            "data": str(self.data),
            "seeds": list(self.seeds),
            "overrides": dict(self.overrides),
            "base": dict(self.grid.base),
            "cells": [
                {"name": c.name, "settings": c.settings, "refs": c.refs} for c in self.grid.cells
            ],
            "updated": _now(),
            "counts": self.counts(),
            "runs": [self.records[r.run_id] for r in self.runs],
        }

    def write(self) -> None:
        """Write ``grid.json`` and ``failures.json`` (atomically)."""
        write_json(self.out / GRID_JSON, self.to_json())
        write_json(self.out / FAILURES_JSON, self.failures())

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        executor: str = "local",
        jobs: int = 1,
        threads: int | None = None,
        ray_address: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        log: Sequence[str] = (),
    ) -> GridSummary:
        """Train every run that is not complete; return the summary.

        Parameters
        ----------
        executor : "local" (this process with one job, else a spawned process pool) or "ray"
        jobs : runs in parallel
        threads : torch threads per run (default: CPU count // jobs locally, 1 on Ray)
        ray_address : Ray cluster address (default "auto", a local instance when none)
        on_event : called with the run's record each time a run ends (complete, failed or
            skipped); progress bars hook in here
        log : live logs each run writes (``"tensorboard"``: its ``tensorboard/`` folder);
            not a run setting, so a run already complete is not trained again for them

        Interrupting (KeyboardInterrupt) stops the runs in flight, records them as pending,
        writes ``grid.json`` and re-raises; finished runs stay complete.
        """
        start = time.perf_counter()
        trained = 0
        for rec in self.records.values():
            if rec["status"] != "complete":
                rec.update(status="pending", error=None, trained=False, seconds=None)
        self._tracebacks.clear()
        with _Lock(self.out):
            pending = list(self.todo)
            self.write()
            if not pending:
                return self._summary(0, start)
            ex = make_executor(executor, jobs, threads, ray_address)
            try:
                while pending or ex.in_flight:
                    for spec in list(pending):
                        rec = self.records[spec.run_id]
                        states = [self.records[d]["status"] for d in spec.depends]
                        bad = [
                            d for d, s in zip(spec.depends, states) if s in ("failed", "skipped")
                        ]
                        if bad:
                            pending.remove(spec)
                            rec.update(
                                status="skipped", error=f"dependency {bad[0]} did not finish"
                            )
                            self.write()
                            if on_event:
                                on_event(dict(rec))
                        elif all(s == "complete" for s in states) and ex.in_flight < ex.slots:
                            pending.remove(spec)
                            rec["status"] = "running"
                            ex.submit(
                                RunTask(
                                    spec.run_id,
                                    str(spec.path),
                                    spec.config.to_dict(),
                                    log=tuple(log),
                                )
                            )
                    if not ex.in_flight:
                        if pending:  # cannot happen: the grid's references are acyclic
                            raise ConfigError(
                                f"{self.grid.source}: runs wait on runs outside the grid"
                            )
                        break
                    self.write()
                    for outcome in ex.wait():
                        trained += self._record(outcome)
                        self.write()
                        if on_event:
                            on_event(dict(self.records[outcome.run_id]))
            except BaseException:
                for rec in self.records.values():
                    if rec["status"] == "running":
                        rec["status"] = "pending"
                ex.close(cancel=True)
                self.write()
                raise
            ex.close()
            self.write()
        return self._summary(trained, start)

    def _record(self, outcome: RunOutcome) -> int:
        rec = self.records[outcome.run_id]
        rec.update(
            status=outcome.status,
            trained=outcome.trained,
            seconds=round(outcome.seconds, 3),
            error=outcome.error,
        )
        if outcome.traceback:
            self._tracebacks[outcome.run_id] = outcome.traceback
        return int(outcome.trained)

    def _summary(self, trained: int, start: float) -> GridSummary:
        return GridSummary(
            out=self.out,
            total=len(self.runs),
            counts=self.counts(),
            trained=trained,
            failures=self.failures(),
            seconds=time.perf_counter() - start,
        )


def prepare_grid(
    grid: str | Path | Grid,
    data: str | Path,
    out: str | Path,
    seeds: int | list[int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> GridPlan:
    """Expand ``grid`` for ``data`` into ``out`` and find the runs already complete.

    Parameters
    ----------
    grid : a shipped grid's name, a grid file, or a :class:`Grid`
    data : the dataset path (must exist)
    out : the grid folder
    seeds : a number of seeds (0..N-1) or a list of seeds (default: the grid's)
    overrides : settings for every cell on top of the grid's base (``--set``)
    """
    if not isinstance(grid, Grid):
        grid = load_grid(grid)
    data_path = Path(data).expanduser().resolve()
    if not data_path.exists():
        raise ConfigError(f"--data {data}: no such file or directory")
    out_path = Path(out).expanduser().resolve()
    if out_path.exists() and not out_path.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    seed_list = None if seeds is None else parse_seeds(seeds, "--seeds")
    overrides = dict(overrides or {})
    for key in ("zsl_data",):
        if overrides.get(key) and not Path(str(overrides[key])).expanduser().exists():
            raise ConfigError(f"{key} {overrides[key]}: no such file or directory")
    runs = expand_runs(grid, data_path, out_path, seed_list, overrides)
    return GridPlan(
        grid, data_path, out_path, runs, seed_list or list(grid.seeds), overrides=overrides
    )


def reproduce(
    grid: str | Path | Grid,
    data: str | Path,
    out: str | Path,
    seeds: int | list[int] | None = None,
    overrides: dict[str, Any] | None = None,
    executor: str = "local",
    jobs: int = 1,
    threads: int | None = None,
    ray_address: str | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> GridSummary:
    """Run a whole grid (see :func:`prepare_grid` and :meth:`GridPlan.run`)."""
    plan = prepare_grid(grid, data, out, seeds=seeds, overrides=overrides)
    return plan.run(
        executor=executor, jobs=jobs, threads=threads, ray_address=ray_address, on_event=on_event
    )


def read_grid_json(out: str | Path) -> dict[str, Any]:
    """The ``grid.json`` of a grid folder, checked for structure
    (:func:`~emotrans.training.documents.check_grid`): a damaged one is a one-line
    :class:`RunDirError` naming the file and the key."""
    file = Path(out) / GRID_JSON
    if not file.is_file():
        raise RunDirError(f"{file}: missing; {out} is not a grid folder")
    return check_grid(read_json(file, "grid record"), file)

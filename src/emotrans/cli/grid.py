"""``emotrans reproduce`` (run an experiment grid) and ``emotrans report`` (aggregate it)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable

from tqdm.auto import tqdm

from emotrans.cli.arguments import JOBS, add_log_option, number
from emotrans.config import NON_NEGATIVE
from emotrans.errors import ConfigError
from emotrans.experiments.executor import EXECUTORS, default_threads
from emotrans.experiments.grid import parse_overrides
from emotrans.experiments.report import write_report
from emotrans.experiments.runner import GridPlan, prepare_grid
from emotrans.training.progress import Estimate
from emotrans.training.tensorboard import check_writers


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="run an experiment grid (many runs x seeds), resumable",
        description="Run every cell of a grid over several seeds, each as a normal run "
        "directory under OUT/runs/<cell>/seed-<s>-<digest>. Runs already complete are skipped, "
        "so an interrupted grid resumes with the same command; one failing run does not stop "
        "the others (see OUT/failures.json). Shipped grids: main-mosei, main-iemocap, "
        "zsl-mosei, zsl-iemocap, fsl-mosei; or give the path of your own grid file (YAML). "
        "Writes the report (emotrans report) at the end.",
    )
    p.add_argument("grid", metavar="GRID", help="a shipped grid's name or a grid file (YAML)")
    p.add_argument("--data", required=True, help="dataset path (directory or file)")
    p.add_argument("--out", required=True, help="grid folder (created; reused to resume)")
    p.add_argument(
        "--seeds",
        help="number of seeds N (seeds 0..N-1) or a comma-separated list (default: the grid's, "
        "usually 5)",
    )
    p.add_argument(
        "--jobs", type=number(int, JOBS, "--jobs"), default=1, help="runs in parallel (default: 1)"
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: this machine (a process pool when --jobs > 1); ray: an existing Ray "
        "cluster (pip install 'emotrans[ray]'), or a local Ray instance when none runs",
    )
    p.add_argument("--ray-address", help="Ray cluster address (default: auto)")
    p.add_argument(
        "--threads",
        type=number(int, NON_NEGATIVE, "--threads"),
        help="torch threads per run (default: automatic with one local job, the free cores; "
        "CPU count // jobs with more, 1 on Ray)",
    )
    p.add_argument(
        "--zsl-data", help="IEMOCAP-9 data with the unseen emotions' samples (zsl-iemocap)"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting for every cell, e.g. --set epochs=2 batch_size=32",
    )
    add_log_option(p, "each run's folder, OUT/runs/<cell>/seed-<s>-<digest>/tensorboard")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status only")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument(
        "--progress-every",
        type=number(float, NON_NEGATIVE, "--progress-every"),
        default=PROGRESS_EVERY,
        metavar="SECONDS",
        help="every SECONDS, log each run in flight: its epoch and time left, from its live "
        "history.csv (0: off; default: %(default)g)",
    )
    p.set_defaults(func=_reproduce)

    r = sub.add_parser(
        "report",
        help="aggregate a grid folder into results.md/.csv/.tex and plots",
        description="Aggregate the finished runs of a grid folder over seeds (mean ± sample std) "
        "and write DIR/results.md, results.csv, results.tex and DIR/plots/*.png.",
    )
    r.add_argument("folder", metavar="DIR", help="a grid folder written by emotrans reproduce")
    r.add_argument(
        "--reference",
        metavar="FILE",
        help="YAML of published numbers (name -> emotion -> metric -> value) to print beside ours",
    )
    r.add_argument("--no-plots", action="store_true", help="tables only")
    r.set_defaults(func=_report)


PROGRESS_EVERY = 30.0
"""Seconds between two reports of the runs in flight (``--progress-every``)."""


def in_flight_line(running: list[tuple[str, Estimate | None]]) -> str:
    """One line on the runs being trained: ``emotrans: in flight: RUN epoch 3/100, left
    25s..3m10s; RUN starting``."""
    parts = [
        f"{rid} starting"
        if est is None
        else f"{rid} epoch {est.epoch}/{est.epochs}, {est.describe()}"
        for rid, est in running
    ]
    return "emotrans: in flight: " + "; ".join(parts)


class _Watcher:
    """A daemon thread that calls ``say`` with :func:`in_flight_line` every ``every``
    seconds while runs are in flight (with one job the run trains in the main thread)."""

    def __init__(self, plan: GridPlan, every: float, say: Callable[[str], None]) -> None:
        self._plan, self._every, self._say = plan, every, say
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="grid-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopped.wait(self._every):
            running = self._plan.in_flight()
            if running:
                self._say(in_flight_line(running))

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)


def _parse_seeds(text: str | None) -> int | list[int] | None:
    if text is None:
        return None
    try:
        if "," in text:
            return [int(s) for s in text.split(",") if s.strip()]
        return int(text)
    except ValueError:
        raise ConfigError(f"--seeds {text}: expected a number or a list like 0,1,2") from None


def _terminate_as_interrupt(signum, frame) -> None:
    """SIGTERM (a batch scheduler's time limit, `kill`) stops the grid like Ctrl-C: runs in
    flight are stopped and recorded as pending, finished runs stay."""
    raise KeyboardInterrupt


def _reproduce(args: argparse.Namespace) -> int:
    check_writers(args.log)  # a missing package is refused before anything is read
    overrides = parse_overrides(args.overrides)
    if args.zsl_data:
        overrides["zsl_data"] = args.zsl_data
    plan = prepare_grid(
        args.grid, args.data, args.out, seeds=_parse_seeds(args.seeds), overrides=overrides
    )
    todo = plan.todo
    n_cells = len(plan.grid.cells)
    done = len(plan.runs) - len(todo)
    if args.dry_run:
        for r in plan.runs:
            print(f"{plan.records[r.run_id]['status']:9s} {r.run_id}")
        print(
            f"{plan.grid.name}: {len(plan.runs)} runs ({n_cells} cells x {len(plan.seeds)} "
            f"seeds), {done} complete, {len(todo)} to run"
        )
        return 0
    if args.executor == "local":
        threads = args.threads or (default_threads(args.jobs) if args.jobs > 1 else 0)
        where = f"{args.jobs} local job{'s' if args.jobs > 1 else ''}" + (
            f", {threads} torch thread{'s' if threads > 1 else ''} each" if threads else ""
        )
    else:
        threads = args.threads or 1
        where = f"Ray, up to {args.jobs} tasks of {threads} CPU{'s' if threads > 1 else ''}"
    if not args.quiet:
        print(
            f"emotrans: grid {plan.grid.name}: {len(plan.runs)} runs ({n_cells} cells x "
            f"{len(plan.seeds)} seeds), {done} already complete, {len(todo)} to run on {where}; "
            f"folder {plan.out}",
            file=sys.stderr,
        )
    summary = None
    if todo:
        # a bar on a terminal; elsewhere (a log file, a pipe) one plain line per finished run,
        # never carriage returns
        tty = sys.stderr.isatty()
        bar = tqdm(total=len(todo), unit="run", disable=args.quiet or not tty, file=sys.stderr)
        failed = ended = 0

        def say(line: str) -> None:
            if args.quiet:
                return
            if tty:
                bar.write(line, file=sys.stderr)  # above the bar
            else:
                print(line, file=sys.stderr, flush=True)

        def on_event(rec: dict) -> None:
            nonlocal failed, ended
            ended += 1
            if rec["status"] in ("failed", "skipped"):
                failed += 1
                say(f"{rec['status']}: {rec['run']}: {rec['error']}")
                bar.set_postfix(failed=failed)
            elif not tty:
                say(f"emotrans: {rec['status']}: {rec['run']} ({ended} of {len(todo)} ended)")
            bar.update(1)

        watch = None
        if not args.quiet and args.progress_every > 0:
            watch = _Watcher(plan, args.progress_every, say)

        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
        try:
            summary = plan.run(
                executor=args.executor,
                jobs=args.jobs,
                threads=threads or None,
                ray_address=args.ray_address,
                on_event=on_event,
                log=args.log,
            )
        except KeyboardInterrupt:
            if watch:
                watch.stop()
            bar.close()
            print(
                f"emotrans: grid interrupted; finished runs are kept in {plan.out}. Run the "
                "same command again to resume.",
                file=sys.stderr,
            )
            raise
        finally:
            if watch:
                watch.stop()
            if main_thread:
                signal.signal(signal.SIGTERM, previous)
        bar.close()
    else:
        summary = plan.run()
    counts = summary.counts
    print(
        f"{plan.grid.name}: {counts['complete']} of {summary.total} runs complete "
        f"({summary.trained} trained now), {counts['failed']} failed, {counts['skipped']} "
        f"skipped, {summary.seconds:.0f} s"
    )
    for f in summary.failures:
        print(f"  {f['status']}: {f['run']}: {f['error']}")
    if summary.failures:
        print(f"  (listed in {plan.out / 'failures.json'}; rerun the command to retry them)")
    if not args.no_report:
        files = write_report(plan.out)
        print(
            f"Report: {files.md} (also {files.csv.name}, {files.tex.name}, {len(files.plots)} plots)"
        )
    return 0 if summary.ok else 1


def _report(args: argparse.Namespace) -> int:
    files = write_report(args.folder, reference=args.reference, plots=not args.no_plots)
    print(f"{files.md}\n{files.csv}\n{files.tex}")
    if files.plots:
        print(f"{len(files.plots)} plots in {files.plots[0].parent}")
    for note in files.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0

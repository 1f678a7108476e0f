"""``emotrans reproduce`` (run an experiment grid) and ``emotrans report`` (aggregate it)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tqdm.auto import tqdm

from emotrans.cli.arguments import JOBS, number
from emotrans.config import NON_NEGATIVE
from emotrans.errors import ConfigError
from emotrans.experiments.executor import EXECUTORS, default_threads
from emotrans.experiments.grid import parse_overrides
from emotrans.experiments.report import write_report
from emotrans.experiments.runner import prepare_grid


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
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status only")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
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
        bar = tqdm(total=len(todo), unit="run", disable=args.quiet, file=sys.stderr)
        failed = 0

        def on_event(rec: dict) -> None:
            nonlocal failed
            if rec["status"] in ("failed", "skipped"):
                failed += 1
                if not args.quiet:
                    bar.write(f"{rec['status']}: {rec['run']}: {rec['error']}", file=sys.stderr)
                bar.set_postfix(failed=failed)
            bar.update(1)

        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
        try:
            summary = plan.run(
                executor=args.executor,
                jobs=args.jobs,
                threads=threads or None,
                ray_address=args.ray_address,
                on_event=on_event,
            )
        except KeyboardInterrupt:
            bar.close()
            print(
                f"emotrans: grid interrupted; finished runs are kept in {plan.out}. Run the "
                "same command again to resume.",
                file=sys.stderr,
            )
            raise
        finally:
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

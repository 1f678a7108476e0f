"""Experiment grids: expansion, execution with resume, aggregation over seeds, and plots.

>>> from emotrans.experiments import reproduce, write_report
>>> summary = reproduce("main-mosei", data="data/mosei", out="grids/main", jobs=2)
>>> files = write_report("grids/main")          # results.md, results.csv, results.tex, plots/

``emotrans reproduce`` and ``emotrans report`` are the command-line faces of these functions.
Importing this package never imports torch or matplotlib.
"""

from __future__ import annotations

from emotrans.experiments.executor import (
    EXECUTORS,
    RunOutcome,
    RunTask,
    default_threads,
    execute_task,
    make_executor,
)
from emotrans.experiments.grid import (
    Cell,
    Grid,
    RunSpec,
    expand_runs,
    known_grids,
    load_grid,
    parse_grid,
    parse_overrides,
    resolve_grid_file,
)
from emotrans.experiments.runner import (
    GridPlan,
    GridSummary,
    prepare_grid,
    read_grid_json,
    reproduce,
)

__all__ = [
    "EXECUTORS",
    "Cell",
    "Grid",
    "GridPlan",
    "GridSummary",
    "RunOutcome",
    "RunSpec",
    "RunTask",
    "default_threads",
    "execute_task",
    "expand_runs",
    "known_grids",
    "load_grid",
    "make_executor",
    "parse_grid",
    "parse_overrides",
    "prepare_grid",
    "read_grid_json",
    "reproduce",
    "resolve_grid_file",
]

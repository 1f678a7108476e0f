"""Collecting a grid's finished runs and aggregating their metrics over seeds.

Only runs of the grid as last expanded (``grid.json``) count: a run directory of other
settings left under ``runs/`` by an earlier invocation is ignored (and counted as such).
Without ``grid.json`` (a folder of run directories made by hand), every complete run directory
found below the folder is used, grouped by its parent folder's name.

Statistics over seeds: the mean and the sample standard deviation (``ddof=1``) of the finite
values; a NaN metric (undefined for a split without positives) is left out and ``n`` says how
many seeds gave a value. With one value the standard deviation is undefined (NaN, shown
``n/a``).
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotrans.errors import RunDirError
from emotrans.experiments.runner import GRID_JSON, read_grid_json
from emotrans.metrics import ARGMAX_KEYS, METRIC_KEYS, MULTILABEL_KEYS, SENTIMENT_KEYS
from emotrans.training.rundir import REQUIRED, RunDir, is_complete

log = logging.getLogger(__name__)

METRICS = METRIC_KEYS
MULTILABEL = MULTILABEL_KEYS
ARGMAX = ARGMAX_KEYS
"""The single-label figures of the predicted class (accuracy, weighted F1, macro F1)."""
METRIC_TITLES = {
    "wacc": "weighted accuracy",
    "f1": "weighted F1",
    "auc": "ROC AUC",
    "acc": "accuracy",
    "strict": "strict",
    "subset": "subset",
    "intersect": "intersect",
    "forgetting": "forgetting",
    "target_gain": "target gain",
    "shots": "shots",
    "mae": "MAE",
    "corr": "Pearson r",
    "acc7": "Acc-7",
    "acc2_nonneg": "Acc-2 (neg/non-neg)",
    "f1_nonneg": "F1 (neg/non-neg)",
    "acc2_nonzero": "Acc-2 (neg/pos, non-zero)",
    "f1_nonzero": "F1 (neg/pos, non-zero)",
}


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation over seeds.

    Attributes
    ----------
    mean : mean of the finite values (NaN when none)
    std : sample standard deviation, ddof=1 (NaN when fewer than two values)
    n : number of finite values
    total : number of values given (seeds), finite or not
    """

    mean: float
    std: float
    n: int
    total: int

    @property
    def partial(self) -> bool:
        """Some seeds gave no (finite) value."""
        return 0 < self.n < self.total


def mean_std(values: list[float | None]) -> Stat:
    """:class:`Stat` of ``values`` (None and non-finite values are left out).

    Computed with :mod:`statistics` (exact rational arithmetic, rounded once), so equal values
    give a standard deviation of exactly 0 and their own value as the mean.
    """
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(finite)
    mean = float(statistics.mean(finite)) if n else float("nan")
    std = statistics.stdev(finite) if n >= 2 else float("nan")
    return Stat(mean, std, n, len(values))


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


@dataclass
class CellResult:
    """The finished runs of one cell.

    Attributes
    ----------
    name : the cell's name
    protocol : "standard", "zsl" or "fsl" (from the runs' metrics.json sections), or
        "sentiment" for runs on a sentiment dataset
    model, modalities, dataset : from the runs' metrics.json
    expected : seeds the grid asked for
    seeds : seeds of the complete runs, ascending
    paths : their run directories
    metrics : their metrics.json contents (NaN for null)
    settings : the cell's own settings in the grid
    """

    name: str
    protocol: str = "standard"
    model: str = ""
    modalities: str = ""
    dataset: str = ""
    expected: int = 0
    seeds: list[int] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return len(self.paths)

    def emotions(self) -> list[str]:
        """The emotions of the runs' test tables, in their order."""
        out: list[str] = []
        for m in self.metrics:
            for e in _get(m, "splits", "test", "per_emotion") or {}:
                if e not in out:
                    out.append(e)
        return out

    def stat(self, *keys: str) -> Stat:
        """:class:`Stat` over seeds of the value at ``keys`` in metrics.json."""
        return mean_std([_get(m, *keys) for m in self.metrics])

    def select_metrics(self) -> list[str]:
        return sorted({str(m.get("select_metric", "?")) for m in self.metrics})

    # -- protocol views --------------------------------------------------------------------
    def zsl_unseen(self) -> list[str]:
        out: list[str] = []
        for m in self.metrics:
            for e in _get(m, "zsl", "unseen_metrics", "per_emotion") or {}:
                if e not in out:
                    out.append(e)
        return out

    def fsl_target(self) -> str:
        for m in self.metrics:
            if _get(m, "fsl", "target"):
                return str(m["fsl"]["target"])
        return str(self.settings.get("fsl", ""))

    def fsl_mode(self) -> str:
        for m in self.metrics:
            if _get(m, "fsl", "mode"):
                return str(m["fsl"]["mode"])
        return str(self.settings.get("fsl_mode", ""))


@dataclass
class GridResults:
    """Everything the report needs from a grid folder."""

    folder: Path
    name: str
    description: str = ""
    data: str = ""
    seeds: list[int] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    cells: list[CellResult] = field(default_factory=list)
    ignored: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    has_grid_json: bool = True

    def by_protocol(self, protocol: str) -> list[CellResult]:
        return [c for c in self.cells if c.protocol == protocol and c.completed]

    def select_metrics(self) -> list[str]:
        return sorted({s for c in self.cells for s in c.select_metrics()})

    def datasets(self) -> list[str]:
        return sorted({c.dataset for c in self.cells if c.dataset})


def _read_run(path: Path, results: GridResults, cell: str, seed: Any) -> dict[str, Any] | None:
    """The run's metrics; None for a damaged metrics.json, which is logged and listed with
    the failures (status ``unreadable``) so the report says why the run is missing."""
    try:
        return RunDir(path).metrics()
    except RunDirError as exc:
        log.warning("%s", exc)
        try:
            run = str(path.relative_to(results.folder))
        except ValueError:
            run = str(path)
        results.failures.append(
            {"run": run, "cell": cell, "seed": seed, "status": "unreadable", "error": str(exc)}
        )
        return None


def _fill(cell: CellResult, path: Path, seed: int, metrics: dict[str, Any]) -> None:
    cell.paths.append(path)
    cell.seeds.append(seed)
    cell.metrics.append(metrics)
    cell.model = cell.model or str(metrics.get("model", ""))
    cell.modalities = cell.modalities or str(metrics.get("modalities", ""))
    cell.dataset = cell.dataset or str(metrics.get("dataset", ""))
    if metrics.get("task") == "sentiment":
        cell.protocol = "sentiment"
    elif "zsl" in metrics:
        cell.protocol = "zsl"
    elif "fsl" in metrics:
        cell.protocol = "fsl"


def _sort_runs(cell: CellResult) -> None:
    order = sorted(range(len(cell.seeds)), key=lambda i: cell.seeds[i])
    cell.seeds = [cell.seeds[i] for i in order]
    cell.paths = [cell.paths[i] for i in order]
    cell.metrics = [cell.metrics[i] for i in order]


def collect(folder: str | Path) -> GridResults:
    """Read a grid folder (``grid.json`` and its complete runs) into :class:`GridResults`."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise RunDirError(f"{folder}: no such grid folder")
    if not (folder / GRID_JSON).is_file():
        return _collect_loose(folder)
    grid = read_grid_json(folder)
    results = GridResults(
        folder=folder,
        name=str(grid.get("grid", folder.name)),
        description=str(grid.get("description", "")),
        data=str(grid.get("data", "")),
        seeds=list(grid.get("seeds", [])),
        overrides=dict(grid.get("overrides") or {}),
    )
    cells: dict[str, CellResult] = {}
    for c in grid.get("cells", []):
        cells[c["name"]] = CellResult(name=c["name"], settings=dict(c.get("settings") or {}))
    listed: set[str] = set()
    for rec in grid.get("runs", []):
        cell = cells.setdefault(rec["cell"], CellResult(name=rec["cell"]))
        cell.expected += 1
        path = folder / rec["run"]
        listed.add(str(path))
        if is_complete(path):
            metrics = _read_run(path, results, rec["cell"], rec["seed"])
            if metrics is not None:
                _fill(cell, path, int(rec["seed"]), metrics)
        elif rec.get("status") in ("failed", "skipped"):
            results.failures.append(
                {k: rec.get(k) for k in ("run", "cell", "seed", "status", "error")}
            )
    for cell in cells.values():
        _sort_runs(cell)
    runs_root = folder / "runs"
    if runs_root.is_dir():
        results.ignored = sum(
            1
            for p in runs_root.glob("*/*")
            if p.is_dir() and is_complete(p) and str(p) not in listed
        )
    results.cells = list(cells.values())
    return results


def _collect_loose(folder: Path) -> GridResults:
    results = GridResults(folder=folder, name=folder.name, has_grid_json=False)
    cells: dict[str, CellResult] = {}
    for marker in sorted(folder.rglob(REQUIRED[-1])):
        path = marker.parent
        if not is_complete(path) or any(part.startswith(".") for part in path.parts):
            continue
        metrics = _read_run(path, results, path.parent.name, None)
        if metrics is None:
            continue
        try:
            seed = RunDir(path).config().seed
        except Exception:  # a run directory of an older version: keep its metrics
            seed = len(cells.get(path.parent.name, CellResult("")).seeds)
        name = path.parent.name if path.parent != folder else path.name
        cell = cells.setdefault(name, CellResult(name=name))
        _fill(cell, path, seed, metrics)
    for cell in cells.values():
        cell.expected = cell.completed
        _sort_runs(cell)
    if not cells:
        raise RunDirError(f"{folder}: no grid.json and no finished run directories below it")
    results.cells = list(cells.values())
    results.seeds = sorted({s for c in results.cells for s in c.seeds})
    return results


# -- long table (results.csv) ----------------------------------------------------------------


CSV_COLUMNS = (
    "section",
    "cell",
    "protocol",
    "model",
    "modalities",
    "emotion",
    "metric",
    "mean",
    "std",
    "n",
    "seeds_completed",
    "seeds_expected",
)


def long_rows(results: GridResults) -> list[dict[str, Any]]:
    """One row per (section, cell, emotion, metric): the content of ``results.csv``.

    Sections: ``sentiment`` (a sentiment cell's test metrics: mae, corr, acc7 and Acc-2 / F1
    in the conventions nonneg and nonzero), ``test`` (every cell's test split, per emotion, ``average`` and the
    ``multilabel`` accuracies of multi-label data, or the ``argmax`` figures of single-label
    data: accuracy, weighted and macro F1 of the predicted class), ``zsl_unseen`` / ``zsl_seen`` (zero-shot), ``fsl_before_target``,
    ``fsl_after_target``, ``fsl_before_seen``, ``fsl_after_seen`` (seen average) and ``fsl``
    (forgetting, target gain, shots).
    """
    rows: list[dict[str, Any]] = []

    def add(section: str, cell: CellResult, emotion: str, metric: str, stat: Stat) -> None:
        if stat.total == 0 or (stat.n == 0 and section != "test"):
            return
        rows.append(
            {
                "section": section,
                "cell": cell.name,
                "protocol": cell.protocol,
                "model": cell.model,
                "modalities": cell.modalities,
                "emotion": emotion,
                "metric": metric,
                "mean": stat.mean,
                "std": stat.std,
                "n": stat.n,
                "seeds_completed": cell.completed,
                "seeds_expected": cell.expected,
            }
        )

    for cell in results.cells:
        if not cell.completed:
            continue
        if cell.protocol == "sentiment":
            for k in SENTIMENT_KEYS:
                add("sentiment", cell, "sentiment", k, cell.stat("splits", "test", "sentiment", k))
            continue
        for e in cell.emotions():
            for k in METRICS:
                add("test", cell, e, k, cell.stat("splits", "test", "per_emotion", e, k))
        for k in METRICS:
            add("test", cell, "average", k, cell.stat("splits", "test", "average", k))
        for k in MULTILABEL:
            s = cell.stat("splits", "test", "multilabel", k)
            if s.n:
                add("test", cell, "multilabel", k, s)
        for k in ARGMAX:
            s = cell.stat("splits", "test", "argmax", k)
            if s.n:
                add("test", cell, "argmax", k, s)
        if cell.protocol == "zsl":
            for e in cell.zsl_unseen():
                for k in METRICS:
                    add(
                        "zsl_unseen",
                        cell,
                        e,
                        k,
                        cell.stat("zsl", "unseen_metrics", "per_emotion", e, k),
                    )
            seen = []
            for m in cell.metrics:
                for e in _get(m, "zsl", "seen_metrics", "per_emotion") or {}:
                    if e not in seen:
                        seen.append(e)
            for e in seen:
                for k in METRICS:
                    add(
                        "zsl_seen",
                        cell,
                        e,
                        k,
                        cell.stat("zsl", "seen_metrics", "per_emotion", e, k),
                    )
            for k in METRICS:
                add("zsl_seen", cell, "average", k, cell.stat("zsl", "seen_metrics", "average", k))
        if cell.protocol == "fsl":
            target = cell.fsl_target()
            for stage in ("before", "after"):
                for k in METRICS:
                    add(
                        f"fsl_{stage}_target", cell, target, k, cell.stat("fsl", stage, "target", k)
                    )
                    add(
                        f"fsl_{stage}_seen",
                        cell,
                        "average",
                        k,
                        cell.stat("fsl", stage, "seen_average", k),
                    )
            for k in ("forgetting", "target_gain", "shots"):
                add("fsl", cell, target, k, cell.stat("fsl", k))
    return rows

"""Published numbers to compare with (``emotrans report --reference FILE``).

The file is YAML: ``name -> emotion -> metric -> value``, optionally wrapped with a source
line and the unit::

    source: Dai et al. 2020, Table 2 (CMU-MOSEI, test)
    percent: true        # values are percentages (default: guessed, true when any value > 1)
    results:
      transferable-tav:  # a cell of the grid, or a model name (matched to its tav cell)
        anger: {wacc: 67.0, f1: 66.1}
        average: {wacc: 66.2}
      ef-lstm:
        anger: {wacc: 61.2}

Metric names are those of ``metrics.json``: wacc, f1, auc, acc (and strict, subset, intersect
under the emotion ``multilabel``). Emotions are the test-table rows of a standard cell plus
``average``; for a zero-shot cell, its unseen emotions and ``seen`` (the seen average); for a
few-shot cell, its target (after adaptation) and ``seen``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotrans.config import read_yaml
from emotrans.errors import ConfigError
from emotrans.experiments.aggregate import MULTILABEL, CellResult, GridResults, Stat
from emotrans.metrics import METRIC_KEYS

_METRICS = (*METRIC_KEYS, *MULTILABEL)


@dataclass
class Reference:
    """Parsed reference file: ``values`` is a list of (name, emotion, metric, value in [0, 1])."""

    path: str
    source: str = ""
    percent: bool = False
    values: list[tuple[str, str, str, float]] = field(default_factory=list)


def load_reference(path: str | Path) -> Reference:
    """Read and check a reference file (see the module docstring)."""
    path = Path(path).expanduser()
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping name -> emotion -> metric -> value")
    source, percent = "", None
    table = raw
    if "results" in raw:
        table = raw["results"]
        source = str(raw.get("source") or "")
        if "percent" in raw:
            percent = bool(raw["percent"])
        extra = sorted(set(raw) - {"results", "source", "percent"})
        if extra:
            raise ConfigError(f"{path}: unknown key {extra[0]!r} (use source, percent, results)")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: no results (expected name -> emotion -> metric -> value)")
    values: list[tuple[str, str, str, float]] = []
    for name, emotions in table.items():
        if not isinstance(emotions, dict):
            raise ConfigError(f"{path}: {name}: expected a mapping emotion -> metric -> value")
        for emotion, metrics in emotions.items():
            if not isinstance(metrics, dict):
                raise ConfigError(f"{path}: {name}/{emotion}: expected a mapping metric -> value")
            for metric, value in metrics.items():
                if str(metric) not in _METRICS:
                    raise ConfigError(
                        f"{path}: {name}/{emotion}: unknown metric {metric!r} "
                        f"(use {', '.join(_METRICS)})"
                    )
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(
                        f"{path}: {name}/{emotion}/{metric}: {value!r} is not a number"
                    )
                values.append((str(name), str(emotion), str(metric), float(value)))
    if percent is None:
        percent = any(v > 1.0 for *_, v in values)
    if percent:
        values = [(n, e, m, v / 100.0) for n, e, m, v in values]
    return Reference(path=str(path), source=source, percent=percent, values=values)


def match_cell(name: str, results: GridResults) -> CellResult | None:
    """The cell a reference name stands for: the cell of that name, else the model's tav cell
    (standard protocol), else the model's only standard cell."""
    done = [c for c in results.cells if c.completed]
    for c in done:
        if c.name == name:
            return c
    standard = [c for c in done if c.protocol == "standard" and c.model == name]
    full = [c for c in standard if c.modalities == "tav"]
    if len(full) == 1:
        return full[0]
    if len(standard) == 1:
        return standard[0]
    return None


def our_stat(cell: CellResult, emotion: str, metric: str) -> Stat | None:
    """Our mean ± std for a reference entry (None: the cell has no such value)."""
    if metric in MULTILABEL:
        return (
            cell.stat("splits", "test", "multilabel", metric) if emotion == "multilabel" else None
        )
    if cell.protocol == "zsl":
        if emotion == "seen":
            return cell.stat("zsl", "seen_metrics", "average", metric)
        if emotion in cell.zsl_unseen():
            return cell.stat("zsl", "unseen_metrics", "per_emotion", emotion, metric)
        return None
    if cell.protocol == "fsl":
        if emotion == "seen":
            return cell.stat("fsl", "after", "seen_average", metric)
        if emotion == cell.fsl_target():
            return cell.stat("fsl", "after", "target", metric)
        return None
    if emotion == "average":
        return cell.stat("splits", "test", "average", metric)
    if emotion in cell.emotions():
        return cell.stat("splits", "test", "per_emotion", emotion, metric)
    return None


@dataclass
class Comparison:
    """One reference value beside ours (``ours`` None when the grid has no such value)."""

    name: str
    cell: str
    emotion: str
    metric: str
    published: float
    ours: Stat | None

    @property
    def difference(self) -> float:
        """ours - published (NaN without ours)."""
        if self.ours is None or self.ours.n == 0:
            return float("nan")
        return self.ours.mean - self.published


def compare(reference: Reference, results: GridResults) -> list[Comparison]:
    """Every reference value beside our mean over seeds."""
    rows = []
    for name, emotion, metric, value in reference.values:
        cell = match_cell(name, results)
        ours = our_stat(cell, emotion, metric) if cell is not None else None
        rows.append(Comparison(name, cell.name if cell else "", emotion, metric, value, ours))
    return rows


def reference_rows(reference: Reference, results: GridResults) -> list[dict[str, Any]]:
    """The comparison as plain dicts (for results.csv's ``reference`` section)."""
    out = []
    for c in compare(reference, results):
        out.append(
            {
                "name": c.name,
                "cell": c.cell,
                "emotion": c.emotion,
                "metric": c.metric,
                "published": c.published,
                "mean": c.ours.mean if c.ours else float("nan"),
                "std": c.ours.std if c.ours else float("nan"),
                "n": c.ours.n if c.ours else 0,
                "difference": c.difference,
            }
        )
    return out

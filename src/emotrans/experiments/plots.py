"""Pictures of a grid's results (PNG, headless).

matplotlib is imported inside the functions and only through its object-oriented API
(``matplotlib.figure.Figure``), which renders with the Agg canvas: no display, no pyplot
state, no backend to configure. Every file is written atomically.

- :func:`plot_bars`: per-emotion grouped bars, one bar per standard cell, seed error bars;
- :func:`plot_zero_shot`: the unseen emotion's metrics and the seen average per held-out cell;
- :func:`plot_few_shot`: target and seen-average weighted accuracy, zero-shot vs each mode;
- :func:`plot_curves`: train/valid loss and the validation average per epoch, a line per seed;
- :func:`plot_emotion_space`: a 2-D PCA of the emotion vectors in the text space and after the
  learned audio and vision maps of a transferable run.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.experiments.aggregate import METRIC_TITLES, CellResult, GridResults, Stat
from emotrans.experiments.executor import one_line
from emotrans.metrics import METRIC_KEYS
from emotrans.training.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass
class Plot:
    """A written picture: ``kind`` is bars, zsl, fsl, curves or space."""

    kind: str
    title: str
    path: Path


def _figure(width: float, height: float, ncols: int = 1):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _bars(ax, groups: list[str], series: list[tuple[str, list[Stat]]]) -> None:
    """Grouped bars: ``series`` is [(label, one Stat per group)], error bars = std."""
    x = np.arange(len(groups), dtype=float)
    width = 0.8 / max(1, len(series))
    colors = _colors(len(series))
    for i, (label, stats) in enumerate(series):
        means = np.array([s.mean for s in stats], dtype=float)
        stds = np.array([s.std for s in stats], dtype=float)
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            np.where(np.isfinite(means), means, 0.0),
            width,
            yerr=np.where(np.isfinite(stds), stds, 0.0),
            capsize=2 if width > 0.05 else 0,
            label=label,
            color=colors[i],
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(
        x,
        groups,
        rotation=30 if len(groups) > 6 else 0,
        ha="right" if len(groups) > 6 else "center",
    )
    ax.set_ylim(0.0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _chance(ax, metric: str) -> None:
    if metric in ("wacc", "auc"):
        ax.axhline(0.5, color="0.4", lw=0.8, ls="--", label="chance")


def plot_bars(results: GridResults, metric: str, path: str | Path) -> Path | None:
    """Per-emotion grouped bars of ``metric`` (test, mean ± std over seeds), a bar per
    standard cell; None when the grid has no standard cells."""
    cells = results.by_protocol("standard")
    if not cells:
        return None
    groups: list[str] = []
    for c in cells:
        groups += [e for e in c.emotions() if e not in groups]
    groups.append("average")
    series = []
    for c in cells:
        stats = [
            c.stat("splits", "test", "average", metric)
            if g == "average"
            else c.stat("splits", "test", "per_emotion", g, metric)
            for g in groups
        ]
        series.append((f"{c.name} (n={c.completed})", stats))
    fig, (ax,) = _figure(min(14.0, max(7.0, 0.15 * len(groups) * len(cells) + 4)), 5.0)
    _bars(ax, groups, series)
    _chance(ax, metric)
    ax.set_ylabel(f"test {METRIC_TITLES.get(metric, metric)}")
    ax.set_title(
        f"{results.name}: test {METRIC_TITLES.get(metric, metric)} per emotion (mean ± std over seeds)"
    )
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, Path(path))


def plot_zero_shot(results: GridResults, path: str | Path) -> Path | None:
    """Unseen emotion AUC and weighted accuracy, and the seen average, per zero-shot cell."""
    cells = results.by_protocol("zsl")
    if not cells:
        return None
    groups, series_stats = (
        [],
        {"unseen AUC": [], "unseen weighted acc": [], "seen avg weighted acc": []},
    )
    for c in cells:
        for e in c.zsl_unseen():
            groups.append(
                e if len(cells) == 1 else c.name if len(c.zsl_unseen()) == 1 else f"{c.name}: {e}"
            )
            series_stats["unseen AUC"].append(
                c.stat("zsl", "unseen_metrics", "per_emotion", e, "auc")
            )
            series_stats["unseen weighted acc"].append(
                c.stat("zsl", "unseen_metrics", "per_emotion", e, "wacc")
            )
            series_stats["seen avg weighted acc"].append(
                c.stat("zsl", "seen_metrics", "average", "wacc")
            )
    fig, (ax,) = _figure(max(6.0, 1.2 * len(groups) + 2), 4.2)
    _bars(ax, groups, list(series_stats.items()))
    _chance(ax, "auc")
    ax.set_ylabel("test metric")
    ax.set_title(f"{results.name}: zero-shot, held-out emotion vs seen emotions")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, Path(path))


def plot_few_shot(results: GridResults, path: str | Path) -> Path | None:
    """Target and seen-average weighted accuracy: before (zero-shot start) and after each
    few-shot mode, per target emotion."""
    cells = results.by_protocol("fsl")
    if not cells:
        return None
    targets: list[str] = []
    modes: list[str] = []
    for c in cells:
        if c.fsl_target() not in targets:
            targets.append(c.fsl_target())
        if c.fsl_mode() not in modes:
            modes.append(c.fsl_mode())
    empty = Stat(float("nan"), float("nan"), 0, 0)
    fig, axes = _figure(max(9.0, 1.6 * len(targets) + 4), 4.2, ncols=2)
    for ax, part, title in zip(
        axes, ("target", "seen_average"), ("target emotion", "seen emotions (average)")
    ):
        before, after = [], {m: [] for m in modes}
        for t in targets:
            mine = [c for c in cells if c.fsl_target() == t]
            b = [c.stat("fsl", "before", part, "wacc") for c in mine]
            b = [s for s in b if s.n]
            before.append(b[0] if b else empty)
            for m in modes:
                hit = [c for c in mine if c.fsl_mode() == m]
                after[m].append(hit[0].stat("fsl", "after", part, "wacc") if hit else empty)
        series = []
        if any(s.n for s in before):
            series.append(("zero-shot (before)", before))
        series += [(f"{m} (after)", after[m]) for m in modes]
        _bars(ax, targets, series)
        _chance(ax, "wacc")
        ax.set_title(f"few-shot: {title}")
        ax.set_ylabel("test weighted accuracy")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(f"{results.name}: few-shot adaptation (mean ± std over seeds)")
    return _save(fig, Path(path))


def plot_curves(cell: CellResult, path: str | Path) -> Path | None:
    """Train loss, valid loss and the validation selection average per epoch, a line per seed."""
    from matplotlib.ticker import MaxNLocator

    histories = [(seed, RunDir(p).history()) for seed, p in zip(cell.seeds, cell.paths)]
    histories = [(s, h) for s, h in histories if h]
    if not histories:
        return None
    keys = [k for k in histories[0][1][0] if k.startswith("valid_") and k != "valid_loss"]
    panels = [("train_loss", "train loss"), ("valid_loss", "valid loss")]
    panels += [(k, f"valid {k[len('valid_') :]} (selection)") for k in keys[:1]]
    fig, axes = _figure(4.0 * len(panels), 3.4, ncols=len(panels))
    colors = _colors(len(histories))
    for ax, (key, title) in zip(axes, panels):
        for (seed, rows), color in zip(histories, colors):
            x = [_num(r.get("epoch")) for r in rows]
            y = [_num(r.get(key)) for r in rows]
            ax.plot(
                x,
                y,
                marker="o" if len(rows) < 15 else None,
                ms=3,
                color=color,
                label=f"seed {seed}",
            )
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    fig.suptitle(f"{cell.name}: training curves")
    return _save(fig, Path(path))


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _pca2(x: np.ndarray) -> np.ndarray:
    """First two principal-component coordinates of the rows of ``x`` (K, H) -> (K, 2)."""
    centered = x - x.mean(axis=0, keepdims=True)  # (K, H)
    u, s, _ = np.linalg.svd(centered, full_matrices=False)  # u (K, r), s (r,)
    coords = u * s  # (K, r)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords[:, :2]


def plot_emotion_space(
    run_dir: str | Path, path: str | Path, extra: list[str] | None = None
) -> Path | None:
    """2-D PCA of the emotion vectors of a transferable run, one panel per modality space.

    Text: the (frozen) embeddings; audio and vision: the embeddings after the learned linear
    maps. ``extra`` names (e.g. held-out emotions) are embedded too and drawn in red. Each
    panel has its own PCA (the spaces differ in dimension). None for models without emotion
    embeddings.
    """
    import torch

    from emotrans.training.runs import load_run  # deferred: imports torch

    model, config, info = load_run(run_dir)
    if not hasattr(model, "emotion_space"):
        return None
    trained = list(info["emotions"])
    extra = [e for e in (extra or []) if e not in trained]
    if extra:
        model, _, _ = load_run(run_dir, emotions=trained + extra)
    with torch.no_grad():
        space = {m: v.detach().cpu().numpy() for m, v in model.emotion_space().items()}
    names = list(model.emotions)
    fig, axes = _figure(4.2 * len(space), 4.0, ncols=len(space))
    for ax, (modality, vectors) in zip(axes, space.items()):
        xy = _pca2(vectors.astype(np.float64))
        colors = ["tab:red" if n in extra else "tab:blue" for n in names]
        ax.scatter(xy[:, 0], xy[:, 1], c=colors, s=28)
        for (px, py), n in zip(xy, names):
            ax.annotate(n, (px, py), textcoords="offset points", xytext=(4, 3), fontsize=8)
        where = "embedding" if modality == "text" else "after the learned map"
        ax.set_title(f"{modality} space ({vectors.shape[1]}-d, {where})", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.margins(0.2)
        ax.grid(alpha=0.3)
    run = Path(run_dir)
    note = "; red: not trained on" if extra else ""
    fig.suptitle(f"Emotion vectors, {run.parent.name} seed {config.seed} (PCA per space{note})")
    return _save(fig, Path(path))


def _space_run(results: GridResults) -> tuple[CellResult, int, list[str]] | None:
    """The run to draw the emotion space of: the transferable cell with the most modalities
    (standard protocol first, else zero-shot with its unseen emotions), lowest seed."""
    candidates = [
        c
        for c in results.cells
        if c.completed and c.model == "transferable" and c.protocol != "fsl"
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda c: (c.protocol != "standard", -len(c.modalities)))
    best = candidates[0]
    extra = best.zsl_unseen() if best.protocol == "zsl" else []
    return best, 0, extra


def make_plots(results: GridResults, folder: str | Path) -> tuple[list[Plot], list[str]]:
    """Write every picture for ``results`` under ``folder``; returns (plots, notes).

    A picture that cannot be drawn (e.g. the embedding source of a run is not available
    here) is left out and explained in ``notes``; it never stops the report.
    """
    folder = Path(folder)
    plots: list[Plot] = []
    notes: list[str] = []
    metrics = []
    for key in [*results.select_metrics(), "f1", "auc"]:
        if key in METRIC_KEYS and key not in metrics:
            metrics.append(key)

    def attempt(kind: str, title: str, fn, *args) -> None:
        try:
            path = fn(*args)
        except Exception as exc:  # one picture must not sink the report
            log.warning("plot %s skipped: %s", title, one_line(exc))
            notes.append(f"{title}: not drawn ({one_line(exc)})")
            return
        if path is not None:
            plots.append(Plot(kind, title, Path(path)))

    for key in metrics[:2]:
        attempt(
            "bars",
            f"Test {METRIC_TITLES[key]} per emotion",
            plot_bars,
            results,
            key,
            folder / f"bars-{key}.png",
        )
    attempt("zsl", "Zero-shot", plot_zero_shot, results, folder / "zero-shot.png")
    attempt("fsl", "Few-shot", plot_few_shot, results, folder / "few-shot.png")
    chosen = _space_run(results)
    if chosen is not None:
        cell, index, extra = chosen
        attempt(
            "space",
            f"Emotion vectors of {cell.name}, seed {cell.seeds[index]}",
            plot_emotion_space,
            cell.paths[index],
            folder / f"emotion-space-{cell.name}.png",
            extra,
        )
    for cell in results.cells:
        if cell.completed:
            attempt(
                "curves",
                f"Training curves of {cell.name}",
                plot_curves,
                cell,
                folder / f"curves-{cell.name}.png",
            )
    return plots, notes

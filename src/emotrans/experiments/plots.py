"""Pictures of a grid's results (PNG, headless), drawn to be put in a paper.

matplotlib is imported inside the functions and only through its object-oriented API
(``matplotlib.figure.Figure``), which renders with the Agg canvas: no display, no pyplot
state, no backend to configure. Every file is written atomically.

Each picture has a ``*_figure`` function that returns the ``Figure`` (for tests and notebooks)
and a ``plot_*`` function that saves it and returns the path:

- :func:`comparison_figure`: the models on the grid's fullest modality set, one bar per
  emotion (and the average) per model, one metric per figure;
- :func:`ablation_figure`: one model on each of its modality subsets, likewise;
- :func:`zero_shot_figure`: per held-out emotion, the held-out emotion's and the seen
  emotions' average score, one panel per metric (AUC, weighted accuracy);
- :func:`few_shot_figure`: weighted accuracy against the number of shots (0 = the zero-shot
  run it starts from), a line per target emotion, a column per mode;
- :func:`curves_figure`: train loss, valid loss and the validation selection score per epoch,
  a line per seed, the epoch model selection kept marked;
- :func:`emotion_space_figure`: a 2-D PCA of the emotion vectors in the text space and after
  the learned audio and vision maps of a transferable run.

Conventions shared by every figure: one metric per y axis; y limits chosen from the values
shown (mean ± std) with a small margin, so differences of 0.01 are visible, and 4 to 9 y
ticks (:data:`Y_TICKS`); integer epoch and shot ticks; emotions in one canonical order (the
dataset's documented label order, :func:`emotion_order`) with one colour each
(:func:`emotion_colors`: anger red, sad blue, ...), the same in every figure of every grid.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrans.atomic import atomic_path
from emotrans.config import RunConfig
from emotrans.data.formats.mult_pickle import IEMOCAP_EMOTIONS
from emotrans.data.formats.registry import formats
from emotrans.experiments.aggregate import METRIC_TITLES, CellResult, GridResults, Stat
from emotrans.experiments.executor import one_line
from emotrans.metrics import METRIC_KEYS
from emotrans.modalities import MODALITY_CODES
from emotrans.training.rundir import RunDir

log = logging.getLogger(__name__)

AVERAGE_COLOR = "0.25"
"""The colour of the average over emotions (dark grey) in every figure."""
SEEN_COLOR = "0.6"
"""The colour of the seen emotions' average in the zero-shot figure."""
Y_MARGIN = 0.1
"""Margin above and below the values shown, as a fraction of their range (at least 0.005)."""
Y_TICKS = 8
"""At most this many intervals between y ticks (and, with steps of 1, 2, 2.5 or 5 times a
power of ten, at least 3): a range of 0.05 gets ticks 0.01 apart, one of 0.5 ticks 0.1 apart."""


@dataclass
class Plot:
    """A written picture: ``kind`` is comparison, ablation, zsl, fsl, curves or space."""

    kind: str
    title: str
    path: Path


# -- shared conventions -----------------------------------------------------------------------


def _known_orders() -> list[tuple[str, ...]]:
    """The documented label orders: each format's, then IEMOCAP-4 (the MulT pickles, whose
    format leaves the order to the file)."""
    orders = [tuple(f.label_order) for f in formats() if f.label_order]
    return [*orders, tuple(IEMOCAP_EMOTIONS)]


def _grid_emotions(results: GridResults) -> list[str]:
    """Every emotion name the grid's runs mention, in the order first met."""
    seen: list[str] = []
    for c in results.cells:
        names = [*c.emotions(), *c.zsl_unseen()]
        for m in c.metrics:
            listed = m.get("emotions")
            names += [e for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
        if c.protocol == "fsl" and c.fsl_target():
            names.append(c.fsl_target())
        seen += [e for e in names if e and e not in seen]
    return seen


def _documented_order(names: list[str]) -> list[str]:
    """``names`` and the rest of the documented label order holding the most of them, in that
    order, then the names no documented order holds, as given."""
    best: tuple[str, ...] = ()
    for order in _known_orders():
        if sum(e in order for e in names) > sum(e in best for e in names):
            best = order
    return list(best) + [e for e in names if e not in best]


def emotion_order(results: GridResults) -> list[str]:
    """The grid's emotions in the dataset's documented label order.

    The order is that of the documented label order (of a format, see docs/design.md "Formats
    and label orders") holding the most of the grid's emotions, so a zero-shot grid whose
    cells each miss one emotion, and every other grid on the same dataset, get the same order;
    names no documented order holds follow in the order the runs list them.
    """
    names = _grid_emotions(results)
    return [e for e in _documented_order(names) if e in names]


EMOTION_COLORS: dict[str, str] = {
    "anger": "tab:red",
    "angry": "tab:red",
    "disgust": "tab:olive",
    "fear": "tab:purple",
    "happy": "tab:orange",
    "joy": "tab:orange",
    "sad": "tab:blue",
    "sadness": "tab:blue",
    "surprise": "tab:cyan",
    "surprised": "tab:cyan",
    "neutral": "tab:gray",
    "excited": "tab:pink",
    "frustrated": "tab:brown",
}
"""Fixed colours of the emotions of the shipped datasets (tab10), the same under either
spelling; other names take the unused tab10 then tab20 colours in the documented order."""


def emotion_colors(results: GridResults) -> dict[str, tuple]:
    """One colour per emotion of the grid: :data:`EMOTION_COLORS`, else the next unused
    colour in the whole documented label order, so an emotion has the same colour in every
    figure of every grid on its dataset, whichever emotions a grid leaves out."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba

    fixed = {to_rgba(c) for c in EMOTION_COLORS.values()}
    spare = [c for c in colormaps["tab10"].colors if to_rgba(c) not in fixed]
    spare += [c for c in colormaps["tab20"].colors if to_rgba(c) not in fixed]
    out: dict[str, tuple] = {}
    for e in _documented_order(_grid_emotions(results)):
        if e in EMOTION_COLORS:
            out[e] = to_rgba(EMOTION_COLORS[e])
        else:
            out[e] = to_rgba(spare[len([k for k in out if k not in EMOTION_COLORS]) % len(spare)])
    return out


def fit_ylim(ax, values, bounds: tuple[float, float] | None = (0.0, 1.0)) -> tuple[float, float]:
    """Set ``ax``'s y limits to the finite ``values`` plus :data:`Y_MARGIN` of their range on
    each side (at least 0.005), within ``bounds``; 3 to :data:`Y_TICKS` intervals between y
    ticks, at 1, 2, 2.5 or 5 times a power of ten. Returns the limits."""
    from matplotlib.ticker import MaxNLocator

    v = np.asarray([float(x) for x in values], dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        lo, hi = bounds if bounds else (0.0, 1.0)
    else:
        if bounds:
            v = np.clip(v, *bounds)
        lo, hi = float(v.min()), float(v.max())
        margin = max(Y_MARGIN * (hi - lo), 0.005)
        lo, hi = lo - margin, hi + margin
        if bounds:
            lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=Y_TICKS, steps=[1, 2, 2.5, 5, 10]))
    ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    return lo, hi


def _spread(stats: list[Stat]) -> list[float]:
    """The ends of the error bars of ``stats``: mean - std and mean + std (the mean alone
    when std is undefined)."""
    out: list[float] = []
    for s in stats:
        std = s.std if math.isfinite(s.std) else 0.0
        out += [s.mean - std, s.mean + std]
    return out


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, (axes[0] if nrows == 1 else axes)


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically, folders made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _bars(ax, groups: list[str], series: list[tuple[str, list[Stat], object]]) -> None:
    """Grouped bars: ``series`` is [(label, one Stat per group, colour)], error bars = std."""
    x = np.arange(len(groups), dtype=float)
    width = 0.8 / max(1, len(series))
    for i, (label, stats, color) in enumerate(series):
        means = np.array([s.mean for s in stats], dtype=float)
        stds = np.array([s.std for s in stats], dtype=float)
        ax.bar(
            x - 0.4 + width * (i + 0.5),
            np.where(np.isfinite(means), means, 0.0),
            width,
            yerr=np.where(np.isfinite(stds), stds, 0.0),
            capsize=2 if width > 0.05 else 0,
            label=label,
            color=color,
            error_kw={"elinewidth": 0.8},
        )
    ax.set_xticks(
        x,
        groups,
        rotation=30 if len(groups) > 6 else 0,
        ha="right" if len(groups) > 6 else "center",
    )
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _chance(ax, metric: str) -> None:
    """A dashed line at chance (0.5) for weighted accuracy and AUC, when within the limits."""
    lo, hi = ax.get_ylim()
    if metric in ("wacc", "auc") and lo <= 0.5 <= hi:
        ax.axhline(0.5, color="0.4", lw=0.8, ls="--", label="chance")


def _title(metric: str) -> str:
    return METRIC_TITLES.get(metric, metric)


# -- model comparison and modality ablation ---------------------------------------------------


def _subset_key(code: str) -> tuple:
    """Modality subsets by size, then in t, a, v order: t, a, v, ta, tv, av, tav."""
    letters = list(MODALITY_CODES)
    return (len(code), [letters.index(ch) if ch in letters else 9 for ch in code])


def _full_modalities(cells: list[CellResult]) -> str:
    """The largest modality set among ``cells`` (the first met on a tie)."""
    return max((c.modalities for c in cells), key=len, default="")


def comparison_cells(results: GridResults) -> list[CellResult]:
    """The standard cells of the model comparison: those on the grid's fullest modality set,
    and those of a model that appears on one modality set only (so no cell is left out of
    both the comparison and the ablations)."""
    cells = results.by_protocol("standard")
    full = _full_modalities(cells)
    subsets: dict[str, set[str]] = {}
    for c in cells:
        subsets.setdefault(c.model, set()).add(c.modalities)
    return [c for c in cells if c.modalities == full or len(subsets[c.model]) == 1]


def ablation_cells(results: GridResults) -> dict[str, list[CellResult]]:
    """Per model run on two or more modality subsets, its standard cells ordered by subset
    (t, a, v, ta, tv, av, tav)."""
    out: dict[str, list[CellResult]] = {}
    for c in results.by_protocol("standard"):
        out.setdefault(c.model, []).append(c)
    return {
        model: sorted(cells, key=lambda c: _subset_key(c.modalities))
        for model, cells in out.items()
        if len({c.modalities for c in cells}) > 1
    }


def _per_emotion_bars(
    results: GridResults, cells: list[CellResult], labels: list[str], metric: str
):
    """x = the cells (``labels``), one bar per emotion in the canonical order and one for
    the average; returns (fig, ax)."""
    colors = emotion_colors(results)
    present = {e for c in cells for e in c.emotions()}
    emotions = [e for e in emotion_order(results) if e in present]
    series = [
        (e, [c.stat("splits", "test", "per_emotion", e, metric) for c in cells], colors[e])
        for e in emotions
    ]
    series.append(
        ("average", [c.stat("splits", "test", "average", metric) for c in cells], AVERAGE_COLOR)
    )
    fig, (ax,) = _figure(min(14.0, max(6.5, 0.22 * len(series) * len(cells) + 3.5)), 4.4)
    _bars(ax, labels, series)
    fit_ylim(ax, [v for _, stats, _ in series for v in _spread(stats)])
    _chance(ax, metric)
    ax.set_ylabel(f"test {_title(metric)}")
    handles, names = ax.get_legend_handles_labels()
    last = sorted(range(len(names)), key=lambda i: names[i] == "chance")  # emotions first
    ax.legend(
        [handles[i] for i in last],
        [names[i] for i in last],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        title="emotion",
    )
    return fig, ax


def comparison_figure(results: GridResults, metric: str):
    """The models compared on the fullest modality set: test ``metric`` (mean ± std over
    seeds), x = the cells, one bar per emotion and one for the average. None without
    standard cells, or when the only one belongs to an ablation (:func:`ablation_figure`)."""
    cells = comparison_cells(results)
    if not cells or (len(cells) == 1 and cells[0].model in ablation_cells(results)):
        return None  # one model only: its ablation figure shows it
    models = [c.model for c in cells]
    unique = len(set(models)) == len(models) and all(models)
    labels = [f"{c.model if unique else c.name}\n(n={c.completed})" for c in cells]
    fig, ax = _per_emotion_bars(results, cells, labels, metric)
    mods = sorted({c.modalities for c in cells}, key=_subset_key)
    ax.set_xlabel(f"model (modalities {', '.join(mods)}; n = seeds)")
    ax.set_title(
        f"{results.name}: test {_title(metric)} by model (mean ± std over seeds)", fontsize=10
    )
    return fig


def ablation_figure(results: GridResults, model: str, metric: str):
    """``model`` on each of its modality subsets: test ``metric`` (mean ± std over seeds),
    x = the subsets, one bar per emotion and one for the average. None when the model was
    not run on two or more subsets."""
    cells = ablation_cells(results).get(model)
    if not cells:
        return None
    codes = [c.modalities for c in cells]
    unique = len(set(codes)) == len(codes)
    labels = [f"{'+'.join(c.modalities) if unique else c.name}\n(n={c.completed})" for c in cells]
    fig, ax = _per_emotion_bars(results, cells, labels, metric)
    ax.set_xlabel("modalities (t text, a audio, v vision; n = seeds)")
    ax.set_title(
        f"{results.name}: {model}, test {_title(metric)} by modality subset "
        "(mean ± std over seeds)",
        fontsize=10,
    )
    return fig


def plot_comparison(results: GridResults, metric: str, path: str | Path) -> Path | None:
    """Save :func:`comparison_figure` at ``path``; None when there is nothing to draw."""
    fig = comparison_figure(results, metric)
    return None if fig is None else save_figure(fig, path)


def plot_ablation(results: GridResults, model: str, metric: str, path: str | Path) -> Path | None:
    """Save :func:`ablation_figure` at ``path``; None when there is nothing to draw."""
    fig = ablation_figure(results, model, metric)
    return None if fig is None else save_figure(fig, path)


# -- zero-shot and few-shot -------------------------------------------------------------------


def zero_shot_figure(results: GridResults):
    """Per held-out emotion (x, canonical order): the held-out emotion's test score through
    its embedding (its colour) and the seen emotions' average (grey, hatched); one panel per
    metric, AUC then weighted accuracy. None without zero-shot cells."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    cells = results.by_protocol("zsl")
    if not cells:
        return None
    order = emotion_order(results)
    colors = emotion_colors(results)
    items = [(c, e) for c in cells for e in c.zsl_unseen()]
    items.sort(key=lambda ce: order.index(ce[1]) if ce[1] in order else len(order))
    names = [e for _, e in items]
    groups = [e if names.count(e) == 1 else f"{e}\n({c.name})" for c, e in items]
    fig, axes = _figure(max(8.0, 1.5 * len(groups) + 3), 4.0, ncols=2)
    x = np.arange(len(items), dtype=float)
    for ax, metric in zip(axes, ("auc", "wacc")):
        unseen = [c.stat("zsl", "unseen_metrics", "per_emotion", e, metric) for c, e in items]
        seen = [c.stat("zsl", "seen_metrics", "average", metric) for c, _ in items]
        for offset, stats, face, hatch in (
            (-0.2, unseen, [colors.get(e, AVERAGE_COLOR) for _, e in items], None),
            (0.2, seen, SEEN_COLOR, "//"),
        ):
            means = np.array([s.mean for s in stats], dtype=float)
            stds = np.array([s.std for s in stats], dtype=float)
            ax.bar(
                x + offset,
                np.where(np.isfinite(means), means, 0.0),
                0.4,
                yerr=np.where(np.isfinite(stds), stds, 0.0),
                capsize=2,
                color=face,
                hatch=hatch,
                edgecolor="white" if hatch else None,
                error_kw={"elinewidth": 0.8},
            )
        ax.set_xticks(x, groups)
        fit_ylim(ax, _spread(unseen) + _spread(seen))
        _chance(ax, metric)
        ax.set_xlabel("held-out emotion")
        ax.set_ylabel(f"test {_title(metric)}")
        ax.set_title(_title(metric), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles = [
        Patch(facecolor="white", edgecolor="0.2", label="held-out emotion (its colour)"),
        Patch(facecolor=SEEN_COLOR, hatch="//", edgecolor="white", label="seen emotions, average"),
    ]
    if any(line.get_label() == "chance" for ax in axes for line in ax.lines):
        handles.append(Line2D([], [], color="0.4", lw=0.8, ls="--", label="chance"))
    axes[1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(
        f"{results.name}: zero-shot, held-out emotion vs seen emotions (mean ± std over seeds)",
        fontsize=10,
    )
    return fig


def plot_zero_shot(results: GridResults, path: str | Path) -> Path | None:
    """Save :func:`zero_shot_figure` at ``path``; None without zero-shot cells."""
    fig = zero_shot_figure(results)
    return None if fig is None else save_figure(fig, path)


FSL_MODES: tuple[str, ...] = tuple(
    next(f for f in dataclasses.fields(RunConfig) if f.name == "fsl_mode").metadata["choices"]
)
"""Few-shot modes in the order of the setting's choices (joint, finetune, continual, replay)."""


def _fsl_points(cells: list[CellResult], part: str) -> list[tuple[float, Stat]]:
    """(shots, weighted accuracy over seeds) of ``part`` (target or seen_average): the
    zero-shot start at 0 shots when the cells have one, then each cell at its mean shots."""
    points: list[tuple[float, Stat]] = []
    for c in cells:
        before = c.stat("fsl", "before", part, "wacc")
        if before.n and not points:
            points.append((0.0, before))
    for c in cells:
        shots = c.stat("fsl", "shots").mean
        if math.isfinite(shots):
            points.append((shots, c.stat("fsl", "after", part, "wacc")))
    return sorted(points, key=lambda p: p[0])


def few_shot_figure(results: GridResults):
    """Test weighted accuracy against the number of shots (the target's training positives
    kept; 0 = the zero-shot run the adaptation starts from): top row the target emotion,
    bottom row the seen emotions' average; a column per mode, a line per target emotion
    (canonical order, its colour), mean ± std over seeds. None without few-shot cells."""
    from matplotlib.ticker import MaxNLocator

    cells = results.by_protocol("fsl")
    if not cells:
        return None
    found = [c.fsl_mode() for c in cells]
    modes = [m for m in FSL_MODES if m in found]
    modes += [m for m in dict.fromkeys(found) if m not in modes]
    order = emotion_order(results)
    colors = emotion_colors(results)
    targets = [e for e in order if any(c.fsl_target() == e for c in cells)]
    targets += [t for t in dict.fromkeys(c.fsl_target() for c in cells) if t not in targets]
    fig, axes = _figure(
        max(5.0, 3.4 * len(modes) + 1.6),
        6.0,
        ncols=len(modes),
        nrows=2,
        sharex=True,
        sharey="row",
    )
    rows = (("target", "target emotion"), ("seen_average", "seen emotions (average)"))
    for r, (part, what) in enumerate(rows):
        spread: list[float] = []
        for col, mode in enumerate(modes):
            ax = axes[r][col]
            for t in targets:
                mine = [c for c in cells if c.fsl_target() == t and c.fsl_mode() == mode]
                points = _fsl_points(mine, part)
                if not points:
                    continue
                xs = [p[0] for p in points]
                stats = [p[1] for p in points]
                ax.errorbar(
                    xs,
                    [s.mean for s in stats],
                    yerr=[s.std if math.isfinite(s.std) else 0.0 for s in stats],
                    marker="o",
                    ms=4,
                    capsize=2,
                    color=colors.get(t, AVERAGE_COLOR),
                    label=t,
                )
                spread += _spread(stats)
            if r == 0:
                ax.set_title(mode, fontsize=10)
            if r == 1:
                ax.set_xlabel("shots (target positives kept; 0 = zero-shot start)")
            if col == 0:
                ax.set_ylabel(f"test weighted accuracy,\n{what}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(alpha=0.3)
        for ax in axes[r]:
            fit_ylim(ax, spread)
        for ax in axes[r]:
            _chance(ax, "wacc")
    handles, labels = [], []
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    ranked = sorted(
        range(len(labels)),
        key=lambda i: (
            labels[i] not in targets,
            targets.index(labels[i]) if labels[i] in targets else 0,
        ),
    )
    axes[0][-1].legend(
        [handles[i] for i in ranked],
        [labels[i] for i in ranked],
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        title="target",
    )
    fig.suptitle(
        f"{results.name}: few-shot adaptation by number of shots (mean ± std over seeds)",
        fontsize=10,
    )
    return fig


def plot_few_shot(results: GridResults, path: str | Path) -> Path | None:
    """Save :func:`few_shot_figure` at ``path``; None without few-shot cells."""
    fig = few_shot_figure(results)
    return None if fig is None else save_figure(fig, path)


# -- learning curves --------------------------------------------------------------------------


def curves_figure(cell: CellResult):
    """Train loss, valid loss and the validation selection score per epoch (``history.csv``),
    one panel each, a line per seed; the epoch model selection kept (``best_epoch`` of
    ``metrics.json``) is a dotted vertical line in every panel and a star on the selection
    curve. None when no run has a history."""
    from matplotlib import colormaps
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    runs = []
    for seed, path, metrics in zip(cell.seeds, cell.paths, cell.metrics):
        rows = RunDir(path).history()
        if rows:
            runs.append((seed, rows, _num(metrics.get("best_epoch")), metrics))
    if not runs:
        return None
    select = str(runs[0][3].get("select_metric") or "")
    keys = [k for k in runs[0][1][0] if k.startswith("valid_") and k != "valid_loss"]
    if f"valid_{select}" in keys:
        keys.remove(f"valid_{select}")
        keys.insert(0, f"valid_{select}")
    panels = [("train_loss", "train loss"), ("valid_loss", "valid loss")]
    selection = keys[0] if keys and select != "loss" else "valid_loss"
    if keys and select != "loss":
        panels.append((keys[0], f"valid {_title(keys[0][len('valid_') :])} (selection)"))
    else:
        panels[1] = ("valid_loss", "valid loss (selection)")
    fig, axes = _figure(3.6 * len(panels) + 0.8, 3.4, ncols=len(panels))
    cmap = colormaps["tab10"]
    for ax, (key, title) in zip(axes, panels):
        for i, (seed, rows, best, _) in enumerate(runs):
            color = cmap(i % cmap.N)
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
            if best in x:  # the epoch of metrics.json's best_epoch, as history.csv numbers it
                ax.axvline(best, color=color, ls=":", lw=1.2)
                if key == selection:
                    ax.plot(
                        [best],
                        [y[x.index(best)]],
                        marker="*",
                        ms=11,
                        color=color,
                        markeredgecolor="black",
                        markeredgewidth=0.6,
                        ls="none",
                    )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title.split(" (")[0])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.grid(alpha=0.3)
    handles, _ = axes[-1].get_legend_handles_labels()
    handles.append(Line2D([], [], color="0.3", ls=":", marker="*", label="selected epoch"))
    axes[-1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(
        f"{cell.name}: training curves (dotted: the epoch model selection kept)", fontsize=10
    )
    return fig


def plot_curves(cell: CellResult, path: str | Path) -> Path | None:
    """Save :func:`curves_figure` at ``path``; None when no run has a history."""
    fig = curves_figure(cell)
    return None if fig is None else save_figure(fig, path)


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


def emotion_space_figure(run_dir: str | Path, extra: list[str] | None = None):
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
    return fig


def plot_emotion_space(
    run_dir: str | Path, path: str | Path, extra: list[str] | None = None
) -> Path | None:
    """Save :func:`emotion_space_figure` at ``path``; None for models without emotion
    embeddings."""
    fig = emotion_space_figure(run_dir, extra)
    return None if fig is None else save_figure(fig, path)


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
            "comparison",
            f"Test {METRIC_TITLES[key]} by model",
            plot_comparison,
            results,
            key,
            folder / f"compare-{key}.png",
        )
    for model in ablation_cells(results):
        for key in metrics[:2]:
            attempt(
                "ablation",
                f"Test {METRIC_TITLES[key]} of {model} by modality subset",
                plot_ablation,
                results,
                model,
                key,
                folder / f"ablation-{model}-{key}.png",
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

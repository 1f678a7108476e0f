"""The report's figures, read back from the matplotlib objects: separate model comparison and
modality ablation, one metric per axis, y limits from the data, integer epochs and shots, the
selected epoch marked, and one order and colour per emotion in every figure.

The grid is hand-written run directories on CMU-MOSEI's emotion names (documented order
anger, disgust, fear, happy, sad, surprise), the runs listing them in another order.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgba

import test_report
from emotrans.experiments.aggregate import CellResult, GridResults, collect
from emotrans.experiments.plots import (
    ablation_figure,
    comparison_figure,
    curves_figure,
    emotion_colors,
    emotion_order,
    few_shot_figure,
    zero_shot_figure,
)
from emotrans.experiments.report import write_report
from test_report import split, write_grid_json, write_run

# test weighted accuracy (every metric alike) per cell and seed: all within 0.70..0.76
STANDARD = {
    # cell: (model, modalities, [(sad, anger, happy) per seed])
    "transferable-tav": ("transferable", "tav", [(0.75, 0.72, 0.71), (0.74, 0.73, 0.72)]),
    "ef-lstm-tav": ("ef-lstm", "tav", [(0.73, 0.71, 0.70), (0.74, 0.70, 0.71)]),
    "lf-lstm-tav": ("lf-lstm", "tav", [(0.72, 0.74, 0.73), (0.73, 0.75, 0.74)]),
    "transferable-av": ("transferable", "av", [(0.71, 0.70, 0.72), (0.72, 0.71, 0.73)]),
    "transferable-t": ("transferable", "t", [(0.73, 0.72, 0.70), (0.74, 0.71, 0.71)]),
    "transferable-ta": ("transferable", "ta", [(0.74, 0.73, 0.72), (0.76, 0.74, 0.72)]),
}
grid_dir = test_report.grid_dir  # the fixture: test_report's hand-written grid

BEST_EPOCH = {0: 2, 1: 3}  # the epoch model selection kept, per seed


def history(best: int) -> str:
    """Four epochs whose validation score peaks at ``best``."""
    rows = ["epoch,train_loss,valid_loss,valid_wacc,lr,seconds"]
    for epoch in range(1, 5):
        wacc = 0.70 - 0.01 * abs(epoch - best)
        rows.append(f"{epoch},{1.0 - 0.1 * epoch},{0.9 - 0.02 * epoch},{wacc},0.001,1")
    return "\n".join(rows) + "\n"


def fsl_stage(before: float, after: float) -> dict:
    same = lambda v: dict.fromkeys(("wacc", "f1", "auc", "acc"), v)  # noqa: E731
    return {
        "before": {"target": same(before), "seen_average": same(0.72)},
        "after": {"target": same(after), "seen_average": same(0.70)},
    }


@pytest.fixture(scope="module")
def paper_grid(tmp_path_factory) -> Path:
    """Standard cells (three models on tav, the transferable model on four subsets), zero-shot
    cells for sad and anger, few-shot cells (anger: 3 shots, two modes; sad: 5 shots)."""
    out = tmp_path_factory.mktemp("paper") / "grid"
    cells: dict[str, list[int]] = {}
    for cell, (model, mods, seeds) in STANDARD.items():
        for seed, (sad, anger, happy) in enumerate(seeds):
            m = {
                "model": model,
                "modalities": mods,
                "best_epoch": BEST_EPOCH[seed],
                "splits": {"test": split({"sad": sad, "anger": anger, "happy": happy})},
            }
            write_run(out / "runs" / cell / f"seed-{seed}-abc", seed, m, history(BEST_EPOCH[seed]))
        cells[cell] = [0, 1]
    for unseen, seen in (("sad", ["anger", "happy"]), ("anger", ["happy", "sad"])):
        for seed in (0, 1):
            m = {
                "model": "transferable",
                "splits": {"test": split(dict.fromkeys(seen, 0.74))},
                "zsl": {
                    "unseen": [unseen],
                    "unseen_metrics": split({unseen: 0.60 + 0.01 * seed}),
                    "seen_metrics": split(dict.fromkeys(seen, 0.74)),
                },
            }
            write_run(out / "runs" / f"zsl-{unseen}" / f"seed-{seed}-abc", seed, m)
        cells[f"zsl-{unseen}"] = [0, 1]
    for target, mode, shots in (("sad", "finetune", 5), ("anger", "continual", 3)) + (
        ("anger", "finetune", 3),
    ):
        for seed in (0, 1):
            m = {
                "model": "transferable",
                "splits": {"test": split({"anger": 0.7, "happy": 0.7, "sad": 0.7})},
                "fsl": {
                    "target": target,
                    "mode": mode,
                    "shots": shots,
                    **fsl_stage(0.60, 0.66 + 0.01 * seed),
                },
            }
            write_run(out / "runs" / f"fsl-{target}-{mode}" / f"seed-{seed}-abc", seed, m)
        cells[f"fsl-{target}-{mode}"] = [0, 1]
    write_grid_json(out, cells, seeds=[0, 1])
    return out


@pytest.fixture(scope="module")
def results(paper_grid):
    return collect(paper_grid)


def drawn(fig):
    """Render ``fig`` (tick labels exist only once drawn); returns it."""
    fig.savefig(io.BytesIO(), format="png")
    return fig


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def bar_series(ax) -> list:
    from matplotlib.container import BarContainer

    return [c for c in ax.containers if isinstance(c, BarContainer)]


def bar_colors(ax) -> dict[str, tuple]:
    """The face colour of each labelled bar series."""
    return {c.get_label(): tuple(c.patches[0].get_facecolor()) for c in bar_series(ax)}


def tick_texts(axis) -> list[str]:
    lo, hi = sorted(axis.get_view_interval())
    return [
        t.get_text().replace("\N{MINUS SIGN}", "-")
        for t, v in zip(axis.get_ticklabels(), axis.get_ticklocs())
        if lo <= v <= hi
    ]


def test_emotions_follow_the_datasets_documented_order_whatever_the_runs_list(results):
    # the runs list sad, anger, happy; the zero-shot cells come sad first
    assert emotion_order(results) == ["anger", "happy", "sad"]
    colors = emotion_colors(results)
    assert colors["anger"] == to_rgba("tab:red") and colors["sad"] == to_rgba("tab:blue")


def test_names_without_a_fixed_colour_get_distinct_unused_ones():
    names = ["calm", "anger", "bored", "angry", "tense"]
    grid = GridResults(Path("."), "g", cells=[CellResult("c", metrics=[{"emotions": names}])])
    # anger is in CMU-MOSEI's documented order, the others in none: they follow as listed
    assert emotion_order(grid) == ["anger", "calm", "bored", "angry", "tense"]
    colors = emotion_colors(grid)
    assert colors["anger"] == colors["angry"] == to_rgba("tab:red")
    others = [colors[e] for e in ("calm", "bored", "tense")]
    assert len(set(others)) == 3 and to_rgba("tab:red") not in others


def test_an_emotion_has_the_same_colour_in_grids_that_leave_others_out(results, tmp_path):
    out = tmp_path / "zsl-only"
    write_run(
        out / "runs" / "zsl-happy" / "seed-0-abc",
        0,
        {
            "model": "transferable",
            "splits": {"test": split({"sad": 0.7})},
            "zsl": {
                "unseen": ["happy"],
                "unseen_metrics": split({"happy": 0.6}),
                "seen_metrics": split({"sad": 0.7}),
            },
        },
    )
    write_grid_json(out, {"zsl-happy": [0]}, seeds=[0])
    other = collect(out)
    assert emotion_order(other) == ["happy", "sad"]
    for e in ("happy", "sad"):
        assert emotion_colors(other)[e] == emotion_colors(results)[e]


def test_model_comparison_and_modality_ablation_are_separate_files(paper_grid):
    files = write_report(paper_grid)
    names = {p.name for p in files.plots}
    assert {"compare-wacc.png", "ablation-transferable-wacc.png"} <= names
    assert not any(n.startswith("bars-") for n in names)
    md = files.md.read_text()
    assert "![Test weighted accuracy by model](plots/compare-wacc.png)" in md
    assert "(plots/ablation-transferable-wacc.png)" in md


def test_comparison_has_the_models_on_tav_and_a_bar_per_emotion_in_order(results):
    fig = drawn(comparison_figure(results, "wacc"))
    (ax,) = fig.axes
    assert [t.split("\n")[0] for t in tick_texts(ax.xaxis)] == [
        "transferable",
        "ef-lstm",
        "lf-lstm",
    ]
    assert legend_labels(ax) == ["anger", "happy", "sad", "average"]
    assert ax.get_ylabel() == "test weighted accuracy"
    sad = next(c for c in bar_series(ax) if c.get_label() == "sad")
    heights = [p.get_height() for p in sad.patches]
    assert heights == pytest.approx([0.745, 0.735, 0.725])  # means over the two seeds


def test_ablation_orders_subsets_by_size_and_shares_the_emotion_colours(results):
    comparison = drawn(comparison_figure(results, "wacc")).axes[0]
    ablation = drawn(ablation_figure(results, "transferable", "wacc")).axes[0]
    assert [t.split("\n")[0] for t in tick_texts(ablation.xaxis)] == ["t", "t+a", "a+v", "t+a+v"]
    assert legend_labels(ablation) == ["anger", "happy", "sad", "average"]
    assert "modalities" in ablation.get_xlabel()
    assert bar_colors(ablation) == bar_colors(comparison)
    assert ablation_figure(results, "ef-lstm", "wacc") is None  # one modality set only


@pytest.mark.parametrize("which", ["comparison", "ablation"])
def test_y_limits_come_from_the_data_and_ticks_resolve_a_hundredth(results, which):
    fig = (
        comparison_figure(results, "wacc")
        if which == "comparison"
        else ablation_figure(results, "transferable", "wacc")
    )
    ax = drawn(fig).axes[0]
    tops = [p.get_height() for c in bar_series(ax) for p in c.patches]
    lo, hi = ax.get_ylim()
    low_data, high_data = min(tops) - 0.01, max(tops) + 0.01  # means ± at most one std
    assert lo <= min(tops) and hi >= max(tops)
    assert lo > 0.6 and hi < 0.8  # not 0..1 for values of 0.70..0.76
    assert (low_data - lo) < 0.02 and (hi - high_data) < 0.02
    ticks = [v for v in ax.get_yticks() if lo <= v <= hi]
    assert len(ticks) >= 4 and np.diff(ticks).max() <= 0.01 + 1e-9
    assert not any(line.get_label() == "chance" for line in ax.lines)  # 0.5 is off the axis


def test_zero_shot_has_one_metric_per_panel_and_the_emotions_in_order(results):
    fig = drawn(zero_shot_figure(results))
    auc, wacc = fig.axes
    assert (auc.get_ylabel(), wacc.get_ylabel()) == ("test ROC AUC", "test weighted accuracy")
    for ax in (auc, wacc):
        assert tick_texts(ax.xaxis) == ["anger", "sad"]  # the grid lists zsl-sad first
        lo, hi = ax.get_ylim()
        assert 0.5 < lo < 0.60 and 0.74 < hi < 0.80
    colors = emotion_colors(results)
    unseen = [p for p in auc.patches if p.get_x() < 0.5][0]  # anger's held-out bar
    assert tuple(unseen.get_facecolor()) == pytest.approx(colors["anger"])


def test_few_shot_puts_the_shots_on_the_x_axis(results):
    fig = drawn(few_shot_figure(results))
    axes = fig.axes
    assert [ax.get_title() for ax in axes[:2]] == ["finetune", "continual"]  # the modes' order
    assert all("shots" in ax.get_xlabel() for ax in axes[2:])
    assert legend_labels(axes[1]) == ["anger", "happy", "sad"][::2]  # targets, in order
    finetune = axes[0]
    by_target = {c.get_label(): c.lines[0] for c in finetune.containers}
    assert list(by_target["anger"].get_xdata()) == [0, 3]  # zero-shot start, then 3 shots
    assert list(by_target["sad"].get_xdata()) == [0, 5]
    assert tuple(by_target["sad"].get_color()) == pytest.approx(emotion_colors(results)["sad"])
    for ax in axes:
        assert all(re.fullmatch(r"-?\d+", t) for t in tick_texts(ax.xaxis) if t)


def test_learning_curves_mark_the_selected_epoch_with_integer_ticks(results):
    cell = next(c for c in results.cells if c.name == "transferable-tav")
    fig = drawn(curves_figure(cell))
    assert [ax.get_title() for ax in fig.axes] == [
        "train loss",
        "valid loss",
        "valid weighted accuracy (selection)",
    ]
    for ax in fig.axes:
        labels = tick_texts(ax.xaxis)
        assert labels and all(re.fullmatch(r"\d+", t) for t in labels), labels
        assert ax.get_xlabel() == "epoch"
        verticals = sorted(
            line.get_xdata()[0]
            for line in ax.lines
            if len(set(line.get_xdata())) == 1 and len(line.get_xdata()) == 2
        )
        assert verticals == [2, 3]  # seed 0 kept epoch 2, seed 1 epoch 3
    stars = [line for line in fig.axes[2].lines if line.get_marker() == "*"]
    assert sorted((s.get_xdata()[0], s.get_ydata()[0]) for s in stars) == [(2, 0.70), (3, 0.70)]


def test_chance_is_drawn_when_in_range_and_listed_after_the_emotions(grid_dir):
    # tests/test_report.py's grid: anger 0.5..0.7, sad 0.4..0.6, averages up to 2.5
    ax = drawn(comparison_figure(collect(grid_dir), "wacc")).axes[0]
    assert legend_labels(ax) == ["anger", "sad", "average", "chance"]
    (chance,) = [line for line in ax.lines if line.get_label() == "chance"]
    assert list(chance.get_ydata()) == [0.5, 0.5]
    lo, hi = ax.get_ylim()
    low = 0.5 - math.sqrt(0.02)  # sad: 0.5 ± 0.141 over its two seeds
    assert hi == 1.0  # the metrics lie in [0, 1]: the limits stay within, margins from there
    assert lo == pytest.approx(low - 0.1 * (1.0 - low))

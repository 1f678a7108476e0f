"""Aggregation over seeds and the report files, on hand-written run directories."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from emotrans.errors import ConfigError
from emotrans.experiments.aggregate import collect, mean_std
from emotrans.experiments.reference import load_reference
from emotrans.experiments.report import fmt_stat, tex_escape, write_report

EMOTIONS = ["anger", "sad"]


def split(values: dict[str, float], average: float | None = None) -> dict:
    """A metrics dict where every metric of an emotion has the same value."""
    per = {e: dict.fromkeys(("wacc", "f1", "auc", "acc"), v) for e, v in values.items()}
    avg = average if average is not None else sum(values.values()) / len(values)
    return {
        "per_emotion": per,
        "average": dict.fromkeys(("wacc", "f1", "auc", "acc"), avg),
        "multilabel": {"strict": 0.25, "subset": 0.5, "intersect": 0.75},
    }


def write_run(folder: Path, seed: int, metrics: dict, history: str | None = None) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"seed": seed, "model": metrics["model"]}))
    (folder / "model.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"x")
    base = {"dataset": "mosei", "modalities": "tav", "select_metric": "wacc", "best_epoch": 2}
    (folder / "metrics.json").write_text(json.dumps({**base, **metrics}))
    if history:
        (folder / "history.csv").write_text(history)


def write_grid_json(out: Path, cells: dict[str, list[int]], seeds: list[int]) -> None:
    runs = []
    for cell, done in cells.items():
        for seed in seeds:
            runs.append(
                {
                    "run": f"runs/{cell}/seed-{seed}-abc",
                    "cell": cell,
                    "seed": seed,
                    "status": "complete" if seed in done else "failed",
                    "error": None if seed in done else "boom: it broke",
                }
            )
    state = {
        "grid": "hand",
        "data": "/data/mosei",
        "seeds": seeds,
        "overrides": {},
        "cells": [{"name": c, "settings": {}} for c in cells],
        "runs": runs,
    }
    (out / "grid.json").write_text(json.dumps(state))


HISTORY = "epoch,train_loss,valid_loss,valid_wacc,lr,seconds\n1,0.9,0.8,0.55,0.001,1\n2,0.7,0.75,0.6,0.001,1\n"


@pytest.fixture
def grid_dir(tmp_path) -> Path:
    """Three seeds of a transferable cell (wacc of anger 0.5, 0.6, 0.7), one seed of a
    baseline (one seed failed), a zero-shot cell and a few-shot cell."""
    out = tmp_path / "grid"
    anger = [0.5, 0.6, 0.7]
    sad = [0.4, float("nan"), 0.6]  # one seed has no value
    for seed in range(3):
        m = {
            "model": "transferable",
            "splits": {"test": split({"anger": anger[seed], "sad": sad[seed]}, average=0.5 + seed)},
        }
        write_run(out / "runs" / "transferable-tav" / f"seed-{seed}-abc", seed, m, HISTORY)
    write_run(
        out / "runs" / "ef-lstm-tav" / "seed-0-abc",
        0,
        {"model": "ef-lstm", "splits": {"test": split({"anger": 0.55, "sad": 0.45})}},
    )
    for seed, (unseen, seen) in enumerate([(0.6, 0.7), (0.8, 0.9), (0.7, 0.8)]):
        m = {
            "model": "transferable",
            "splits": {"test": split({"sad": seen})},
            "zsl": {
                "unseen": ["anger"],
                "unseen_metrics": split({"anger": unseen}),
                "seen_metrics": split({"sad": seen}),
            },
        }
        write_run(out / "runs" / "zsl-anger" / f"seed-{seed}-abc", seed, m)
    for seed, (before, after) in enumerate([(0.5, 0.6), (0.5, 0.8), (0.6, 0.7)]):
        stage = {
            "before": {
                "target": dict.fromkeys(("wacc", "f1", "auc", "acc"), before),
                "seen_average": dict.fromkeys(("wacc", "f1", "auc", "acc"), 0.7),
            },
            "after": {
                "target": dict.fromkeys(("wacc", "f1", "auc", "acc"), after),
                "seen_average": dict.fromkeys(("wacc", "f1", "auc", "acc"), 0.65),
            },
        }
        m = {
            "model": "transferable",
            "splits": {"test": split({"anger": after, "sad": 0.65})},
            "fsl": {
                "target": "anger",
                "mode": "continual",
                "shots": 3,
                "forgetting": 0.05,
                **stage,
            },
        }
        write_run(out / "runs" / "fsl-anger-continual" / f"seed-{seed}-abc", seed, m)
    write_grid_json(
        out,
        {
            "transferable-tav": [0, 1, 2],
            "ef-lstm-tav": [0],
            "zsl-anger": [0, 1, 2],
            "fsl-anger-continual": [0, 1, 2],
        },
        seeds=[0, 1, 2],
    )
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def pick(rows, **match) -> dict[str, str]:
    hits = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(hits) == 1, (match, hits)
    return hits[0]


def test_mean_and_sample_std_are_exact():
    s = mean_std([1.0, 2.0, 3.0, 4.0])
    assert s.mean == 2.5 and s.std == pytest.approx(math.sqrt(5 / 3), abs=1e-15) and s.n == 4
    one = mean_std([0.7])
    assert one.mean == 0.7 and math.isnan(one.std) and fmt_stat(one) == "0.700 ± n/a"
    partial = mean_std([0.4, None, float("nan"), 0.6])
    assert partial.n == 2 and partial.total == 4 and partial.mean == pytest.approx(0.5)
    assert fmt_stat(partial) == "0.500 ± 0.141*"
    assert fmt_stat(mean_std([float("nan")])) == "n/a"


def test_csv_holds_mean_std_and_seed_counts_per_cell_emotion_metric(grid_dir):
    files = write_report(grid_dir, plots=False)
    rows = read_csv(files.csv)
    anger = pick(rows, section="test", cell="transferable-tav", emotion="anger", metric="wacc")
    assert float(anger["mean"]) == pytest.approx(0.6, abs=1e-12)
    assert float(anger["std"]) == pytest.approx(0.1, abs=1e-12)
    assert (anger["n"], anger["seeds_completed"], anger["seeds_expected"]) == ("3", "3", "3")
    sad = pick(rows, section="test", cell="transferable-tav", emotion="sad", metric="auc")
    assert float(sad["mean"]) == pytest.approx(0.5) and sad["n"] == "2"
    avg = pick(rows, section="test", cell="transferable-tav", emotion="average", metric="f1")
    assert float(avg["mean"]) == pytest.approx(1.5) and float(avg["std"]) == pytest.approx(1.0)
    single = pick(rows, section="test", cell="ef-lstm-tav", emotion="anger", metric="wacc")
    assert single["std"] == "" and (single["seeds_completed"], single["seeds_expected"]) == (
        "1",
        "3",
    )
    unseen = pick(rows, section="zsl_unseen", cell="zsl-anger", emotion="anger", metric="auc")
    assert float(unseen["mean"]) == pytest.approx(0.7) and float(unseen["std"]) == pytest.approx(
        0.1
    )
    after = pick(rows, section="fsl_after_target", cell="fsl-anger-continual", metric="wacc")
    assert float(after["mean"]) == pytest.approx(0.7) and float(after["std"]) == pytest.approx(0.1)
    forgetting = pick(rows, section="fsl", cell="fsl-anger-continual", metric="forgetting")
    assert float(forgetting["mean"]) == pytest.approx(0.05) and float(forgetting["std"]) == 0.0


def test_markdown_tables_show_mean_std_seed_counts_and_the_selection_rule(grid_dir):
    md = write_report(grid_dir, plots=False).md.read_text()
    assert "| transferable-tav | **0.600 ± 0.100** |" in md  # best anger wacc in bold
    assert "0.500 ± 0.141*" in md  # sad: two of three seeds gave a value
    assert "| ef-lstm-tav | 0.550 ± n/a |" in md and "| 1/3 |" in md
    assert "best validation wacc" in md and "validation split only" in md
    assert "sample standard deviation (ddof=1)" in md
    assert "## Zero-shot" in md and "| zsl-anger | anger | 0.700 ± 0.100 |" in md
    assert "| fsl-anger-continual | anger | continual | 3 | 0.533 ± 0.058 | 0.700 ± 0.100 |" in md
    assert "## Failed and skipped runs" in md and "boom: it broke" in md


def test_per_emotion_tables_use_the_plots_canonical_order_not_the_runs(tmp_path):
    from emotrans.experiments.plots import emotion_order

    out = tmp_path / "grid"
    listed = {"sad": 0.4, "happy": 0.5, "anger": 0.6}  # not a documented order
    for cell, values in (("a", listed), ("b", dict(reversed(listed.items())))):
        m = {"model": "transferable", "splits": {"test": split(values)}}
        write_run(out / "runs" / cell / "seed-0-abc", 0, m)
    write_grid_json(out, {"a": [0], "b": [0]}, seeds=[0])
    canonical = emotion_order(collect(out))
    assert canonical == ["anger", "happy", "sad"]
    md = write_report(out, plots=False).md.read_text()
    heads = [line for line in md.splitlines() if line.startswith("| cell |") and "average" in line]
    assert heads == ["| cell | anger | happy | sad | average | seeds |"] * 4  # one per metric
    assert "| a | **0.600 ± n/a** | **0.500 ± n/a** | **0.400 ± n/a** |" in md  # values follow
    tex = write_report(out, plots=False).tex.read_text()
    assert "cell & anger & happy & sad & average" in tex


def test_latex_has_one_table_per_metric_and_escapes_names(grid_dir):
    tex = write_report(grid_dir, plots=False).tex.read_text()
    assert tex.count(r"\begin{tabular}") == 4 + 1 + 1 + 1  # metrics, multi-label, zsl, fsl
    assert r"$\mathbf{0.600} \pm 0.100$" in tex and r"$0.550 \pm \text{n/a}$" in tex
    assert tex_escape("fsl_anger & 50%") == r"fsl\_anger \& 50\%"


def test_reference_numbers_are_compared_side_by_side(grid_dir, tmp_path):
    ref = tmp_path / "paper.yaml"
    ref.write_text(
        "source: Paper, Table 2\n"
        "results:\n"
        "  transferable:\n"  # a model name: matched to its tav cell
        "    anger: {wacc: 65.0}\n"
        "    average: {f1: 150}\n"
        "  zsl-anger:\n"
        "    anger: {auc: 72.5}\n"
        "  mult:\n"
        "    anger: {wacc: 60}\n"
    )
    files = write_report(grid_dir, reference=ref, plots=False)
    md = files.md.read_text()
    assert "## Published numbers" in md and "Paper, Table 2" in md and "percent" in md
    assert (
        "| transferable | transferable-tav | anger | wacc | 0.650 | 0.600 ± 0.100 | -0.050 |" in md
    )
    assert "| zsl-anger | zsl-anger | anger | auc | 0.725 | 0.700 ± 0.100 | -0.025 |" in md
    assert "| mult | (not in the grid) | anger | wacc | 0.600 | n/a | n/a |" in md
    row = pick(read_csv(files.csv), section="reference", model="transferable", metric="wacc")
    assert float(row["published"]) == 0.65 and float(row["difference"]) == pytest.approx(-0.05)


def test_a_bad_reference_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("transferable:\n  anger: {accuracy: 0.5}\n")
    with pytest.raises(ConfigError, match="unknown metric 'accuracy'"):
        load_reference(bad)
    bad.write_text("transferable:\n  anger: {wacc: high}\n")
    with pytest.raises(ConfigError, match="'high' is not a number"):
        load_reference(bad)


def test_only_runs_of_the_current_grid_count(grid_dir):
    write_run(
        grid_dir / "runs" / "transferable-tav" / "seed-0-olddigest",
        0,
        {"model": "transferable", "splits": {"test": split({"anger": 0.0, "sad": 0.0})}},
    )
    results = collect(grid_dir)
    cell = next(c for c in results.cells if c.name == "transferable-tav")
    assert cell.completed == 3 and results.ignored == 1
    assert "belong to other settings" in write_report(grid_dir, plots=False).md.read_text()


def test_a_folder_of_run_directories_without_grid_json_is_grouped_by_folder(grid_dir):
    (grid_dir / "grid.json").unlink()
    results = collect(grid_dir)
    names = {c.name: c.completed for c in results.cells}
    assert names == {
        "transferable-tav": 3,
        "ef-lstm-tav": 1,
        "zsl-anger": 3,
        "fsl-anger-continual": 3,
    }


def test_report_plots_from_hand_written_runs_are_png_images(grid_dir):
    files = write_report(grid_dir)
    names = {p.name for p in files.plots}
    assert {
        "compare-wacc.png",
        "zero-shot.png",
        "few-shot.png",
        "curves-transferable-tav.png",
    } <= names
    for p in files.plots:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000
    # the emotion-space picture needs real weights: explained, not fatal
    assert any("Emotion vectors" in n for n in files.notes)


def test_report_cli_writes_the_three_files(grid_dir, capsys):
    from emotrans.cli import main

    assert main(["report", str(grid_dir), "--no-plots"]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == ["results.md", "results.csv", "results.tex"]
    assert main(["report", str(grid_dir / "nope")]) == 2
    assert "no such grid folder" in capsys.readouterr().err

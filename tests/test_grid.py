"""Experiment grids: expansion, resume, failures, dependencies, parallel jobs, CLI.

One real grid (3 cells x 2 seeds on tiny generated CMU-MOSEI data) is trained once per module
and shared; the scheduling tests swap the training function for a fake that writes a run
directory instantly, so they check the bookkeeping, not the trainer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from emotrans.errors import ConfigError
from emotrans.experiments import expand_runs, load_grid, parse_grid, prepare_grid, reproduce
from emotrans.experiments.report import write_report
from emotrans.training.rundir import RunDir, is_complete, staging_dir
from helpers import EMB, write_mosei

TINY = {
    "epochs": 1,
    "batch_size": 16,
    "hidden_audio": 8,
    "hidden_vision": 4,
    "layers": 1,
    "embeddings": EMB,
    "fsl_epochs": 1,
    "ef_hidden": 8,
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TINY_GRID = """
name: tiny
description: a tiny grid for tests
seeds: 2
base:
  model: transferable
cells:
  - name: "{model}"
    settings:
      model: transferable
  - name: "zsl-{zsl}"
    settings:
      zsl: [anger]
  - name: "fsl-{fsl}-{fsl_mode}"
    settings:
      fsl: anger
      fsl_mode: finetune
      fsl_from: "@zsl-{fsl}"
"""


def write_grid(folder: Path, text: str, name: str = "grid.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory) -> Path:
    return write_mosei(tmp_path_factory.mktemp("mosei"), scale=0.005)


@pytest.fixture(scope="module")
def finished(mosei_dir, tmp_path_factory):
    """The tiny grid trained for real, then reported."""
    folder = tmp_path_factory.mktemp("grid")
    grid_file = write_grid(folder, TINY_GRID)
    out = folder / "out"
    summary = reproduce(grid_file, mosei_dir, out, overrides=TINY, threads=1)
    files = write_report(out)
    return grid_file, out, summary, files


# -- a fake trainer for the scheduling tests ----------------------------------------------------


class FakeTrainer:
    """Writes a complete run directory instantly; can fail or be interrupted on demand."""

    def __init__(self, fail_cells=(), interrupt_at: int | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.fail_cells = set(fail_cells)
        self.interrupt_at = interrupt_at

    def __call__(self, config, out, progress=False, overwrite=False, resume=False, log=()):
        out = Path(out)
        cell = out.parent.name
        self.calls.append((cell, config))
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if cell in self.fail_cells:
            raise ConfigError(f"{cell}: planted failure")
        with staging_dir(out) as tmp:
            run = RunDir(tmp)
            run.write_config(config)
            (tmp / "model.json").write_text("{}")
            (tmp / "model.safetensors").write_bytes(b"weights")
            run.write_metrics({"model": config.model, "seed": config.seed})
        return None


@pytest.fixture
def fake(monkeypatch):
    def install(**kw) -> FakeTrainer:
        trainer = FakeTrainer(**kw)
        monkeypatch.setattr("emotrans.training.pipeline.train_run", trainer)
        return trainer

    return install


@pytest.fixture
def data_dir(tmp_path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


# -- grid files and expansion -------------------------------------------------------------------


def test_shipped_grids_expand_to_the_documented_cells():
    main = load_grid("main-mosei")
    assert [c.name for c in main.cells] == [
        "transferable-tav",
        "ef-lstm-tav",
        "lf-lstm-tav",
        "mult-tav",
        "transferable-t",
        "transferable-a",
        "transferable-v",
        "transferable-ta",
        "transferable-tv",
        "transferable-av",
    ]
    assert main.seeds == [0, 1, 2, 3, 4]
    assert len(load_grid("main-iemocap").cells) == 10
    zsl = load_grid("zsl-mosei")
    assert [c.settings["zsl"] for c in zsl.cells] == [
        "anger",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
    ]
    # training never sees the IEMOCAP-9 emotions: one run per seed scores all three
    assert [c.settings["zsl"] for c in load_grid("zsl-iemocap").cells] == [
        "excited,surprised,frustrated"
    ]
    fsl = load_grid("fsl-mosei")
    modes = {(c.settings["fsl"], c.settings["fsl_mode"]) for c in fsl.cells if "fsl" in c.settings}
    assert len(modes) == 24 and {m for _, m in modes} == {
        "joint",
        "finetune",
        "continual",
        "replay",
    }
    assert fsl.base["fsl_fraction"] == 0.01
    assert fsl.cell("fsl-fear-replay").refs == {"fsl_from": "zsl-fear"}


def test_list_settings_expand_as_a_product_in_written_order():
    grid = parse_grid(
        {
            "base": {"epochs": 3},
            "cells": [
                {
                    "name": "{model}-{modalities}-e{epochs}",
                    "settings": {"model": ["a", "b"], "modalities": ["t", "av"]},
                }
            ],
        }
    )
    assert [c.name for c in grid.cells] == ["a-t-e3", "a-av-e3", "b-t-e3", "b-av-e3"]
    assert grid.cells[1].settings == {"model": "a", "modalities": "av"}


def test_a_comma_separated_string_is_one_list_value_not_a_product(tmp_path):
    grid = parse_grid({"cells": [{"name": "two", "settings": {"zsl": "anger,sad"}}]})
    (run,) = expand_runs(grid, tmp_path, tmp_path / "out", seeds=[0])
    assert run.config.zsl == ["anger", "sad"]


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"cells": [{"name": "x", "settings": {"epoch": 2}}]}, "unknown setting 'epoch'"),
        ({"cells": [{"name": "x", "settings": {"seed": 2}}]}, "set by `emotrans reproduce`"),
        ({"cells": [{"name": "x", "settings": {"model": ["a", "b"]}}]}, "same name 'x'"),
        ({"cells": [{"name": "{nope}", "settings": {"model": "a"}}]}, "uses {nope}"),
        ({"cells": [{"name": "x", "settings": {"fsl_from": "@y"}}]}, "not a cell of this grid"),
        (
            {
                "cells": [
                    {"name": "x", "settings": {"fsl_from": "@y"}},
                    {"name": "y", "settings": {"fsl_from": "@x"}},
                ]
            },
            "reference each other",
        ),
        ({"cells": []}, "non-empty list"),
        ({"seeds": 0, "cells": [{"name": "x"}]}, "must be positive"),
    ],
)
def test_invalid_grids_are_rejected_with_one_line_errors(raw, message):
    with pytest.raises(ConfigError, match=message.replace("{", r"\{").replace("}", r"\}")) as err:
        parse_grid(raw, source="g.yaml")
    assert "\n" not in str(err.value) and str(err.value).startswith("g.yaml")


def test_references_resolve_to_the_same_seed_of_the_referenced_cell(tmp_path):
    runs = expand_runs(load_grid("fsl-mosei"), tmp_path, tmp_path / "out", seeds=[0, 1])
    by = {(r.cell, r.seed): r for r in runs}
    for seed in (0, 1):
        dep = by[("zsl-sad", seed)]
        for mode in ("joint", "finetune", "continual", "replay"):
            run = by[(f"fsl-sad-{mode}", seed)]
            assert run.config.fsl_from == str(dep.path)
            assert run.depends == [dep.run_id]
            assert runs.index(dep) < runs.index(run)
    assert by[("fsl-sad-joint", 0)].config.fsl_mode == "joint"


def test_run_keys_are_config_digests_independent_of_the_output_folder(tmp_path):
    grid = load_grid("fsl-mosei")
    a = expand_runs(grid, tmp_path, tmp_path / "a", seeds=[0])
    b = expand_runs(grid, tmp_path, tmp_path / "elsewhere" / "b", seeds=[0])
    assert [r.run_id for r in a] == [r.run_id for r in b]
    assert a[0].run_id == f"runs/{a[0].cell}/seed-0-{a[0].config.digest()}"
    changed = expand_runs(grid, tmp_path, tmp_path / "a", seeds=[0], overrides={"epochs": 2})
    assert not {r.run_id for r in a} & {r.run_id for r in changed}


def test_set_cannot_override_what_the_grid_varies(tmp_path):
    with pytest.raises(ConfigError, match="--set model: the cells of grid 'main-mosei'"):
        expand_runs(load_grid("main-mosei"), tmp_path, tmp_path / "o", overrides={"model": "mult"})


def test_zsl_iemocap_demands_the_iemocap9_data(tmp_path):
    with pytest.raises(ConfigError, match="needs zsl_data: pass --zsl-data PATH"):
        expand_runs(load_grid("zsl-iemocap"), tmp_path, tmp_path / "o")
    runs = expand_runs(
        load_grid("zsl-iemocap"), tmp_path, tmp_path / "o", overrides={"zsl_data": str(tmp_path)}
    )
    assert {r.config.zsl_data for r in runs} == {str(tmp_path.resolve())}


# -- scheduling, resume, failures (fake trainer) ----------------------------------------------


FOUR = """
seeds: 2
cells:
  - name: "{model}"
    settings:
      model: [transferable, ef-lstm]
"""


def test_an_interrupted_grid_resumes_without_retraining_finished_runs(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, FOUR)
    out = tmp_path / "out"
    fake(interrupt_at=3)
    with pytest.raises(KeyboardInterrupt):
        reproduce(grid, data_dir, out)
    state = json.loads((out / "grid.json").read_text())
    assert [r["status"] for r in state["runs"]] == ["complete", "complete", "pending", "pending"]
    done = [out / r["run"] for r in state["runs"][:2]]
    mtimes = [(p / "metrics.json").stat().st_mtime_ns for p in done]
    assert not list(out.rglob("*.partial")) and not (out / ".reproduce.lock").exists()

    trainer = fake()
    summary = reproduce(grid, data_dir, out)
    assert [(cell, c.seed) for cell, c in trainer.calls] == [("transferable", 1), ("ef-lstm", 1)]
    assert summary.ok and summary.trained == 2
    assert [(p / "metrics.json").stat().st_mtime_ns for p in done] == mtimes

    again = fake()
    assert reproduce(grid, data_dir, out).trained == 0 and again.calls == []


def test_a_failing_cell_does_not_stop_the_grid(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, FOUR)
    out = tmp_path / "out"
    trainer = fake(fail_cells={"transferable"})
    summary = reproduce(grid, data_dir, out)
    assert len(trainer.calls) == 4
    assert summary.counts["complete"] == 2 and summary.counts["failed"] == 2 and not summary.ok
    failures = json.loads((out / "failures.json").read_text())
    assert [(f["cell"], f["seed"], f["status"]) for f in failures] == [
        ("transferable", 0, "failed"),
        ("transferable", 1, "failed"),
    ]
    assert failures[0]["error"] == "transferable: planted failure"
    records = json.loads((out / "grid.json").read_text())["runs"]
    assert [r["status"] for r in records] == ["failed", "complete", "failed", "complete"]

    fake()  # the cause is fixed: a rerun retries only the failed runs
    summary = reproduce(grid, data_dir, out)
    assert summary.ok and summary.trained == 2
    assert json.loads((out / "failures.json").read_text()) == []


DEPENDENT = """
seeds: 2
cells:
  - name: "zsl-{zsl}"
    settings:
      zsl: [anger, sad]
  - name: "fsl-{fsl}"
    settings:
      fsl: [anger, sad]
      fsl_mode: finetune
      fsl_from: "@zsl-{fsl}"
"""


def test_dependent_runs_start_after_their_dependency_and_get_its_directory(
    tmp_path, data_dir, fake
):
    grid = write_grid(tmp_path, DEPENDENT)
    out = tmp_path / "out"
    trainer = fake()
    assert reproduce(grid, data_dir, out).ok
    order = [(cell, c.seed) for cell, c in trainer.calls]
    for cell, config in trainer.calls:
        if cell.startswith("fsl-"):
            source = Path(config.fsl_from)
            assert source.parent.name == f"zsl-{config.fsl}"
            assert source.name.startswith(f"seed-{config.seed}-") and is_complete(source)
            assert order.index((source.parent.name, config.seed)) < order.index((cell, config.seed))


def test_runs_depending_on_a_failed_run_are_skipped_not_trained(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, DEPENDENT)
    out = tmp_path / "out"
    trainer = fake(fail_cells={"zsl-anger"})
    summary = reproduce(grid, data_dir, out)
    assert all(cell != "fsl-anger" for cell, _ in trainer.calls)
    skipped = [f for f in summary.failures if f["status"] == "skipped"]
    assert [(f["cell"], f["seed"]) for f in skipped] == [("fsl-anger", 0), ("fsl-anger", 1)]
    assert "dependency runs/zsl-anger/seed-0-" in skipped[0]["error"]
    assert summary.counts == {
        "pending": 0,
        "running": 0,
        "complete": 4,
        "failed": 2,
        "skipped": 2,
    }


def test_leftover_staging_folders_of_a_killed_run_are_removed(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, FOUR)
    plan = prepare_grid(grid, data_dir, tmp_path / "out", seeds=1)
    stale = plan.runs[0].path.parent / f".{plan.runs[0].path.name}.abc123.partial"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")
    fake()
    assert plan.run().ok
    assert not stale.exists() and is_complete(plan.runs[0].path)


def test_an_existing_foreign_folder_at_a_run_path_is_never_overwritten(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, FOUR)
    plan = prepare_grid(grid, data_dir, tmp_path / "out", seeds=1)
    foreign = plan.runs[0].path
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    fake()
    summary = plan.run()
    assert (
        summary.counts["failed"] == 1
        and "not an empty run directory" in summary.failures[0]["error"]
    )
    assert (foreign / "notes.txt").read_text() == "mine"


def test_a_second_reproduce_in_the_same_folder_is_refused(tmp_path, data_dir, fake):
    grid = write_grid(tmp_path, FOUR)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # holds the folder's lock as a running reproduce does
        [sys.executable, "-c", _HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    fake()
    with pytest.raises(ConfigError, match="another `emotrans reproduce` is running"):
        reproduce(grid, data_dir, out)
    holder.kill()  # a killed holder's lock is released by the OS; its file stays, stale
    holder.wait()
    assert (out / ".reproduce.lock").exists()
    assert reproduce(grid, data_dir, out).ok


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from emotrans.experiments.runner import _Lock
lock = _Lock(Path(sys.argv[1])).__enter__()
print("locked", flush=True)
time.sleep(600)
"""


# -- the real grid ------------------------------------------------------------------------------


@pytest.mark.slow  # trains the real grid (the `finished` fixture)
def test_every_cell_and_seed_becomes_a_complete_run_directory(finished):
    _, out, summary, _ = finished
    assert summary.ok and summary.total == 6 and summary.trained == 6, summary.failures
    state = json.loads((out / "grid.json").read_text())
    assert state["grid"] == "tiny" and state["seeds"] == [0, 1]
    assert state["overrides"]["epochs"] == 1
    for rec in state["runs"]:
        path = out / rec["run"]
        assert rec["status"] == "complete" and is_complete(path)
        config = RunDir(path).config()
        assert config.seed == rec["seed"] and path.name == f"seed-{rec['seed']}-{rec['digest']}"
        assert (path / "history.csv").is_file() and (path / "report.md").is_file()
    fsl = [r for r in state["runs"] if r["cell"] == "fsl-anger-finetune"]
    for rec in fsl:
        metrics = RunDir(out / rec["run"]).metrics()
        assert metrics["fsl"]["mode"] == "finetune" and "before" in metrics["fsl"]
        assert Path(metrics["fsl"]["before_source"]) == out / rec["depends"][0]


@pytest.mark.slow  # trains the real grid (the `finished` fixture)
def test_rerunning_a_finished_grid_trains_nothing(finished, mosei_dir, monkeypatch):
    grid_file, out, _, _ = finished
    calls = []
    monkeypatch.setattr("emotrans.training.pipeline.train_run", lambda *a, **k: calls.append(a))
    summary = reproduce(grid_file, mosei_dir, out, overrides=TINY)
    assert summary.ok and summary.trained == 0 and calls == []


@pytest.mark.slow  # trains the real grid (the `finished` fixture)
def test_report_files_hold_the_mean_and_sample_std_over_seeds(finished):
    _, out, _, files = finished
    assert files.md.is_file() and files.csv.is_file() and files.tex.is_file()
    import pandas as pd

    table = pd.read_csv(files.csv)
    row = table[
        (table.section == "test")
        & (table.cell == "transferable")
        & (table.emotion == "average")
        & (table.metric == "wacc")
    ].iloc[0]
    values = [
        RunDir(p).metrics()["splits"]["test"]["average"]["wacc"]
        for p in sorted((out / "runs" / "transferable").iterdir())
    ]
    assert row["mean"] == pytest.approx(np.mean(values))
    assert row["std"] == pytest.approx(np.std(values, ddof=1))
    assert row["n"] == 2 and row["seeds_completed"] == 2 and row["seeds_expected"] == 2
    assert {"zsl_unseen", "fsl_after_target", "fsl"} <= set(table.section)
    md = files.md.read_text()
    assert "validation wacc" in md and "validation split only" in md
    assert f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}" in md
    assert "## Zero-shot" in md and "## Few-shot" in md
    assert r"\begin{tabular}" in files.tex.read_text()


@pytest.mark.slow  # trains the real grid (the `finished` fixture)
def test_plots_are_non_empty_png_images_embedded_in_results_md(finished):
    _, out, _, files = finished
    names = {p.name for p in files.plots}
    assert {
        "compare-wacc.png",
        "zero-shot.png",
        "few-shot.png",
        "emotion-space-transferable.png",
        "curves-transferable.png",
    } <= names
    md = files.md.read_text()
    for path in files.plots:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
        assert f"](plots/{path.name})" in md
    assert files.notes == []


@pytest.mark.slow  # trains the real grid (the `finished` fixture)
def test_jobs_two_run_in_parallel_processes_with_the_same_results(finished, mosei_dir, tmp_path):
    grid = write_grid(
        tmp_path,
        """
        seeds: 1
        cells:
          - name: "{model}"
            settings:
              model: [transferable, ef-lstm]
        """,
    )
    summary = reproduce(grid, mosei_dir, tmp_path / "out", overrides=TINY, jobs=2)
    assert summary.ok and summary.trained == 2
    _, first, _, _ = finished
    ours = next((tmp_path / "out" / "runs" / "transferable").iterdir())
    same = first / "runs" / "transferable" / ours.name  # same settings, same key
    assert is_complete(same)
    a = RunDir(ours).metrics()["splits"]["test"]["average"]
    b = RunDir(same).metrics()["splits"]["test"]["average"]
    assert a["wacc"] == pytest.approx(b["wacc"]) and a["auc"] == pytest.approx(b["auc"])


# -- command line -------------------------------------------------------------------------------


def test_reproduce_refuses_an_unknown_grid_listing_the_known_ones(tmp_path, capsys):
    from emotrans.cli import main

    code = main(["reproduce", "main-mosie", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("emotrans: error: unknown grid 'main-mosie'")
    for name in ("main-mosei", "main-iemocap", "zsl-mosei", "zsl-iemocap", "fsl-mosei"):
        assert name in err
    assert not (tmp_path / "o").exists()


def test_cli_reproduce_reports_failures_and_exits_1(tmp_path, data_dir, fake, capsys):
    from emotrans.cli import main

    grid = write_grid(tmp_path, FOUR)
    fake(fail_cells={"ef-lstm"})
    code = main(
        [
            "reproduce",
            str(grid),
            "--data",
            str(data_dir),
            "--out",
            str(tmp_path / "o"),
            "--seeds",
            "1",
            "--set",
            "epochs=2",
            "batch_size=8",
            "--no-report",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "1 of 2 runs complete" in out and "failed: runs/ef-lstm/seed-0-" in out
    assert "ef-lstm: planted failure" in out
    state = json.loads((tmp_path / "o" / "grid.json").read_text())
    assert state["overrides"] == {"epochs": "2", "batch_size": "8"}
    assert RunDir(tmp_path / "o" / state["runs"][0]["run"]).config().epochs == 2


def test_cli_dry_run_lists_runs_without_writing(tmp_path, data_dir, capsys):
    from emotrans.cli import main

    grid = write_grid(tmp_path, FOUR)
    code = main(
        ["reproduce", str(grid), "--data", str(data_dir), "--out", str(tmp_path / "o"), "--dry-run"]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and len(lines) == 5
    assert lines[0].startswith("pending   runs/transferable/seed-0-")
    assert not (tmp_path / "o").exists()

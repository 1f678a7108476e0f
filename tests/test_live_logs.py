"""Live logs of a run and of a grid: history.csv after every epoch, the time left on each
epoch's line, TensorBoard scalars (``--log tensorboard``), the runs in flight of a grid, and
no carriage returns when stderr is not a terminal."""

from __future__ import annotations

import csv
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from emotrans.cli import main
from emotrans.cli.grid import in_flight_line
from emotrans.config import RunConfig
from emotrans.experiments import prepare_grid
from emotrans.training.checkpoint import Checkpoint
from emotrans.training.pipeline import fit_run
from emotrans.training.progress import (
    estimate,
    estimate_folder,
    format_seconds,
    max_epochs,
    stale_epochs,
)
from emotrans.training.rundir import RunDir, partial_dir, staging_dir
from helpers import EMB, TINY, TINY_FLAGS, write_mosei


@pytest.fixture(scope="module")
def mosei(tmp_path_factory) -> Path:
    return write_mosei(tmp_path_factory.mktemp("mosei"), scale=0.005)


# -- the estimate -------------------------------------------------------------------------------


def test_time_left_is_the_mean_epoch_time_over_the_epochs_early_stopping_may_still_take():
    # 3 epochs done of at most 10, 2 since the best, patience 4: 2 more at the soonest
    est = estimate([10.0, 20.0, 30.0], epoch=3, epochs=10, stale=2, patience=4)
    assert (est.epoch, est.epochs, est.stale) == (3, 10, 2)
    assert est.soonest == pytest.approx(20.0 * 2) and est.latest == pytest.approx(20.0 * 7)
    assert est.describe() == "left 40s..2m20s"


def test_time_left_is_one_figure_when_the_maximum_comes_first():
    est = estimate([5.0], epoch=9, epochs=10, stale=0, patience=8)
    assert est.soonest == est.latest == 5.0 and est.describe() == "left 5s"
    assert estimate([5.0], epoch=10, epochs=10, stale=0, patience=8).describe() == "left 0s"


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (59.6, "1m00s"), (7500, "2h05m")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_stale_epochs_follow_the_selection_figure_and_its_direction():
    higher = [{"epoch": i, "valid_loss": 1, "valid_wacc": v} for i, v in enumerate([0.5, 0.7, 0.6])]
    assert stale_epochs(higher) == 1
    lower = [{"epoch": i, "valid_loss": 1, "valid_mae": v} for i, v in enumerate([0.9, 0.8, 0.85])]
    assert stale_epochs(lower) == 1
    by_loss = [{"epoch": i, "valid_loss": v} for i, v in enumerate([0.9, 0.8, 0.7])]
    assert stale_epochs(by_loss) == 0
    weighted = [{"valid_wacc": 0.9, "valid_selection": v} for v in (0.1, "nan", 0.2, 0.15)]
    assert stale_epochs(weighted) == 1


def test_few_shot_fine_tuning_runs_at_most_its_own_epochs():
    assert max_epochs(RunConfig(epochs=50)) == 50
    assert max_epochs(RunConfig(epochs=50, fsl="fear", fsl_mode="joint")) == 50
    assert max_epochs(RunConfig(epochs=50, fsl="fear", fsl_mode="finetune", fsl_epochs=7)) == 7


# -- one run ------------------------------------------------------------------------------------


def test_history_csv_has_each_epoch_as_soon_as_it_ends(mosei, tmp_path):
    config = RunConfig(data=str(mosei), **{**TINY, "epochs": 3}, early_stop=10)
    seen: list[int] = []

    def count_rows(epoch: int, scalars: dict[str, float]) -> None:
        with (tmp_path / "history.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert int(rows[-1]["epoch"]) == epoch
        seen.append(len(rows))

    fit_run(config, checkpoint=Checkpoint(tmp_path, config), on_epoch=[count_rows])
    assert seen == [1, 2, 3]


def test_each_epoch_line_says_the_time_left_without_carriage_returns(mosei, tmp_path, capsys):
    assert not sys.stderr.isatty()
    out = tmp_path / "run"
    argv = ["train", "--data", str(mosei), "--out", str(out), *TINY_FLAGS]
    assert main([*argv, "--epochs", "3", "--early-stop", "10"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1", "2", "3"]
    assert all(" left " in line for line in lines)
    assert lines[-1].endswith("left 0s")  # the last of the maximum epochs
    assert len(RunDir(out).history()) == 3


def test_quiet_training_prints_no_epoch_lines(mosei, tmp_path, capsys):
    argv = ["train", "--data", str(mosei), "--out", str(tmp_path / "r"), *TINY_FLAGS]
    assert main(["-q", *argv]) == 0
    captured = capsys.readouterr()
    assert "epoch" not in captured.err and captured.out.strip() == str(tmp_path / "r")


def test_tensorboard_gets_losses_validation_metrics_and_lr_per_epoch(mosei, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    argv = ["train", "--data", str(mosei), "--out", str(out), *TINY_FLAGS, "--epochs", "2"]
    assert main([*argv, "--early-stop", "10", "--log", "tensorboard", "-q"]) == 0
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/valid", "lr", "valid/wacc", "valid/auc"} <= tags
    history = RunDir(out).history()
    train_loss = events.Scalars("loss/train")
    assert [e.step for e in train_loss] == [1, 2]
    assert [e.value for e in train_loss] == pytest.approx(
        [float(r["train_loss"]) for r in history], rel=1e-6
    )
    assert [e.value for e in events.Scalars("lr")] == pytest.approx([1e-3, 1e-3])


def test_tensorboard_without_its_package_is_one_line_before_data_is_read(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    missing = tmp_path / "no-such-data"
    argv = ["train", "--data", str(missing), "--out", str(tmp_path / "r"), "--log", "tensorboard"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "emotrans[tensorboard]"' in err
    assert "no-such-data" not in err and not (tmp_path / "r").exists()


# -- a grid -------------------------------------------------------------------------------------

GRID = """
name: live
seeds: 1
base:
  model: transferable
cells:
  - name: a
    settings: {}
"""


def _grid(tmp_path: Path, data: Path):
    (tmp_path / "g.yaml").write_text(textwrap.dedent(GRID), encoding="utf-8")
    overrides = {"epochs": 10, "early_stop": 4, "embeddings": EMB}
    return prepare_grid(tmp_path / "g.yaml", data, tmp_path / "out", overrides=overrides)


def _write_history(folder: Path, scores: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["epoch,train_loss,valid_loss,valid_wacc,lr,seconds"]
    rows += [f"{i},1.0,1.0,{s},0.001,2.0" for i, s in enumerate(scores, 1)]
    (folder / "history.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_a_grid_reports_its_runs_in_flight_from_their_live_history(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    plan = _grid(tmp_path, data)
    (spec,) = plan.runs
    assert plan.in_flight() == []
    plan.records[spec.run_id]["status"] = "running"
    assert plan.in_flight() == [(spec.run_id, None)]  # no epoch finished yet
    assert in_flight_line(plan.in_flight()) == f"emotrans: in flight: {spec.run_id} starting"
    _write_history(partial_dir(spec.path), [0.6, 0.7, 0.65])
    ((run_id, est),) = plan.in_flight()
    assert (est.epoch, est.epochs, est.stale) == (3, 10, 1)
    assert (est.soonest, est.latest) == (6.0, 14.0)  # 3 more epochs at most without gain
    assert in_flight_line(plan.in_flight()) == (
        f"emotrans: in flight: {run_id} epoch 3/10, left 6s..14s"
    )
    assert estimate_folder(tmp_path / "nowhere", spec.config) is None


class _SlowTrainer:
    """Stands in for train_run: two epochs of history in the staging folder, a pause after
    each (so the grid's watcher sees the run in flight), then a complete run directory."""

    def __call__(self, config, out, progress=False, overwrite=False, resume=False, log=()):
        with staging_dir(out) as tmp:
            for epochs in ([0.5], [0.5, 0.6]):
                _write_history(tmp, epochs)
                time.sleep(0.6)
            run = RunDir(tmp)
            run.write_config(config)
            (tmp / "model.json").write_text("{}")
            (tmp / "model.safetensors").write_bytes(b"weights")
            run.write_metrics({"model": config.model, "seed": config.seed})


def test_reproduce_logs_each_run_in_flight_and_each_end_as_plain_lines(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("emotrans.training.pipeline.train_run", _SlowTrainer())
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "g.yaml").write_text(textwrap.dedent(GRID), encoding="utf-8")
    argv = ["reproduce", str(tmp_path / "g.yaml"), "--data", str(data), "--out"]
    argv += [str(tmp_path / "out"), "--set", "epochs=10", "--no-report"]
    assert main([*argv, "--progress-every", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err
    flying = [line for line in err.splitlines() if line.startswith("emotrans: in flight: ")]
    assert any("epoch 1/10, left" in line for line in flying)
    assert any("epoch 2/10, left" in line for line in flying)
    assert "emotrans: complete: runs/a/seed-0-" in err and "(1 of 1 ended)" in err
    state = json.loads((tmp_path / "out" / "grid.json").read_text())
    assert state["counts"]["complete"] == 1


def test_reproduce_writes_tensorboard_scalars_in_each_run(mosei, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (tmp_path / "g.yaml").write_text(textwrap.dedent(GRID), encoding="utf-8")
    out = tmp_path / "out"
    settings = [f"{k}={v}" for k, v in {**TINY, "epochs": 2, "early_stop": 10}.items()]
    argv = ["reproduce", str(tmp_path / "g.yaml"), "--data", str(mosei), "--out", str(out)]
    argv += ["--seeds", "2", "--no-report", "--log", "tensorboard", "-q", "--set", *settings]
    assert main(argv) == 0
    runs = sorted((out / "runs" / "a").iterdir())
    assert len(runs) == 2
    for run in runs:
        events = EventAccumulator(str(run / "tensorboard"))
        events.Reload()
        assert [e.step for e in events.Scalars("loss/train")] == [1, 2]
        assert [e.value for e in events.Scalars("loss/valid")] == pytest.approx(
            [float(r["valid_loss"]) for r in RunDir(run).history()], rel=1e-6
        )


def test_reproduce_refuses_tensorboard_without_its_package_before_data_is_read(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    (tmp_path / "g.yaml").write_text(textwrap.dedent(GRID), encoding="utf-8")
    argv = ["reproduce", str(tmp_path / "g.yaml"), "--data", str(tmp_path / "no-such-data")]
    assert main([*argv, "--out", str(tmp_path / "out"), "--log", "tensorboard"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "emotrans[tensorboard]"' in err
    assert "no-such-data" not in err and not (tmp_path / "out").exists()

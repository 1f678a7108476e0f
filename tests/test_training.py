"""Trainer, run directory and reloading, end to end on tiny generated data."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from emotrans.config import RunConfig
from emotrans.errors import RunDirError
from emotrans.models.registry import resolve_config
from emotrans.training.pipeline import evaluate_run, load_run, train_run
from emotrans.training.rundir import is_complete
from helpers import TINY, write_mosei


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory):
    return write_mosei(tmp_path_factory.mktemp("mosei"), scale=0.01)


@pytest.fixture(scope="module")
def trained(mosei_dir, tmp_path_factory):
    config = RunConfig(data=str(mosei_dir), **TINY)
    out = tmp_path_factory.mktemp("runs") / "run"
    result = train_run(config, out)
    return config, result


def test_run_directory_holds_every_file(trained):
    _, result = trained
    names = {p.name for p in result.path.iterdir()}
    assert {
        "config.json",
        "model.json",
        "model.safetensors",
        "metrics.json",
        "history.csv",
        "report.md",
    } <= names
    assert not any(n.endswith(".tmp") or n.endswith(".partial") for n in names)
    assert not list(result.path.parent.glob(".*partial"))


def test_metrics_json_has_the_documented_shape(trained):
    _, result = trained
    m = json.loads((result.path / "metrics.json").read_text())
    assert m["dataset"] == "mosei" and m["model"] == "transferable" and m["modalities"] == "tav"
    assert m["emotions"] == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert 1 <= m["best_epoch"] <= 2
    for split in ("valid", "test"):
        s = m["splits"][split]
        assert set(s["per_emotion"]) == set(m["emotions"])
        for row in s["per_emotion"].values():
            assert set(row) >= {"wacc", "f1", "auc", "acc"}
        assert set(s["average"]) >= {"wacc", "f1", "auc", "acc"}
        assert set(s["multilabel"]) >= {"strict", "subset", "intersect"}


def test_history_has_one_row_per_epoch(trained):
    _, result = trained
    with (result.path / "history.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert {"train_loss", "valid_loss", "valid_wacc", "lr", "seconds"} <= set(rows[0])
    assert all(math.isfinite(float(r["train_loss"])) for r in rows)


def test_config_json_rebuilds_the_run(trained):
    config, result = trained
    saved = RunConfig.from_dict(json.loads((result.path / "config.json").read_text()))
    assert saved == resolve_config(config)  # every model setting, defaults filled in


def test_evaluate_reproduces_metrics_json(trained):
    _, result = trained
    stored = json.loads((result.path / "metrics.json").read_text())["splits"]["test"]
    again = evaluate_run(result.path)
    for name, row in stored["per_emotion"].items():
        for key, value in row.items():
            if value is None:
                assert math.isnan(again["per_emotion"][name][key])
            else:
                assert again["per_emotion"][name][key] == pytest.approx(value, abs=1e-9)


def test_same_seed_same_metrics_and_another_seed_differs(trained, mosei_dir, tmp_path):
    config, result = trained
    first = json.loads((result.path / "metrics.json").read_text())["splits"]["test"]["average"]
    again = train_run(config, tmp_path / "again").metrics["splits"]["test"]["average"]
    for key, value in first.items():
        assert again[key] == pytest.approx(value, abs=1e-6)
    other = train_run(config.replace(seed=1), tmp_path / "other").metrics["splits"]["test"][
        "average"
    ]
    assert other != pytest.approx(first, abs=1e-9)


def test_finished_run_is_never_overwritten_silently(trained):
    config, result = trained
    with pytest.raises(RunDirError, match="already holds a finished run"):
        train_run(config, result.path)


def test_failed_run_leaves_nothing_behind(mosei_dir, tmp_path, monkeypatch):
    from emotrans.training import trainer as trainer_module

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(trainer_module.Trainer, "fit", boom)
    with pytest.raises(RuntimeError):
        train_run(RunConfig(data=str(mosei_dir), **TINY), tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_loaded_model_scores_unseen_emotion_names(trained):
    _, result = trained
    model, _, info = load_run(result.path, emotions=["anger", "boredom", "pride"])
    assert model.emotions == ["anger", "boredom", "pride"]
    assert info["emotions"][0] == "anger"


def test_corrupt_checkpoint_is_a_clear_error(trained, tmp_path):
    import shutil

    _, result = trained
    copy = tmp_path / "copy"
    shutil.copytree(result.path, copy)
    (copy / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(RunDirError, match="model.safetensors"):
        load_run(copy)


def test_tuned_thresholds_are_stored_and_used(mosei_dir, tmp_path):
    result = train_run(
        RunConfig(data=str(mosei_dir), tune_thresholds=True, **TINY), tmp_path / "thr"
    )
    info = json.loads((result.path / "model.json").read_text())
    assert len(info["thresholds"]) == 6
    again = evaluate_run(result.path)
    assert again["average"]["wacc"] == pytest.approx(
        result.metrics["splits"]["test"]["average"]["wacc"]
    )
    assert is_complete(result.path)


@pytest.mark.parametrize("modalities", ["t", "av"])
def test_modality_subsets_train(mosei_dir, tmp_path, modalities):
    result = train_run(
        RunConfig(data=str(mosei_dir), modalities=modalities, **{**TINY, "epochs": 1}),
        tmp_path / "r",
    )
    assert result.metrics["modalities"] == modalities
    assert np.isfinite(result.metrics["splits"]["test"]["average"]["f1"])

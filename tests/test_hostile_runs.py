"""Run directories, grid folders and feature files from a careless or hostile user (issue #17).

Every damaged document (config.json, model.json, metrics.json, grid.json: a list, not UTF-8,
a key missing or of the wrong type) and every malformed ``.npz`` given to ``predict`` is one
line on stderr naming the file and the key, and exit 2, from every command that reads it. A
failed final write of ``train`` keeps the trained model and says where; continual-learning
runs resume to the metrics of an uninterrupted run.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from emotrans.cli import main
from helpers import TINY_FLAGS, one_line_error, write_mosei

TINY = [*TINY_FLAGS, "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_mosei(tmp_path_factory.mktemp("d") / "mosei", scale=0.005)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("r") / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY]) == 0
    return out


def damaged(run: Path, tmp_path: Path, name: str, content: bytes | object) -> Path:
    """A copy of ``run`` whose file ``name`` holds ``content`` (bytes, or JSON of a value)."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    raw = content if isinstance(content, bytes) else json.dumps(content).encode()
    (copy / name).write_bytes(raw)
    return copy


def _edit(run: Path, name: str, change) -> dict:
    doc = json.loads((run / name).read_text())
    change(doc)
    return doc


def _drop(key):
    return lambda d: d.pop(key)


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


# -- config.json and model.json -----------------------------------------------------------

RUN_DOCUMENTS = [
    ("config.json", b"[1, 2]", "a list of 2, expected a JSON object"),
    ("config.json", b"\xff\xfe{}", "not UTF-8 text"),
    ("config.json", b'"settings"', "the string 'settings', expected a JSON object"),
    ("config.json", b"{", "not valid JSON"),
    ("config.json", _drop("model"), "'model' is missing"),
    ("config.json", _drop("embeddings"), "'embeddings' is missing"),
    ("config.json", _set("modalities", ["t"]), "'modalities' is a list of 1, expected a string"),
    ("config.json", _set("data", {"path": "x"}), "data = {'path': 'x'} is not a valid str"),
    ("config.json", _set("emotions", {"a": 1}), "emotions = {'a': 1} is not a valid list"),
    ("config.json", _set("epochs", "many"), "epochs = 'many' is not a valid int"),
    ("model.json", b"[]", "an empty list, expected a JSON object"),
    ("model.json", b"\x80abc", "not UTF-8 text (byte 0)"),
    ("model.json", _drop("emotions"), "'emotions' is missing; expected a list of strings"),
    ("model.json", _drop("dims"), "'dims' is missing"),
    ("model.json", _drop("embedding_dim"), "'embedding_dim' is missing"),
    ("model.json", _set("dims", [300, 74]), "'dims' is a list of 2, expected an object"),
    ("model.json", _set("dims", {"text": "300"}), "'dims.text' is the string '300'"),
    ("model.json", _set("emotions", "anger"), "'emotions' is the string 'anger'"),
    ("model.json", _set("emotions", []), "'emotions' is an empty list"),
    ("model.json", _set("embedding_dim", 1.5), "'embedding_dim' is the number 1.5"),
    ("model.json", _set("task", "joy"), "'task' is 'joy', expected one of emotion, sentiment"),
    ("model.json", _set("thresholds", [0.5]), "'thresholds' has 1 values for 6 trained"),
    ("model.json", _set("logit_offsets", "x"), "'logit_offsets' is the string 'x'"),
    ("model.json", _set("trained_emotions", 3), "'trained_emotions' is the number 3"),
]


def _document(run: Path, name: str, change) -> bytes | object:
    return change if isinstance(change, bytes) else _edit(run, name, change)


@pytest.mark.parametrize(("name", "change", "message"), RUN_DOCUMENTS, ids=lambda v: str(v)[:30])
def test_a_damaged_run_document_is_one_line_naming_the_file_and_the_key(
    name, change, message, run, data, tmp_path, capsys
):
    bad = damaged(run, tmp_path, name, _document(run, name, change))
    out = tmp_path / "p.csv"
    for argv in (
        ["evaluate", str(bad), "--json"],
        ["predict", str(bad), "--input", str(data), "--out", str(out)],
    ):
        err = one_line_error(capsys, argv)
        assert f"{bad / name}" in err and message in err, err
    assert not out.exists()


def test_a_damaged_fsl_from_run_is_refused_by_train(run, data, tmp_path, capsys):
    bad = damaged(run, tmp_path, "model.json", _edit(run, "model.json", _set("dims", [1])))
    out = tmp_path / "fsl"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY, "--fsl", "anger"]
    err = one_line_error(capsys, [*argv, "--fsl-mode", "continual", "--fsl-from", str(bad)])
    assert f"{bad / 'model.json'}: 'dims' is a list of 1" in err
    assert not out.exists()


def test_serve_refuses_a_damaged_run_before_listening(run, tmp_path, capsys):
    bad = damaged(run, tmp_path, "config.json", b"\xff")
    err = one_line_error(capsys, ["serve", str(bad), "--port", "0"])
    assert f"{bad / 'config.json'}: not UTF-8 text" in err


def test_the_recogniser_reads_a_damaged_metrics_json_as_one_line(run, tmp_path):
    from emotrans.errors import RunDirError
    from emotrans.recognizer import Recognizer

    metrics = _edit(run, "metrics.json", lambda d: d["splits"]["test"]["average"].update(wacc="x"))
    recognizer = Recognizer.load(damaged(run, tmp_path, "metrics.json", metrics))
    with pytest.raises(RunDirError, match=r"metrics.json: 'splits.test.average.wacc' is the str"):
        recognizer.metrics  # noqa: B018


# -- grids ---------------------------------------------------------------------------------


def _grid(folder: Path, run: Path, record: object) -> Path:
    (folder / "runs" / "c").mkdir(parents=True)
    shutil.copytree(run, folder / "runs" / "c" / "s0")
    raw = record if isinstance(record, bytes) else json.dumps(record).encode()
    (folder / "grid.json").write_bytes(raw)
    return folder


GOOD_GRID = {
    "grid": "g",
    "seeds": [0],
    "overrides": {},
    "cells": [{"name": "c", "settings": {}}],
    "runs": [{"run": "runs/c/s0", "cell": "c", "seed": 0, "status": "complete"}],
}

BAD_GRIDS = [
    (b"[]", "an empty list, expected a JSON object"),
    (b"\xff\xfe", "not UTF-8 text"),
    ({**GOOD_GRID, "cells": "c"}, "'cells' is the string 'c', expected a list"),
    ({**GOOD_GRID, "cells": [{}]}, "'cells[0].name' is missing"),
    ({**GOOD_GRID, "cells": [{"name": "c", "settings": [1]}]}, "'cells[0].settings' is a list"),
    ({**GOOD_GRID, "runs": [[1]]}, "'runs[0]' is a list of 1, expected an object"),
    ({**GOOD_GRID, "runs": [{"run": "runs/c/s0", "cell": "c"}]}, "'runs[0].seed' is missing"),
    ({**GOOD_GRID, "runs": [{"run": 5, "cell": "c", "seed": 0}]}, "'runs[0].run' is the number"),
    ({**GOOD_GRID, "runs": [{"run": "../x", "cell": "c", "seed": 0}]}, "a path inside the grid"),
    ({**GOOD_GRID, "seeds": "0"}, "'seeds' is the string '0', expected a list"),
    ({**GOOD_GRID, "overrides": [1]}, "'overrides' is a list of 1, expected an object"),
]


@pytest.mark.parametrize(("record", "message"), BAD_GRIDS, ids=lambda v: str(v)[:30])
def test_report_on_a_damaged_grid_json_is_one_line(record, message, run, tmp_path, capsys):
    folder = _grid(tmp_path / "grid", run, record)
    err = one_line_error(capsys, ["report", str(folder), "--no-plots"])
    assert f"{folder / 'grid.json'}: " in err and message in err, err
    assert not (folder / "results.md").exists()


def test_report_lists_a_run_with_a_damaged_metrics_json_as_unreadable(run, tmp_path, capsys):
    folder = _grid(tmp_path / "grid", run, GOOD_GRID)
    (folder / "runs" / "c" / "s0" / "metrics.json").write_text('{"splits": []}')
    assert main(["report", str(folder), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "metrics.json: 'splits' is an empty list, expected an object" in err
    text = (folder / "results.md").read_text()
    assert "| runs/c/s0 | unreadable |" in text


# -- feature files given to predict ----------------------------------------------------------

N, T = 4, 20


def _features(**changes) -> dict[str, np.ndarray]:
    """Arrays of the tiny run's model (text 300-d, audio 74-d, vision 35-d), with ``changes``
    (None drops a key)."""
    rng = np.random.default_rng(0)
    arrays = {
        m: rng.normal(size=(N, T, d)).astype(np.float32)
        for m, d in (("text", 300), ("audio", 74), ("vision", 35))
    }
    arrays.update(changes)
    return {k: v for k, v in arrays.items() if v is not None}


def _nan_text():
    x = _features()["text"]
    x[1, 3, 7] = np.nan
    return x


BAD_NPZ = [
    ("empty-file", b"", "an empty file, not an .npz archive"),
    ("truncated", "truncated", "not a readable .npz file"),
    ("no-arrays", {}, "an .npz archive without arrays"),
    ("strings", _features(text=np.full((N, T, 300), "a")), "'text' holds <U1 values (text)"),
    ("complex", _features(text=_features()["text"] + 1j), "'text' holds complex values"),
    ("nan", _features(text=_nan_text()), "'text' holds 1 non-finite values"),
    ("inf", _features(audio=np.full((N, T, 74), np.inf)), "'audio' holds 5920 non-finite"),
    ("overflow", _features(audio=np.full((N, T, 74), 1e300)), "beyond float32"),
    ("n-differs", _features(audio=np.zeros((3, T, 74))), "different sample counts (text 4, audio 3"),
    ("lengths>T", _features(lengths=np.full(N, 50)), "'lengths' has values up to 50 but 'text' has T = 20"),
    ("negative-lengths", _features(lengths=np.array([3, -1, 2, 2])), "negative length (-1)"),
    ("fractional-lengths", _features(lengths=np.full(N, 2.5)), "not whole numbers"),
    ("lengths-count", _features(lengths=np.full(N + 2, 5)), "'lengths' has 6 entries for 4 samples"),
    ("ids-count", _features(ids=np.arange(N + 1)), "'ids' has shape (5,), expected one id per sample (4,)"),
    ("ids-2d", _features(ids=np.arange(2 * N).reshape(N, 2)), "'ids' has shape (4, 2)"),
    ("no-samples", {m: v[:0] for m, v in _features().items()}, "no samples (N = 0)"),
    ("no-steps", {m: v[:, :0] for m, v in _features().items()}, "'text' has T = 0 steps"),
    ("2d", _features(text=np.zeros((N, 300))), "'text' has shape (4, 300), expected (N, T, D)"),
    ("missing", _features(vision=None), "no 'vision' array (the model uses text, audio, vision"),
    ("other-dim", _features(audio=np.zeros((N, T, 10))), "'audio' features are 10-d but the model"),
]  # fmt: skip


@pytest.mark.filterwarnings("error")  # a NumPy warning (complex cast, overflow) is a failure
@pytest.mark.parametrize(("name", "content", "message"), BAD_NPZ, ids=[c[0] for c in BAD_NPZ])
def test_a_malformed_feature_file_is_one_line_naming_the_file_and_the_key(
    name, content, message, run, tmp_path, capsys
):
    path = tmp_path / f"{name}.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "truncated":
        np.savez(path, **_features())
        path.write_bytes(path.read_bytes()[:1000])
    else:
        np.savez(path, **content)
    out = tmp_path / "p.csv"
    err = one_line_error(capsys, ["predict", str(run), "--input", str(path), "--out", str(out)])
    assert f"{path}: " in err and message in err, err
    assert not out.exists()


def test_a_well_formed_feature_file_is_scored_with_its_ids(run, tmp_path, capsys):
    path = tmp_path / "ok.npz"
    lengths = np.array([20, 5, 0, 1])
    np.savez(path, **_features(lengths=lengths, ids=np.array(["a", "b", "c", "d"])))
    out = tmp_path / "p.csv"
    assert main(["predict", str(run), "--input", str(path), "--out", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["a", "b", "c", "d"]


def test_in_memory_arrays_keep_replacing_non_finite_values_with_a_warning(run, caplog):
    from emotrans.recognizer import Recognizer

    recognizer = Recognizer.load(run)
    dirty = _features(text=_nan_text())
    zeroed = _features(text=np.nan_to_num(dirty["text"], nan=0.0))
    expected, _, _ = recognizer.predict_proba(zeroed)
    probs, _, _ = recognizer.predict_proba(dirty)
    assert np.isnan(dirty["text"][1, 3, 7])  # the caller's array is not changed
    np.testing.assert_allclose(probs, expected)
    assert "1 non-finite text values replaced by 0" in caplog.text


# -- a failed final write of train -----------------------------------------------------------


def _full_disk(name: str):
    """A writer that fails as on a full disk, naming the file ``name``."""

    def write(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", f"/somewhere/{name}")

    return write


def test_a_full_disk_at_the_report_keeps_a_complete_run_that_evaluates(
    data, tmp_path, capsys, monkeypatch
):
    from emotrans.training.rundir import RunDir

    monkeypatch.setattr(RunDir, "write_report", _full_disk("report.md"))
    out = tmp_path / "run"
    err = one_line_error(capsys, ["train", "--data", str(data), "--out", str(out), *TINY])
    assert "report.md: No space left on device" in err
    assert f"kept, complete but without report.md, in {out}: evaluate and predict work" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.json", "model.safetensors", "metrics.json"} <= names
    assert {"history.csv", "emotion_vectors.npz"} <= names  # the other files are still tried
    assert "report.md" not in names and "checkpoint.pt" not in names
    monkeypatch.undo()
    assert main(["evaluate", str(out), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    stored = json.loads((out / "metrics.json").read_text())["splits"]["test"]["average"]
    assert evaluated["average"] == pytest.approx(stored)


def test_a_full_disk_at_the_weights_keeps_the_staged_run_for_resume(
    data, tmp_path, capsys, monkeypatch
):
    from emotrans.training.rundir import RunDir

    reference = tmp_path / "reference"
    assert main(["train", "--data", str(data), "--out", str(reference), *TINY]) == 0
    monkeypatch.setattr(RunDir, "write_metrics", _full_disk("metrics.json"))
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY]
    err = one_line_error(capsys, argv)
    stage = tmp_path / ".run.partial"
    assert "metrics.json: No space left on device" in err
    assert f"kept in {stage} with its last checkpoint" in err and "--resume" in err
    assert not out.exists() and (stage / "checkpoint.pt").is_file()
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0  # writes it without training again
    assert not stage.exists()
    assert _metrics(out) == _metrics(reference)


def _metrics(run: Path) -> dict:
    """metrics.json of ``run`` without its timing."""
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.pop("seconds")
    return metrics


# -- resuming the continual-learning modes ---------------------------------------------------

KILLED_AFTER_EPOCH_2 = """
import os, signal, sys
from emotrans.cli import main
from emotrans.training.checkpoint import Checkpoint

save = Checkpoint.save


def save_then_die(self, state, row):
    save(self, state, row)
    if state["epoch"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer or `kill -9` would


Checkpoint.save = save_then_die
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def zero_shot(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("z") / "zsl"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY, "--zsl", "anger"]) == 0
    return out


@pytest.mark.parametrize("mode", ["continual", "replay"])
def test_a_continual_run_killed_mid_training_resumes_to_the_same_metrics(
    mode, data, zero_shot, tmp_path
):
    """The episodic memory's batches go on across epochs: their position is checkpointed."""
    import subprocess
    import sys

    flags = [*TINY, "--fsl", "anger", "--fsl-mode", mode, "--fsl-from", str(zero_shot)]
    flags += ["--fsl-epochs", "5", "--fsl-memory", "40", "--early-stop", "50", "--seed", "3"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert main(["train", "--data", str(data), "--out", str(whole), *flags]) == 0
    argv = ["train", "--data", str(data), "--out", str(killed), *flags]
    victim = subprocess.run([sys.executable, "-c", KILLED_AFTER_EPOCH_2, *argv], timeout=300)
    assert victim.returncode == -9
    stage = tmp_path / ".killed.partial"
    assert not killed.exists() and len((stage / "history.csv").read_text().splitlines()) == 3
    assert main([*argv, "--resume"]) == 0
    assert _metrics(killed) == _metrics(whole)
    rows = [r.split(",")[:4] for r in (killed / "history.csv").read_text().splitlines()]
    assert rows == [r.split(",")[:4] for r in (whole / "history.csv").read_text().splitlines()]
    assert len(rows) == 6


def test_an_empty_episodic_memory_is_refused(data, zero_shot, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY, "--fsl", "anger"]
    argv += ["--fsl-mode", "replay", "--fsl-from", str(zero_shot), "--fsl-memory", "0"]
    err = one_line_error(capsys, argv)
    assert "--fsl-memory 0 leaves it empty" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("settings", "state", "message"),
    [
        (b"\xff\xfe", None, "other settings (config.json unreadable)"),
        (b"[1, 2]", None, "other settings (config.json unreadable)"),
        (None, {"epoch": 1}, "an incomplete checkpoint (no model, optimizer"),
        (None, [1, 2], "not an emotrans checkpoint"),
    ],
    ids=["settings-not-utf8", "settings-a-list", "state-incomplete", "state-a-list"],
)
def test_resuming_a_damaged_staged_run_is_one_line(
    settings, state, message, data, tmp_path, capsys
):
    import torch

    from emotrans.config import RunConfig
    from emotrans.models.registry import resolve_config
    from emotrans.training.checkpoint import Checkpoint
    from emotrans.training.pipeline import absolute_paths

    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(out), *TINY]
    stage = tmp_path / ".run.partial"
    stage.mkdir()
    config = RunConfig.from_dict(
        {"data": str(data), "epochs": 1, "batch_size": 16, "hidden_audio": 8, "hidden_vision": 4,
         "layers": 1, "embeddings": TINY_FLAGS[-1]}
    )  # fmt: skip
    Checkpoint(stage, absolute_paths(resolve_config(config)))  # the settings of argv
    if settings is not None:
        (stage / "config.json").write_bytes(settings)
    torch.save(state if state is not None else {"epoch": 1}, stage / "checkpoint.pt")
    err = one_line_error(capsys, [*argv, "--resume"])
    assert message in err, err
    assert stage.is_dir() and not out.exists()

"""The Python API of the README ("From Python"): load, train, save, load again, predict."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import emotrans
from emotrans.cli import main
from emotrans.config import RunConfig
from emotrans.data.synthetic import write_synthetic
from emotrans.errors import ConfigError
from emotrans.training.pipeline import train_run

README = Path(__file__).resolve().parents[1] / "README.md"
EMB = "random:0:16"
TINY = dict(epochs=2, batch_size=16, hidden_audio=8, hidden_vision=4, layers=1, embeddings=EMB)


def readme_example() -> str:
    """The code block of the README's "From Python" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: no python block under 'From Python'"
    return match.group(1)


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mosei")
    write_synthetic(out, dataset="mosei", format="mosei-h5", scale=0.01, seed=0, embeddings=EMB)
    return out


@pytest.fixture(scope="module")
def example(mosei_dir, tmp_path_factory):
    """Run the README example on small generated data; returns its namespace and the
    in-memory recogniser that ``emotrans.train`` returned."""
    code = readme_example()
    assert 'emotrans.load("data/mosei-synth")' in code and 'rec.save("runs/first")' in code
    runs = tmp_path_factory.mktemp("runs")
    code = code.replace("data/mosei-synth", str(mosei_dir)).replace(
        "runs/first", str(runs / "first")
    )
    trained = []
    real_train = emotrans.train

    def small_train(data, **settings):  # the example's settings, with a tiny model
        rec = real_train(data, **{**settings, **TINY})
        trained.append(rec)
        return rec

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(emotrans, "train", small_train)
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
    assert len(trained) == 1
    return namespace, trained[0], runs / "first"


def test_readme_example_writes_a_complete_run_directory(example):
    _, _, run_dir = example
    names = {p.name for p in run_dir.iterdir()}
    assert names == {
        "config.json",
        "model.json",
        "model.safetensors",
        "metrics.json",
        "history.csv",
        "report.md",
        "emotion_vectors.npz",  # the trained names' vectors: reloading needs no embedding
    }


def test_readme_example_predicts_a_table_of_the_asked_emotions(example):
    namespace, _, _ = example
    table = namespace["table"]
    assert list(table.columns) == ["id", "anger", "boredom", "pride", "predicted", "ranking"]
    assert len(table) == len(namespace["data"]["test"].ids)


def test_reloaded_recognizer_predicts_what_the_trained_one_did(example):
    namespace, in_memory, _ = example
    reloaded, data = namespace["rec"], namespace["data"]
    assert reloaded is not in_memory
    for emotions in (None, ["anger", "boredom", "pride"]):
        before, names_a, ids_a = in_memory.predict_proba(data, emotions=emotions)
        after, names_b, ids_b = reloaded.predict_proba(data, emotions=emotions)
        assert names_a == names_b and list(ids_a) == list(ids_b)
        np.testing.assert_array_equal(before, after)


def test_reloaded_recognizer_keeps_config_metrics_and_history(example):
    _, in_memory, run_dir = example
    reloaded = emotrans.Recognizer.load(run_dir)
    assert reloaded.config == in_memory.config
    assert reloaded.history == in_memory.history
    assert [row["epoch"] for row in reloaded.history] == [1, 2]
    a = in_memory.metrics["splits"]["test"]["average"]
    b = reloaded.metrics["splits"]["test"]["average"]
    assert set(a) == set(b)
    for key, value in a.items():
        assert (math.isnan(value) and math.isnan(b[key])) or b[key] == value


def test_saved_recognizer_works_with_the_command_line(example, tmp_path, capsys):
    namespace, _, run_dir = example
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    stored = json.loads((run_dir / "metrics.json").read_text())["splits"]["test"]
    assert evaluated["average"]["wacc"] == pytest.approx(stored["average"]["wacc"], abs=1e-9)
    out = tmp_path / "predictions.csv"
    data_dir = namespace["data"].source
    assert main(["predict", str(run_dir), "--input", data_dir, "--out", str(out)]) == 0
    assert out.read_text().startswith("id,anger,disgust,fear,happy,sad,surprise,predicted")


def test_train_in_memory_equals_train_run(mosei_dir, tmp_path):
    rec = emotrans.train(emotrans.load(str(mosei_dir)), **TINY)
    result = train_run(RunConfig(data=str(mosei_dir), **TINY), tmp_path / "run")
    assert _same(rec.metrics["splits"], result.metrics["splits"])
    assert rec.config == RunConfig.from_file(tmp_path / "run" / "config.json")
    assert rec.run_dir is None and not list(Path.cwd().glob(".*.partial"))


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def test_train_rejects_an_unknown_setting(mosei_dir):
    with pytest.raises(ConfigError, match="unknown setting 'epoch'"):
        emotrans.train(str(mosei_dir), epoch=3)


def test_save_refuses_to_replace_a_finished_run(example):
    _, in_memory, run_dir = example
    with pytest.raises(emotrans.RunDirError, match="already holds a finished run"):
        in_memory.save(run_dir)


def test_public_names():
    for name in ("load", "train", "Recognizer", "RunConfig", "Dataset", "EmotransError"):
        assert hasattr(emotrans, name), name
    assert emotrans.metrics.weighted_accuracy is not None
    assert emotrans.models.__name__ == "emotrans.models"
    assert emotrans.models.model_names() == ["transferable", "ef-lstm", "lf-lstm", "mult"]
    assert issubclass(emotrans.models.TransferableModel, emotrans.models.EmotionModel)
    assert "train" in dir(emotrans)


def test_import_emotrans_does_not_import_torch():
    code = (
        "import sys, emotrans, emotrans.training, emotrans.experiments, emotrans.models; "
        "emotrans.load; emotrans.metrics; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'sentence_transformers', 'matplotlib')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("model", ["transferable", "ef-lstm"])
def test_save_after_predicting_other_emotions_keeps_the_trained_model(mosei_dir, tmp_path, model):
    data = emotrans.load(str(mosei_dir))
    rec = emotrans.train(data, model=model, ef_hidden=8, **{**TINY, "epochs": 1})
    before, _, _ = rec.predict_proba(data)
    rec.predict_proba(data, emotions=["anger", "pride"])  # a baseline warns: pride is new
    rec.save(tmp_path / "run")
    after, names, _ = emotrans.Recognizer.load(tmp_path / "run").predict_proba(data)
    assert names == rec.trained_emotions
    np.testing.assert_array_equal(before, after)

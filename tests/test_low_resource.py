"""Zero-shot, few-shot and open-vocabulary prediction through the pipeline (issue 5)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from emotrans.config import RunConfig
from emotrans.errors import ConfigError, EmbeddingError
from emotrans.recognizer import Recognizer
from emotrans.training.pipeline import load_data, train_run
from helpers import EMB, TINY, write_mosei


@pytest.fixture(scope="module")
def mosei_dir(tmp_path_factory):
    return write_mosei(tmp_path_factory.mktemp("mosei"), scale=0.012)


@pytest.fixture(scope="module")
def zsl_run(mosei_dir, tmp_path_factory):
    config = RunConfig(data=str(mosei_dir), zsl=["fear"], **TINY)
    return train_run(config, tmp_path_factory.mktemp("zsl") / "run")


def test_zero_shot_trains_without_any_target_positive(zsl_run, mosei_dir):
    m = zsl_run.metrics
    assert m["emotions"] == ["anger", "disgust", "happy", "sad", "surprise"]
    full = load_data(RunConfig(data=str(mosei_dir)))
    fear = full.emotions.index("fear")
    for split in ("valid", "test"):
        expected = int((full[split].labels[:, fear] == 0).sum())
        assert m["splits"][split]["n"] == expected  # every fear-positive sample removed


def test_zero_shot_scores_the_unseen_emotion_on_the_full_test_split(zsl_run, mosei_dir):
    z = zsl_run.metrics["zsl"]
    full = load_data(RunConfig(data=str(mosei_dir)))
    assert z["unseen"] == ["fear"]
    assert set(z["unseen_metrics"]["per_emotion"]) == {"fear"}
    assert z["unseen_metrics"]["n"] == full["test"].n
    assert z["unseen_metrics"]["positives"]["fear"] == int(full["test"].labels[:, 2].sum())
    assert set(z["seen_metrics"]["per_emotion"]) == {"anger", "disgust", "happy", "sad", "surprise"}
    assert 0.0 <= z["unseen_metrics"]["per_emotion"]["fear"]["auc"] <= 1.0
    saved = json.loads((zsl_run.path / "metrics.json").read_text())
    assert saved["zsl"]["unseen"] == ["fear"]
    assert "Zero-shot" in (zsl_run.path / "report.md").read_text()


def test_zero_shot_of_an_emotion_outside_the_data_needs_extra_data(mosei_dir, tmp_path):
    with pytest.raises(ConfigError, match="--zsl-data"):
        train_run(RunConfig(data=str(mosei_dir), zsl=["excited"], **TINY), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_few_shot_joint_keeps_exactly_ceil_one_percent(mosei_dir, tmp_path):
    full = load_data(RunConfig(data=str(mosei_dir)))
    p = int(full["train"].labels[:, 0].sum())
    result = train_run(RunConfig(data=str(mosei_dir), fsl="anger", **TINY), tmp_path / "joint")
    f = result.metrics["fsl"]
    assert f["shots"] == math.ceil(0.01 * p) and len(f["kept_ids"]) == f["shots"]
    assert set(f["after"]) == {"target", "seen_average"}


@pytest.mark.parametrize("mode", ["finetune", "continual", "replay"])
def test_few_shot_from_a_zero_shot_run_reports_before_after_and_forgetting(
    zsl_run, mosei_dir, tmp_path, mode
):
    config = RunConfig(
        data=str(mosei_dir),
        fsl="fear",
        fsl_shots=3,
        fsl_mode=mode,
        fsl_from=str(zsl_run.path),
        fsl_epochs=2,
        fsl_lr=1e-2,
        fsl_memory=16,
        **TINY,
    )
    result = train_run(config, tmp_path / mode)
    f = result.metrics["fsl"]
    assert f["mode"] == mode and f["shots"] == 3 and f["finetune_samples"] == 6
    if mode != "finetune":
        assert f["memory_samples"] == 16
    for stage in ("before", "after"):
        assert set(f[stage]) == {"target", "seen_average"}
    assert f["forgetting"] == pytest.approx(
        f["before"]["seen_average"]["wacc"] - f["after"]["seen_average"]["wacc"]
    )
    # the zero-shot run's own view of the target equals the "before" stage
    zsl_fear = zsl_run.metrics["zsl"]["unseen_metrics"]["per_emotion"]["fear"]
    assert f["before"]["target"]["auc"] == pytest.approx(zsl_fear["auc"], abs=1e-9)
    # fine-tuning changed the weights
    assert f["after"]["target"]["auc"] != pytest.approx(f["before"]["target"]["auc"], abs=1e-12)
    assert result.metrics["emotions"] == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    # the epoch was selected on the balanced score: half the target, half the seen average
    assert f["select"] == "balanced"
    history = list(csv.DictReader((result.path / "history.csv").open()))
    best = history[result.metrics["best_epoch"] - 1]
    assert float(best["valid_selection"]) == max(float(r["valid_selection"]) for r in history)


def test_balanced_selection_weighs_the_target_as_much_as_all_seen_emotions():
    from emotrans.training.trainer import Trainer

    names = ["a", "b", "c"]
    labels = np.array([[1, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 0]] * 5)
    logits = np.where(labels == 1, 2.0, -2.0)  # every emotion right...
    logits[:, 2] *= -1  # ...but c, always wrong
    plain = Trainer(RunConfig(), select_key="wacc")
    weighted = Trainer(RunConfig(), select_key="wacc", select_weights=np.array([0.25, 0.25, 0.5]))
    score, average = plain._score(0.0, logits, labels, names)
    assert score == pytest.approx(2 / 3) and average == pytest.approx(2 / 3)
    score, average = weighted._score(0.0, logits, labels, names)
    assert score == pytest.approx(0.5) and average == pytest.approx(2 / 3)


def test_fine_tuning_needs_a_zero_shot_run(mosei_dir, tmp_path):
    with pytest.raises(ConfigError, match="--fsl-from"):
        train_run(
            RunConfig(data=str(mosei_dir), fsl="fear", fsl_mode="continual", **TINY), tmp_path / "r"
        )


def test_recognizer_predicts_new_emotion_names(zsl_run, mosei_dir):
    rec = Recognizer.load(zsl_run.path)
    data = load_data(RunConfig(data=str(mosei_dir)))
    frame = rec.predict(data, emotions=["anger", "boredom", "pride"])
    assert list(frame.columns) == ["id", "anger", "boredom", "pride", "predicted", "ranking"]
    assert len(frame) == data["test"].n
    probs = frame[["anger", "boredom", "pride"]].to_numpy()
    assert ((probs >= 0) & (probs <= 1)).all()
    expected = [
        ";".join(n for n, p in zip(["anger", "boredom", "pride"], row) if p > 0.5) for row in probs
    ]
    assert frame["predicted"].tolist() == expected
    arr = rec.predict(data, emotions=["pride"], threshold=0.3, as_frame=False)
    assert arr.dtype.names == ("id", "pride", "predicted", "ranking")


def test_recognizer_accepts_plain_arrays(zsl_run):
    rec = Recognizer.load(zsl_run.path)
    rng = np.random.default_rng(0)
    arrays = {
        "text": rng.standard_normal((3, 20, 300)),
        "audio": rng.standard_normal((3, 20, 74)),
        "vision": rng.standard_normal((3, 20, 35)),
        "ids": np.array(["a", "b", "c"]),
    }
    probs, names, ids = rec.predict_proba(arrays, emotions=["joy"])
    assert probs.shape == (3, 1) and names == ["joy"] and list(ids) == ["a", "b", "c"]


def test_unknown_emotion_word_is_a_clear_error_for_dictionary_sources(zsl_run, mosei_dir, tmp_path):
    result = train_run(
        RunConfig(
            data=str(mosei_dir),
            **{**TINY, "epochs": 1, "embeddings": f"dict:{mosei_dir}/emotion_vectors.json"},
        ),
        tmp_path / "d",
    )
    rec = Recognizer.load(result.path)
    with pytest.raises(EmbeddingError, match="xyzzy"):
        rec.predict(load_data(RunConfig(data=str(mosei_dir))), emotions=["anger", "xyzzy"])


@pytest.mark.parametrize("model", ["ef-lstm", "lf-lstm", "mult"])
def test_baselines_get_an_untrained_unit_for_the_unseen_emotion(model, mosei_dir, tmp_path):
    config = RunConfig(
        data=str(mosei_dir),
        model=model,
        zsl=["sad"],
        ef_hidden=8,
        hidden_text=8,
        mult_dim=8,
        mult_heads=2,
        mult_layers=1,
        **{**TINY, "epochs": 1},
    )
    result = train_run(config, tmp_path / model)
    assert result.metrics["model"] == model
    assert set(result.metrics["zsl"]["unseen_metrics"]["per_emotion"]) == {"sad"}
    names = {p.name for p in result.path.iterdir()}
    assert {"config.json", "model.safetensors", "metrics.json", "history.csv", "report.md"} <= names


def test_iemocap_zero_shot_extends_the_test_split_with_iemocap9_samples(tmp_path):
    from emotrans.data import load
    from emotrans.data.synthetic import write_synthetic

    four = write_synthetic(
        tmp_path / "iemocap", dataset="iemocap", format="mult", scale=0.03, seed=0, embeddings=EMB
    )
    nine = write_synthetic(
        tmp_path / "iemocap9",
        dataset="iemocap9",
        format="iemocap9",
        scale=0.05,
        seed=0,
        embeddings=EMB,
    )
    config = RunConfig(data=str(four), zsl=["excited"], zsl_data=str(nine), **TINY)
    result = train_run(config, tmp_path / "run")
    z = result.metrics["zsl"]
    base, extra = load(str(four)), load(str(nine))
    n_extra = int(extra["test"].labels[:, extra.emotions.index("excited")].sum())
    assert result.metrics["emotions"] == ["neutral", "happy", "sad", "angry"]
    assert result.metrics["select_metric"] == "acc"
    assert z["unseen_metrics"]["n"] == base["test"].n + n_extra
    assert z["unseen_metrics"]["positives"]["excited"] == n_extra
    assert "IEMOCAP-9" in z["note"]

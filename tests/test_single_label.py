"""Single-label data (one emotion per sample): the declaration, the two objectives, the argmax
decision without the pos_weight shift, argmax metrics, ranking predictions (issue #18)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotrans.config import RunConfig
from emotrans.data.dataset import Dataset, Split, infer_single_label
from emotrans.errors import ConfigError, DataFormatError
from emotrans.metrics import argmax_metrics, compute_metrics
from helpers import EMB

TRAIN = dict(
    embeddings=EMB,
    epochs=8,
    early_stop=8,
    batch_size=32,
    lr=5e-3,
    pooling="mean",
    layers=1,
    hidden_audio=32,
    hidden_vision=16,
    threads=1,
)
"""Settings that learn generated IEMOCAP's planted signal in a few epochs."""


def _split(labels, n_steps=3, seed=0) -> Split:
    labels = np.asarray(labels, np.uint8)
    n = labels.shape[0]
    x = np.random.default_rng(seed).standard_normal((n, n_steps, 2)).astype(np.float32)
    return Split(
        features={"text": x},
        lengths={"text": np.full(n, n_steps, np.int64)},
        labels=labels,
        ids=np.array([f"s{i}" for i in range(n)]),
    )


def _dataset(single: bool, rows) -> Dataset:
    splits = {s: _split(rows, seed=i) for i, s in enumerate(("train", "valid", "test"))}
    return Dataset("toy", ["a", "b", "c"], splits, single_label=single)


# -- the declaration ---------------------------------------------------------------------------


def test_a_single_label_dataset_with_a_row_of_two_emotions_is_refused_naming_the_sample():
    with pytest.raises(DataFormatError, match="s1 has 2 emotions"):
        _dataset(True, [[1, 0, 0], [1, 1, 0]]).validate()
    _dataset(False, [[1, 0, 0], [1, 1, 0]]).validate()  # fine as multi-label


def test_single_label_is_inferred_from_rows_of_exactly_one_emotion():
    assert infer_single_label(_dataset(False, [[1, 0, 0], [0, 0, 1]]).splits)
    assert not infer_single_label(_dataset(False, [[1, 0, 0], [0, 0, 0]]).splits)
    assert not infer_single_label(_dataset(False, [[1, 0, 0]]).splits, task="sentiment")


def test_a_subset_of_the_classes_is_no_longer_single_label_unless_every_row_keeps_one():
    ds = _dataset(True, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]).validate()
    assert not ds.select_emotions(["a", "b"]).single_label
    assert ds.select_emotions(["c", "b", "a"]).single_label


@pytest.mark.parametrize("single", [True, False])
def test_single_label_round_trips_through_the_native_format(tmp_path, single):
    from emotrans.data.formats.native import load_native, save_native

    ds = _dataset(single, [[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    back = load_native(save_native(ds, tmp_path / "toy.h5"))
    assert back.single_label is single
    assert back.summary()["single_label"] is single


def test_a_native_file_written_before_the_declaration_is_inferred_from_its_labels(tmp_path):
    import h5py

    from emotrans.data.formats.native import MANIFEST_ATTR, load_native, save_native

    path = save_native(_dataset(False, [[1, 0, 0], [0, 1, 0]]), tmp_path / "old.h5")
    with h5py.File(path, "a") as f:
        manifest = json.loads(f.attrs[MANIFEST_ATTR])
        del manifest["single_label"]
        f.attrs[MANIFEST_ATTR] = json.dumps(manifest)
    assert load_native(path).single_label


def test_generated_iemocap_is_single_label_and_generated_mosei_is_not():
    from emotrans.data.synthetic import generate

    assert generate("iemocap", scale=0.02, seed=0, embeddings=EMB)[0].single_label
    assert not generate("mosei", scale=0.005, seed=0, embeddings=EMB)[0].single_label


def test_a_layout_label_column_makes_extracted_data_single_label():
    import inspect

    from emotrans.media import pipeline

    assert "single_label=bool(raw.single_label)" in inspect.getsource(pipeline)


# -- argmax metrics ----------------------------------------------------------------------------


def test_argmax_metrics_equal_scikit_learn():
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    rng = np.random.default_rng(0)
    k, n = 5, 300
    truth = rng.choice(4, size=n, p=[0.6, 0.2, 0.15, 0.05])  # class 4 never true
    scores = rng.standard_normal((n, k)) + 1.5 * np.eye(k)[truth]
    scores[:10, 4] = 9.0  # ... but sometimes predicted
    labels = np.eye(k, dtype=np.uint8)[truth]
    m = argmax_metrics(labels, scores, list("abcde"))
    pred = scores.argmax(1)
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, pred))
    assert m["weighted_f1"] == pytest.approx(f1_score(truth, pred, average="weighted"))
    assert m["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["confusion"] == confusion_matrix(truth, pred, labels=range(k)).tolist()
    assert sum(m["predicted"].values()) == n


def test_argmax_metrics_refuse_rows_without_exactly_one_emotion():
    with pytest.raises(ValueError, match="exactly one"):
        argmax_metrics(np.array([[1, 1], [0, 1]]), np.zeros((2, 2)), ["a", "b"])


def test_multilabel_accuracies_can_be_left_out():
    y = np.eye(3, dtype=np.uint8)[[0, 1, 2, 0]]
    assert "multilabel" in compute_metrics(y, np.full((4, 3), 0.4), "abc")
    assert "multilabel" not in compute_metrics(y, np.full((4, 3), 0.4), "abc", multilabel=False)


# -- training with the two objectives ---------------------------------------------------------


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory):
    from emotrans.data.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("iemocap")
    write_synthetic(out, dataset="iemocap", format="native", scale=0.3, seed=0, embeddings=EMB)
    return next(out.glob("*.h5"))


@pytest.fixture(scope="module")
def runs(iemocap, tmp_path_factory):
    from emotrans.training.pipeline import train_run

    base = tmp_path_factory.mktemp("runs")
    out = {}
    for objective in ("binary", "softmax"):
        config = RunConfig(data=str(iemocap), objective=objective, **TRAIN)
        out[objective] = train_run(config, base / objective).path
    return out


def _majority_weighted_f1(labels: np.ndarray) -> float:
    counts = labels.sum(0)
    p = counts.max() / counts.sum()
    return float(p * 2 * p / (1 + p))  # F1 of the majority class weighted by its support


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["binary", "softmax"])
def test_argmax_weighted_f1_beats_the_majority_class_clearly(runs, objective):
    metrics = json.loads((runs[objective] / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    assert metrics["single_label"] and metrics["objective"] == objective
    assert metrics["decision"].startswith("argmax")
    labels = np.array([[c == r for c in range(4)] for r, row in enumerate(test["argmax"]["confusion"]) for _ in range(sum(row))])  # fmt: skip
    assert test["argmax"]["weighted_f1"] > _majority_weighted_f1(labels) + 0.15
    assert "multilabel" not in test  # meaningless on single-label data
    assert np.array(test["argmax"]["confusion"]).sum() == test["n"]


@pytest.mark.slow
def test_the_shift_correction_never_lowers_the_validation_weighted_f1(runs, iemocap):
    from emotrans.data import load
    from emotrans.recognizer import Recognizer

    rec = Recognizer.load(runs["binary"])
    offsets = np.array(rec.info["logit_offsets"])
    valid = load(iemocap)["valid"]
    logits, names, _ = rec._logits(valid)
    raw = argmax_metrics(valid.labels, logits, names)["weighted_f1"]
    corrected = argmax_metrics(valid.labels, logits - offsets, names)["weighted_f1"]
    assert corrected >= raw
    full = argmax_metrics(valid.labels, logits - np.log(_pos_weights(iemocap)), names)
    assert corrected >= full["weighted_f1"]  # the fraction of the shift is chosen on valid


def _pos_weights(path) -> np.ndarray:
    from emotrans.data import load
    from emotrans.training.trainer import pos_weights

    return pos_weights(load(path)["train"].labels)


@pytest.mark.slow
def test_softmax_probabilities_sum_to_one_over_any_names_including_unseen_ones(runs, iemocap):
    from emotrans.data import load
    from emotrans.recognizer import Recognizer

    rec = Recognizer.load(runs["softmax"])
    test = load(iemocap)["test"]
    for names in (None, ["sad", "calm", "happy"], ["excited", "bored"]):
        probs, got, _ = rec.predict_proba(test, names)
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
        assert got == (names or rec.trained_emotions)


@pytest.mark.slow
def test_predict_ranks_the_requested_names_and_says_which_were_trained(runs, iemocap):
    from emotrans.data import load
    from emotrans.recognizer import Recognizer

    rec = Recognizer.load(runs["binary"])
    names = ["angry", "calm", "sad"]
    frame = rec.predict(load(iemocap), emotions=names)
    assert frame.attrs["trained_emotions"] == ["angry", "sad"]
    assert frame.attrs["untrained_emotions"] == ["calm"]
    first = frame.iloc[0]
    ranking = first["ranking"].split(";")
    assert sorted(ranking) == sorted(names)
    scores = rec.decision_scores(np.log(first[names].to_numpy(float) / (1 - first[names].to_numpy(float)))[None], names)[0]  # fmt: skip
    assert ranking[0] == names[int(np.argmax(scores))]


@pytest.mark.slow
def test_emotrans_predict_writes_the_ranking_and_names_the_untrained_names(
    runs, iemocap, tmp_path, capsys
):
    import pandas as pd

    from emotrans.cli import main

    out = tmp_path / "p.csv"
    code = main(["predict", str(runs["softmax"]), "--input", str(iemocap), "--out", str(out),
                 "--emotions", "happy,calm", "--threads", "1"])  # fmt: skip
    assert code == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "happy", "calm", "predicted", "ranking"]
    np.testing.assert_allclose(frame[["happy", "calm"]].sum(axis=1), 1.0, atol=1e-5)
    assert "not trained on calm" in capsys.readouterr().err


@pytest.mark.slow
def test_the_report_and_evaluate_show_argmax_figures_not_multilabel_accuracies(runs, capsys):
    from emotrans.cli import main

    report = (runs["binary"] / "report.md").read_text()
    assert "weighted F1" in report and "Confusion matrix" in report
    assert "Multi-label accuracy" not in report
    assert main(["evaluate", str(runs["binary"])]) == 0
    shown = capsys.readouterr().out
    assert "macro F1" in shown and "strict" not in shown


@pytest.mark.slow
def test_a_run_reloads_without_the_embedding_source_for_its_own_names(runs, monkeypatch):
    import emotrans.training.inference as inference
    from emotrans.recognizer import Recognizer

    assert (runs["binary"] / "emotion_vectors.npz").is_file()
    calls = []
    real = inference.load_source
    monkeypatch.setattr(inference, "load_source", lambda spec: calls.append(spec) or real(spec))
    rec = Recognizer.load(runs["binary"])
    assert calls == []
    rec.predict_proba({"text": np.zeros((2, 20, 300)), "audio": np.zeros((2, 20, 74)),
                       "vision": np.zeros((2, 20, 35))}, ["calm", "happy"])  # fmt: skip
    rec.predict_proba({"text": np.zeros((1, 20, 300)), "audio": np.zeros((1, 20, 74)),
                       "vision": np.zeros((1, 20, 35))}, ["calm"])  # fmt: skip
    assert calls == [EMB]  # the new name embedded once, the trained one from the cache


def test_the_softmax_objective_is_refused_on_multi_label_data(tmp_path):
    from emotrans.data.synthetic import generate
    from emotrans.training.pipeline import fit_run

    mosei, _ = generate("mosei", scale=0.005, seed=0, embeddings=EMB)
    with pytest.raises(ConfigError, match="single-label"):
        fit_run(RunConfig(objective="softmax", **{**TRAIN, "epochs": 1}), mosei)


def test_zero_shot_in_place_gives_the_same_data_and_frees_the_full_splits():
    from emotrans.data import protocols
    from emotrans.data.synthetic import generate

    ds, _ = generate("iemocap", scale=0.02, seed=0, embeddings=EMB)
    copy, _ = generate("iemocap", scale=0.02, seed=0, embeddings=EMB)
    full_train = ds["train"]
    expected = protocols.zero_shot(copy, ["sad"])
    got = protocols.zero_shot(ds, ["sad"], in_place=True)
    assert ds["train"] is not full_train and ds["train"].n < full_train.n
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(got[split].labels, expected[split].labels)
        np.testing.assert_array_equal(got[split].features["text"], expected[split].features["text"])
    assert got.single_label and got.emotions == expected.emotions

"""Metrics: equal to scikit-learn per emotion, NaN (with a warning) where undefined."""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    roc_auc_score,
)

from emotrans.metrics import (
    average_key,
    compute_metrics,
    tune_thresholds,
    weighted_accuracy,
)

TOL = 1e-12


def _sklearn_per_emotion(y: np.ndarray, probs: np.ndarray, threshold) -> list[dict[str, float]]:
    """The reference: scikit-learn, one emotion at a time (nan where a class is absent)."""
    thr = np.broadcast_to(np.asarray(threshold, dtype=float), (y.shape[1],))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(y.shape[1]):
            t, p = y[:, k], (probs[:, k] > thr[k]).astype(int)
            two_classes = 0 < t.sum() < len(t)
            out.append(
                {
                    "wacc": balanced_accuracy_score(t, p) if two_classes else math.nan,
                    "f1": f1_score(t, p, average="weighted"),
                    "auc": roc_auc_score(t, probs[:, k]) if two_classes else math.nan,
                    "acc": accuracy_score(t, p),
                }
            )
    return out


def _assert_matches_sklearn(y, probs, threshold=0.5):
    names = [f"e{k}" for k in range(y.shape[1])]
    got = compute_metrics(y, probs, names, threshold=threshold)
    want = _sklearn_per_emotion(y, probs, threshold)
    for name, ref in zip(names, want):
        for key, value in ref.items():
            mine = got["per_emotion"][name][key]
            if math.isnan(value):
                assert math.isnan(mine), (name, key)
            else:
                assert mine == pytest.approx(value, abs=TOL), (name, key)
    return got


def _random_case(rng, n=300, k=6, levels=20):
    y = (rng.random((n, k)) < rng.uniform(0.1, 0.6, size=k)).astype(int)
    # probabilities rounded to a few levels so many ties occur, correlated with the labels
    probs = np.clip(0.35 * y + rng.random((n, k)) * 0.65, 0, 1)
    return y, np.round(probs * levels) / levels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_emotion_metrics_equal_sklearn_on_random_inputs_with_ties(seed):
    rng = np.random.default_rng(seed)
    y, probs = _random_case(rng)
    assert len(np.unique(probs[:, 0])) < len(probs) / 5  # ties present
    _assert_matches_sklearn(y, probs)


def test_metrics_equal_sklearn_with_continuous_probabilities():
    rng = np.random.default_rng(3)
    y = (rng.random((1000, 4)) < 0.3).astype(int)
    probs = 1 / (1 + np.exp(-(rng.normal(size=(1000, 4)) + y)))
    _assert_matches_sklearn(y, probs)


def test_per_emotion_thresholds_given_as_an_array_are_applied_column_by_column():
    rng = np.random.default_rng(4)
    y, probs = _random_case(rng, k=3)
    thresholds = np.array([0.2, 0.5, 0.8])
    got = _assert_matches_sklearn(y, probs, thresholds)
    uniform = compute_metrics(y, probs, ["e0", "e1", "e2"], threshold=0.5)
    assert got["per_emotion"]["e1"] == uniform["per_emotion"]["e1"]
    assert got["per_emotion"]["e0"]["acc"] != uniform["per_emotion"]["e0"]["acc"]


def test_the_decision_is_strictly_above_the_threshold():
    y = np.array([[1], [0]])
    probs = np.array([[0.5], [0.2]])
    got = compute_metrics(y, probs, ["joy"], threshold=0.5)
    assert got["per_emotion"]["joy"]["acc"] == 0.5  # 0.5 is not > 0.5


@pytest.mark.parametrize(
    "column",
    [
        pytest.param([0, 0, 0, 0, 0], id="no-positives"),
        pytest.param([1, 1, 1, 1, 1], id="all-positives"),
    ],
)
@pytest.mark.parametrize(
    "probs",
    [
        pytest.param([0.1, 0.9, 0.4, 0.6, 0.6], id="mixed-predictions"),
        pytest.param([0.9, 0.9, 0.8, 0.7, 0.6], id="all-predicted-positive"),
        pytest.param([0.1, 0.2, 0.3, 0.4, 0.0], id="all-predicted-negative"),
    ],
)
def test_single_class_emotion_has_nan_wacc_and_auc_but_sklearn_f1_and_acc(column, probs):
    y = np.array([column, [1, 0, 1, 0, 0]]).T  # second emotion well defined
    p = np.array([probs, [0.8, 0.3, 0.6, 0.1, 0.7]]).T
    got = _assert_matches_sklearn(y, p)
    first = got["per_emotion"]["e0"]
    assert math.isnan(first["wacc"]) and math.isnan(first["auc"])
    assert not math.isnan(first["f1"]) and not math.isnan(first["acc"])


def test_all_predictions_one_class_on_a_two_class_emotion_match_sklearn():
    y = np.array([[1, 0], [0, 1], [0, 0], [1, 1]])
    _assert_matches_sklearn(y, np.full((4, 2), 0.9))
    _assert_matches_sklearn(y, np.full((4, 2), 0.1))


def test_a_single_sample_gives_defined_acc_and_f1_and_nan_wacc_auc():
    got = _assert_matches_sklearn(np.array([[1, 0]]), np.array([[0.7, 0.7]]))
    assert got["n"] == 1
    assert got["per_emotion"]["e0"]["acc"] == 1.0
    assert got["per_emotion"]["e1"]["acc"] == 0.0


def test_undefined_emotions_are_named_in_one_warning_and_left_out_of_averages(caplog):
    y = np.array([[0, 1, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1]])
    probs = np.array([[0.2, 0.9, 0.6], [0.1, 0.2, 0.7], [0.3, 0.8, 0.8], [0.6, 0.3, 0.9]])
    with caplog.at_level(logging.WARNING, logger="emotrans.metrics"):
        got = compute_metrics(y, probs, ["calm", "joy", "anger"])
    records = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(records) == 1
    assert "calm" in records[0].getMessage() and "anger" in records[0].getMessage()
    assert "joy" not in records[0].getMessage()
    assert got["average"]["wacc"] == got["per_emotion"]["joy"]["wacc"] == 1.0
    assert got["average"]["auc"] == 1.0
    per = got["per_emotion"]
    assert got["average"]["acc"] == pytest.approx(np.mean([per[e]["acc"] for e in per]))


def test_averages_are_nan_when_every_emotion_is_undefined():
    got = compute_metrics(np.zeros((3, 2)), np.full((3, 2), 0.3), ["a", "b"])
    assert math.isnan(got["average"]["wacc"]) and math.isnan(got["average"]["auc"])
    assert got["average"]["acc"] == 1.0


def test_defined_emotions_log_no_warning(caplog):
    y = np.array([[0, 1], [1, 0]])
    with caplog.at_level(logging.WARNING):
        compute_metrics(y, np.array([[0.2, 0.7], [0.6, 0.1]]), ["a", "b"])
    assert not caplog.records


def test_result_has_exactly_the_documented_shape_with_python_numbers():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    got = compute_metrics(y, np.array([[0.6, 0.2], [0.3, 0.9], [0.7, 0.4]]), ["joy", "sad"])
    assert set(got) == {"per_emotion", "average", "multilabel", "n", "positives"}
    assert list(got["per_emotion"]) == ["joy", "sad"]
    for values in [*got["per_emotion"].values(), got["average"]]:
        assert set(values) == {"wacc", "f1", "auc", "acc"}
        assert all(type(v) is float for v in values.values())
    assert set(got["multilabel"]) == {"strict", "subset", "intersect"}
    assert all(type(v) is float for v in got["multilabel"].values())
    assert got["n"] == 3 and type(got["n"]) is int
    assert got["positives"] == {"joy": 2, "sad": 2}
    assert all(type(v) is int for v in got["positives"].values())


def test_multilabel_accuracies_on_a_hand_made_example():
    # columns: happy, sad, angry; threshold 0.5
    y = np.array(
        [
            [1, 0, 0],  # predicted {happy}: strict, subset, intersect
            [1, 1, 0],  # predicted {happy}: subset, intersect, not strict
            [1, 0, 0],  # predicted {happy, sad}: intersect only
            [0, 1, 0],  # predicted {}: nothing
            [0, 0, 0],  # predicted {}: strict only (both empty)
            [0, 0, 1],  # predicted {happy}: nothing
        ]
    )
    probs = np.array(
        [
            [0.9, 0.1, 0.1],
            [0.8, 0.2, 0.3],
            [0.7, 0.6, 0.2],
            [0.1, 0.4, 0.2],
            [0.1, 0.1, 0.1],
            [0.6, 0.1, 0.4],
        ]
    )
    got = compute_metrics(y, probs, ["happy", "sad", "angry"])["multilabel"]
    assert got["strict"] == pytest.approx(2 / 6)
    assert got["subset"] == pytest.approx(2 / 6)
    assert got["intersect"] == pytest.approx(3 / 6)


def test_boolean_and_float_labels_are_accepted_and_bad_shapes_rejected():
    y = np.array([[1, 0], [0, 1], [1, 1]])
    probs = np.array([[0.6, 0.2], [0.3, 0.9], [0.7, 0.4]])
    ref = compute_metrics(y, probs, ["a", "b"])
    assert compute_metrics(y.astype(bool), probs, ["a", "b"]) == ref
    assert compute_metrics(y.astype(np.float32), probs, ["a", "b"]) == ref
    with pytest.raises(ValueError, match="emotion names"):
        compute_metrics(y, probs, ["a"])
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(y, probs[:2], ["a", "b"])
    with pytest.raises(ValueError, match="0 and 1"):
        compute_metrics(y * 2, probs, ["a", "b"])
    with pytest.raises(ValueError, match="threshold"):
        compute_metrics(y, probs, ["a", "b"], threshold=[0.5, 0.5, 0.5])


def test_weighted_accuracy_is_the_mean_of_tpr_and_tnr():
    assert weighted_accuracy([1, 1, 0, 0, 0], [1, 0, 0, 0, 1]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert weighted_accuracy([1, 1, 0, 0, 0], [1, 0, 0, 0, 1]) == pytest.approx(
        balanced_accuracy_score([1, 1, 0, 0, 0], [1, 0, 0, 0, 1]), abs=TOL
    )
    assert math.isnan(weighted_accuracy([0, 0, 0], [0, 1, 0]))
    assert math.isnan(weighted_accuracy([1, 1], [1, 1]))


def test_tuned_thresholds_raise_validation_wacc_above_the_default():
    rng = np.random.default_rng(5)
    n = 400
    y = (rng.random((n, 3)) < [0.1, 0.3, 0.5]).astype(int)
    # a calibrated-looking but shifted classifier: positives score around 0.35, negatives
    # around 0.15, so 0.5 predicts almost nothing positive
    probs = np.clip(0.15 + 0.2 * y + rng.normal(0, 0.07, size=(n, 3)), 0, 1)
    names = ["a", "b", "c"]
    default = compute_metrics(y, probs, names)["average"]["wacc"]
    thresholds = tune_thresholds(y, probs)
    tuned = compute_metrics(y, probs, names, threshold=thresholds)
    assert thresholds.shape == (3,)
    assert np.all((thresholds > 0.15) & (thresholds < 0.35))
    assert tuned["average"]["wacc"] > default + 0.3
    # no single threshold from a grid does better on any emotion
    for k, name in enumerate(names):
        grid = [weighted_accuracy(y[:, k], probs[:, k] > t) for t in np.unique(probs[:, k])]
        assert tuned["per_emotion"][name]["wacc"] >= max(grid) - TOL


def test_tuned_threshold_separates_a_perfectly_separable_emotion_near_its_gap():
    y = np.array([[0], [0], [1], [1]])
    probs = np.array([[0.1], [0.2], [0.6], [0.8]])
    (t,) = tune_thresholds(y, probs)
    assert 0.2 < t < 0.6
    assert compute_metrics(y, probs, ["x"], threshold=[t])["per_emotion"]["x"]["wacc"] == 1.0


def test_tuned_thresholds_are_realisable_with_ties_and_default_to_half_when_undefined():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0], [1, 0]])
    probs = np.array([[0.7, 0.2], [0.4, 0.9], [0.4, 0.1], [0.2, 0.5], [0.7, 0.3]])
    t = tune_thresholds(y, probs)
    assert t[1] == 0.5  # emotion without positives
    assert tune_thresholds(y, probs, metric="acc")[1] == 0.5
    best = max(weighted_accuracy(y[:, 0], probs[:, 0] > c) for c in [0.1, 0.2, 0.4, 0.7])
    assert weighted_accuracy(y[:, 0], probs[:, 0] > t[0]) == pytest.approx(best)


def test_tune_thresholds_can_maximise_accuracy():
    y = np.array([[0], [0], [0], [1], [0], [1]])
    probs = np.array([[0.1], [0.2], [0.3], [0.35], [0.4], [0.45]])
    (t,) = tune_thresholds(y, probs, metric="acc")
    assert accuracy_score(y[:, 0], probs[:, 0] > t) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="auc"):
        tune_thresholds(y, probs, metric="auc")


@pytest.mark.parametrize(
    ("name", "key"),
    [("mosei", "wacc"), ("iemocap", "acc"), ("iemocap9", "acc"), ("other", "wacc")],
)
def test_average_key_is_wacc_for_mosei_and_acc_for_iemocap(name, key):
    assert average_key(name) == key

"""Evaluation metrics per emotion and averaged over emotions (docs/design.md, "Metrics").

Every emotion is a binary problem: emotion k is predicted present when its probability is
above a threshold. Per emotion we report

* ``wacc``: weighted (balanced) accuracy, (TPR + TNR) / 2;
* ``f1``: F1 weighted by support over the two classes (scikit-learn ``average="weighted"``);
* ``auc``: ROC AUC from the probabilities (rank statistic, ties averaged);
* ``acc``: plain accuracy.

An emotion whose split has no positives (or no negatives) has no defined ``wacc`` or ``auc``:
those are NaN (with one logged warning), never 0, and the averages over emotions skip them.
On multi-label data the strict / subset / intersect accuracies describe whole label sets.
On single-label data (one emotion per sample) they mean nothing; the figures there are those
of the predicted class, the argmax of the decision scores (:func:`argmax_metrics`): accuracy,
weighted F1, macro F1 and the confusion matrix, as MELD and IEMOCAP papers report them.

Everything is computed with NumPy on (N, K) arrays at once: no loop over samples or emotions.
The results equal scikit-learn's ``balanced_accuracy_score``, ``f1_score(average="weighted")``,
``roc_auc_score`` and ``accuracy_score`` computed emotion by emotion.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

METRIC_KEYS = ("wacc", "f1", "auc", "acc")
MULTILABEL_KEYS = ("strict", "subset", "intersect")
ARGMAX_KEYS = ("accuracy", "weighted_f1", "macro_f1")
"""The single-label figures of :func:`argmax_metrics`, in the order tables show them."""
_TUNABLE = ("wacc", "acc", "f1")


def weighted_accuracy(y_true: Any, y_pred: Any) -> float:
    """Balanced accuracy of one binary label: (TPR + TNR) / 2.

    Parameters
    ----------
    y_true, y_pred : array of shape (n_samples,), values in {0, 1}

    Returns
    -------
    float, or nan when y_true has a single class.
    """
    t = np.asarray(y_true).astype(bool).ravel()
    p = np.asarray(y_pred).astype(bool).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    positives = int(t.sum())
    negatives = t.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    tpr = np.count_nonzero(t & p) / positives
    tnr = np.count_nonzero(~t & ~p) / negatives
    return float((tpr + tnr) / 2)


def _check(y_true: Any, probs: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert to (bool (N, K), float64 (N, K))."""
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    if y.ndim != 2 or p.ndim != 2:
        raise ValueError(f"expected (N, K) arrays, got y_true {y.shape} and probs {p.shape}")
    if y.shape != p.shape:
        raise ValueError(f"y_true has shape {y.shape} but probs has shape {p.shape}")
    if k is not None and y.shape[1] != k:
        raise ValueError(f"{y.shape[1]} label columns but {k} emotion names")
    if y.dtype != bool:
        if not ((y == 0) | (y == 1)).all():
            raise ValueError("y_true must hold only 0 and 1")
        y = y == 1
    if np.isnan(p).any():
        raise ValueError("probs contain NaN (did the model diverge?)")
    return y, p


def _ratio(num: np.ndarray, den: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """num / den elementwise, ``fill`` where den == 0 (no warnings)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _scores_from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray
) -> dict[str, np.ndarray]:
    """wacc, f1 (support-weighted) and acc from confusion counts of any (matching) shape.

    ``wacc`` is NaN where a class is absent from the truth. The weighted F1 follows
    scikit-learn: each class's F1 is 2TP / (2TP + FP + FN) over the labels present in the truth
    or the predictions (a class present in neither has support 0, so its value never counts),
    weighted by the class's support in the truth.
    """
    pos = tp + fn
    neg = tn + fp
    n = pos + neg
    wacc = (_ratio(tp, pos) + _ratio(tn, neg)) / 2  # NaN when pos == 0 or neg == 0
    f1_pos = _ratio(2 * tp, 2 * tp + fp + fn, fill=0.0)
    f1_neg = _ratio(2 * tn, 2 * tn + fn + fp, fill=0.0)
    f1 = _ratio(pos * f1_pos + neg * f1_neg, n)
    acc = _ratio(tp + tn, n)
    return {"wacc": wacc, "f1": f1, "acc": acc}


def _average_ranks(sorted_values: np.ndarray) -> np.ndarray:
    """1-based ranks of column-sorted values (N, K), ties given their average rank."""
    n, k = sorted_values.shape
    index = np.arange(n)[:, None]  # (N, 1)
    new_group = np.ones((n, k), dtype=bool)
    new_group[1:] = sorted_values[1:] != sorted_values[:-1]
    last_of_group = np.ones((n, k), dtype=bool)
    last_of_group[:-1] = new_group[1:]
    first = np.maximum.accumulate(np.where(new_group, index, 0), axis=0)  # (N, K)
    last = np.minimum.accumulate(np.where(last_of_group, index, n - 1)[::-1], axis=0)[::-1]
    return (first + last) / 2 + 1


def roc_auc(y_true: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """ROC AUC per column: the Mann-Whitney statistic with averaged tie ranks.

    Parameters
    ----------
    y_true : bool array (N, K)
    probs : float array (N, K)

    Returns
    -------
    float array (K,), NaN for a column with a single class.
    """
    y = np.asarray(y_true, dtype=bool)
    p = np.asarray(probs, dtype=np.float64)
    n = y.shape[0]
    pos = y.sum(0).astype(np.float64)  # (K,)
    neg = n - pos
    if n == 0:
        return np.full(y.shape[1], np.nan)
    order = np.argsort(p, axis=0, kind="stable")  # (N, K)
    ranks = _average_ranks(np.take_along_axis(p, order, axis=0))  # (N, K)
    y_sorted = np.take_along_axis(y, order, axis=0)  # (N, K)
    rank_sum = (ranks * y_sorted).sum(0)  # (K,)
    u = rank_sum - pos * (pos + 1) / 2
    return _ratio(u, pos * neg)


def _thresholds(threshold: Any, k: int) -> np.ndarray:
    t = np.asarray(threshold, dtype=np.float64)
    if t.ndim == 0:
        return np.full(k, float(t))
    if t.shape != (k,):
        raise ValueError(f"threshold has shape {t.shape}, expected a float or ({k},)")
    return t


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def compute_metrics(
    y_true: Any,
    probs: Any,
    emotions: Sequence[str],
    threshold: float | Sequence[float] | np.ndarray = 0.5,
    multilabel: bool = True,
) -> dict[str, Any]:
    """All metrics of one split.

    Parameters
    ----------
    y_true : array (N, K), values in {0, 1}
    probs : array (N, K), probabilities in [0, 1]
    emotions : the K emotion names, in column order
    threshold : a float, or an array (K,) of per-emotion thresholds; emotion k is predicted
        present when ``probs[:, k] > threshold[k]``
    multilabel : include the strict / subset / intersect accuracies over label sets (False
        for single-label data, where :func:`argmax_metrics` describes the predicted class)

    Returns
    -------
    dict with keys
        ``per_emotion``: name -> {"wacc", "f1", "auc", "acc"};
        ``average``: {"wacc", "f1", "auc", "acc"}, the mean over emotions ignoring NaN
        (NaN when every emotion is NaN);
        ``multilabel``: {"strict", "subset", "intersect"} accuracies over samples (only
        with ``multilabel``);
        ``n``: N; ``positives``: name -> number of positive samples.
        All numbers are Python floats / ints.
    """
    emotions = [str(e) for e in emotions]
    y, p = _check(y_true, probs, len(emotions))
    n, k = y.shape
    pred = p > _thresholds(threshold, k)[None, :]  # (N, K)

    tp = np.count_nonzero(y & pred, axis=0)  # (K,)
    fp = np.count_nonzero(~y & pred, axis=0)
    fn = np.count_nonzero(y & ~pred, axis=0)
    tn = n - tp - fp - fn
    scores = _scores_from_counts(tp, fp, fn, tn)
    scores["auc"] = roc_auc(y, p)

    positives = tp + fn
    undefined = [e for e, c in zip(emotions, positives) if c == 0 or c == n]
    if undefined:
        log.warning(
            "no positive or no negative samples for %s among %d: weighted accuracy and AUC "
            "are NaN for them and left out of the averages",
            ", ".join(undefined),
            n,
        )

    if n:
        wrong = pred != y  # (N, K)
        strict = float(np.mean(~wrong.any(1)))
        subset = float(np.mean(pred.any(1) & ~(pred & ~y).any(1)))
        intersect = float(np.mean((pred & y).any(1)))
    else:
        strict = subset = intersect = float("nan")

    out: dict[str, Any] = {
        "per_emotion": {
            e: {key: float(scores[key][i]) for key in METRIC_KEYS} for i, e in enumerate(emotions)
        },
        "average": {key: _nanmean(scores[key]) for key in METRIC_KEYS},
        "multilabel": {"strict": strict, "subset": subset, "intersect": intersect},
        "n": int(n),
        "positives": {e: int(c) for e, c in zip(emotions, positives)},
    }
    if not multilabel:
        del out["multilabel"]
    return out


def confusion_matrix(truth: Any, pred: Any, k: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    Parameters
    ----------
    truth, pred : int arrays (N,), class indices in 0..k-1
    k : number of classes

    Returns
    -------
    int64 array (k, k): rows = true class, columns = predicted class
    """
    t = np.asarray(truth, dtype=np.int64).ravel()
    p = np.asarray(pred, dtype=np.int64).ravel()
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def argmax_metrics(y_true: Any, scores: Any, emotions: Sequence[str]) -> dict[str, Any]:
    """Metrics of the predicted class of single-label data: the argmax of ``scores``.

    Parameters
    ----------
    y_true : array (N, K) in {0, 1}, exactly one 1 per row (the true class)
    scores : array (N, K), decision scores (logits, shifted logits or probabilities; only
        their order within a row matters); ties go to the first emotion
    emotions : the K emotion names, in column order

    Returns
    -------
    dict with keys ``accuracy``; ``weighted_f1`` (per-class F1 weighted by the true classes'
    support, scikit-learn ``f1_score(average="weighted")``); ``macro_f1`` (the plain mean over
    the classes present in the truth or the predictions, scikit-learn ``average="macro"``);
    ``confusion``: K lists of K counts, rows = true class, columns = predicted class, in
    ``emotions`` order; ``predicted``: name -> how often it is predicted; ``emotions``; ``n``.
    Numbers are Python floats / ints; the F1 figures are NaN for N = 0.
    """
    emotions = [str(e) for e in emotions]
    y, s = _check(y_true, scores, len(emotions))
    n, k = y.shape
    if n and not np.all(y.sum(axis=1) == 1):
        raise ValueError("argmax metrics need exactly one true emotion per sample")
    truth = y.argmax(axis=1)  # (N,)
    pred = s.argmax(axis=1)  # (N,)
    cm = confusion_matrix(truth, pred, k)  # (K, K)
    tp = np.diag(cm).astype(np.float64)  # (K,)
    support = cm.sum(axis=1).astype(np.float64)  # true count per class
    predicted = cm.sum(axis=0).astype(np.float64)
    f1 = _ratio(2 * tp, support + predicted, fill=0.0)  # 2TP / (2TP + FP + FN)
    present = (support + predicted) > 0
    if n:
        accuracy = float(tp.sum() / n)
        weighted = float(f1 @ support / n)
        macro = float(f1[present].mean())
    else:
        accuracy = weighted = macro = float("nan")
    return {
        "accuracy": accuracy,
        "weighted_f1": weighted,
        "macro_f1": macro,
        "confusion": cm.tolist(),
        "predicted": {e: int(c) for e, c in zip(emotions, predicted)},
        "emotions": emotions,
        "n": int(n),
    }


def tune_thresholds(y_true: Any, probs: Any, metric: str = "wacc") -> np.ndarray:
    """Per-emotion thresholds that maximise ``metric`` on the given (validation) predictions.

    Every distinct cut of the sorted probabilities is scored at once from cumulative counts.
    The threshold returned for a cut is the midpoint between the two probabilities it
    separates (so ``probs > threshold`` reproduces the cut); among equally good cuts the one
    whose threshold is closest to 0.5 wins.

    Parameters
    ----------
    y_true : array (N, K), values in {0, 1}
    probs : array (N, K), probabilities
    metric : ``"wacc"`` (default), ``"acc"`` or ``"f1"`` (support-weighted)

    Returns
    -------
    float array (K,); 0.5 for an emotion with a single class in ``y_true`` (or N = 0).
    """
    if metric not in _TUNABLE:
        raise ValueError(f"cannot tune thresholds for {metric!r}: choose one of {_TUNABLE}")
    y, p = _check(y_true, probs)
    n, k = y.shape
    out = np.full(k, 0.5)
    if n == 0:
        return out
    order = np.argsort(p, axis=0, kind="stable")
    s = np.take_along_axis(p, order, axis=0)  # (N, K) ascending
    ys = np.take_along_axis(y, order, axis=0)  # (N, K)
    pos = ys.sum(0)  # (K,)
    neg = n - pos

    # cut c in 0..N: the c lowest probabilities are predicted negative, the rest positive
    fn = np.zeros((n + 1, k), dtype=np.int64)
    fn[1:] = np.cumsum(ys, axis=0)  # (N+1, K)
    tn = np.arange(n + 1)[:, None] - fn
    tp = pos[None, :] - fn
    fp = neg[None, :] - tn
    score = _scores_from_counts(tp, fp, fn, tn)[metric]  # (N+1, K)

    # a cut between equal probabilities cannot be realised by a threshold
    valid = np.ones((n + 1, k), dtype=bool)
    valid[1:n] = s[1:] != s[:-1]
    # threshold of cut c: between s[c-1] and s[c]; below everything for c = 0, the maximum
    # for c = N (nothing is above it)
    lower = np.vstack([np.nextafter(s[:1], -np.inf), s])  # (N+1, K): s[c-1]
    upper = np.vstack([s, s[-1:]])  # (N+1, K): s[c]
    mid = lower + (upper - lower) / 2
    thr = np.where((mid < upper) | (np.arange(n + 1)[:, None] == n), mid, lower)
    thr[0] = lower[0]

    score = np.where(valid & ~np.isnan(score), score, -np.inf)
    best = score.max(0)  # (K,)
    ties = score >= best[None, :] - 1e-12
    distance = np.where(ties, np.abs(thr - 0.5), np.inf)
    choice = distance.argmin(0)  # (K,)
    tuned = thr[choice, np.arange(k)]
    defined = (pos > 0) & (neg > 0)
    out[defined] = tuned[defined]
    return out


def average_key(dataset_name: str) -> str:
    """The validation average used to select models on a dataset.

    Weighted accuracy for CMU-MOSEI-like multi-label data, plain accuracy for IEMOCAP
    (``"iemocap"``, ``"iemocap9"``), weighted accuracy otherwise.
    """
    name = (dataset_name or "").lower()
    if name.startswith("iemocap"):
        return "acc"
    return "wacc"


# -- sentiment (docs/design.md, "Metrics"; one continuous score in [-3, 3]) ------------------

SENTIMENT_KEYS = (
    "mae",
    "corr",
    "acc7",
    "acc2_nonneg",
    "f1_nonneg",
    "acc2_nonzero",
    "f1_nonzero",
)
"""The sentiment metrics, in the order tables show them."""

LOWER_IS_BETTER = frozenset({"mae", "loss"})
"""Selection keys for which a smaller value is better."""

SENTIMENT_CONVENTIONS = {
    "nonneg": "negative (< 0) vs non-negative (>= 0), every sample",
    "nonzero": "negative (< 0) vs positive (> 0), samples labelled 0 left out",
}
"""The two binary conventions of the field for Acc-2 and F1 (name -> what it means)."""


def _binary_scores(truth: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(accuracy, support-weighted F1) of boolean arrays (n,); NaN for n = 0."""
    n = truth.size
    if n == 0:
        return float("nan"), float("nan")
    tp = np.count_nonzero(truth & pred)
    fp = np.count_nonzero(~truth & pred)
    fn = np.count_nonzero(truth & ~pred)
    tn = n - tp - fp - fn
    s = _scores_from_counts(*(np.asarray(float(c)) for c in (tp, fp, fn, tn)))
    return float(s["acc"]), float(s["f1"])


def pearson(x: Any, y: Any) -> float:
    """Pearson correlation of two arrays (n,); NaN (with a logged warning) when either is
    constant or n < 2, never an exception."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.size < 2:
        log.warning("Pearson correlation of %d values is undefined: NaN", a.size)
        return float("nan")
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(da @ da) * float(db @ db))
    if den == 0.0:
        log.warning("Pearson correlation with a constant input (all values equal) is NaN")
        return float("nan")
    return float(np.clip(float(da @ db) / den, -1.0, 1.0))


def compute_sentiment_metrics(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """The sentiment metrics of one split, as the field reports them (MulT, MMSA).

    Parameters
    ----------
    y_true : array (N,) or (N, 1), the true scores in [-3, 3]
    y_pred : array of the same shape, the predicted scores (any real numbers)

    Returns
    -------
    dict with keys
        ``sentiment``: {"mae": mean absolute error, "corr": Pearson r (NaN when either side
        is constant), "acc7": accuracy over the 7 classes -3..3 (both sides rounded half to
        even, as ``np.round``, and clipped to [-3, 3]), "acc2_nonneg" / "f1_nonneg":
        negative (< 0) vs non-negative (>= 0) on every sample, "acc2_nonzero" /
        "f1_nonzero": negative vs positive (> 0) on the samples whose true score is not 0};
        F1 is support-weighted over the two classes (scikit-learn ``average="weighted"``);
        ``conventions``: what ``nonneg`` and ``nonzero`` mean (:data:`SENTIMENT_CONVENTIONS`);
        ``n``: N; ``n_nonzero``: samples with a true score other than 0.
        All numbers are Python floats / ints.
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError(f"expected (N,) scores, got y_true {t.shape} and y_pred {p.shape}")
    if np.isnan(p).any():
        raise ValueError("predicted scores contain NaN (did the model diverge?)")
    n = t.size
    nonzero = t != 0
    acc_nn, f1_nn = _binary_scores(t >= 0, p >= 0)
    acc_nz, f1_nz = _binary_scores(t[nonzero] > 0, p[nonzero] > 0)
    if n:
        mae = float(np.abs(t - p).mean())
        acc7 = float(np.mean(np.clip(np.round(t), -3, 3) == np.clip(np.round(p), -3, 3)))
    else:
        mae = acc7 = float("nan")
    values = {
        "mae": mae,
        "corr": pearson(t, p) if n else float("nan"),
        "acc7": acc7,
        "acc2_nonneg": acc_nn,
        "f1_nonneg": f1_nn,
        "acc2_nonzero": acc_nz,
        "f1_nonzero": f1_nz,
    }
    return {
        "sentiment": values,
        "conventions": dict(SENTIMENT_CONVENTIONS),
        "n": int(n),
        "n_nonzero": int(nonzero.sum()),
    }


def select_value(metrics: dict[str, Any], key: str) -> float:
    """The validation figure ``key`` of a split's metrics (emotion: the average over emotions;
    sentiment: the sentiment metric), NaN when absent."""
    if "sentiment" in metrics:
        return float(metrics["sentiment"].get(key, float("nan")))
    return float(metrics["average"].get(key, float("nan")))


def average_key_for(dataset_name: str, task: str = "emotion") -> str:
    """The validation figure that selects models: :func:`average_key` for emotions, the MAE
    (lower is better, the MulT choice) for sentiment."""
    return "mae" if task == "sentiment" else average_key(dataset_name)

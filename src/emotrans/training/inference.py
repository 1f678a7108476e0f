"""Scoring with a model: logits and probabilities, the emotion vectors a model scores, metrics.

The pieces shared by training (validation scores, final metrics), the protocols of
:mod:`emotrans.training.plans`, reloading a run and :class:`emotrans.recognizer.Recognizer`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch

from emotrans.config import RunConfig
from emotrans.data.dataset import Split, split_targets
from emotrans.embeddings import load_source
from emotrans.errors import ConfigError
from emotrans.metrics import argmax_metrics, compute_metrics, compute_sentiment_metrics
from emotrans.models.base import EmotionModel
from emotrans.models.registry import model_class
from emotrans.training.batches import TensorSplit

PREDICT_BATCH_SIZE = 256  # samples per forward pass when scoring (no gradients kept)


def resolve_device(name: str) -> torch.device:
    """The torch device for a ``RunConfig.device`` value: "auto" is CUDA when available, else CPU.

    Parameters
    ----------
    name : "auto", "cpu", "cuda", "cuda:1", ... (anything :class:`torch.device` accepts)
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device = {name!r}: not a torch device (cpu, cuda, cuda:N)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device = {name!r}: this machine has no CUDA device; use cpu")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device = {name!r}: this machine has {count} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device = {name!r}: MPS is not available here; use cpu")
    return device


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, element-wise, of logits clipped to [-60, 60] (no overflow warning).

    Parameters
    ----------
    x : array of any shape, logits

    Returns
    -------
    array of the same shape, probabilities in (0, 1)
    """
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of logits (N, K) -> probabilities (N, K) summing to 1."""
    z = np.asarray(x, dtype=np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def probabilities(logits: np.ndarray, objective: str = "binary") -> np.ndarray:
    """What a model's logits (N, K) mean as probabilities under its training objective:
    independent sigmoids for ``"binary"``, the softmax over the K emotions for ``"softmax"``."""
    return softmax(logits) if objective == "softmax" else sigmoid(logits)


def logit_offsets(pos_weight: np.ndarray | None, objective: str = "binary") -> np.ndarray | None:
    """The shifts the binary objective puts on the logits: log(pos_weight_k) (K,).

    BCE with ``pos_weight_k = negatives / positives`` is minimised by logit_k = log-odds_k +
    log(pos_weight_k), so an argmax over raw logits favours rare emotions; the argmax decision
    subtracts these. Zero (None) for the softmax objective, which has no weights.
    """
    if pos_weight is None or objective == "softmax":
        return None
    return np.log(np.maximum(np.asarray(pos_weight, dtype=np.float64), 1e-12))


def offsets_for(info: dict[str, Any], names: list[str]) -> np.ndarray | None:
    """The logit offsets (K,) of ``names`` from a run's model.json ``info``: the recorded
    ``logit_offsets`` of its trained emotions; a name it was not trained on gets their mean
    (a neutral prior: its own shift is unknown). None when the run records none."""
    recorded = info.get("logit_offsets")
    if not recorded:
        return None
    trained = dict(zip(info.get("trained_emotions") or info["emotions"], recorded))
    mean = float(np.mean(recorded))
    return np.array([trained.get(n, mean) for n in names], dtype=np.float64)


DECISIONS = {
    "binary": "argmax over emotions of logit_k - a log(pos_weight_k): the logit less the shift "
    "that the training loss's pos_weight puts on it, a fraction a in [0, 1] of log(pos_weight_k) "
    "chosen on the validation weighted F1 (a = 0: raw argmax; the offsets a log(pos_weight_k) "
    "are model.json's logit_offsets)",
    "softmax": "argmax over emotions of the logits (softmax objective: no shift)",
}
"""How the predicted class of single-label data is decided, per objective."""


def autocast_context(precision: str, device: torch.device) -> AbstractContextManager:
    """``torch.autocast`` for ``bf16`` (CPU or GPU) or ``amp`` (fp16, GPU); else a no-op."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "amp" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return nullcontext()


@torch.no_grad()
def predict_logits(
    model: EmotionModel,
    data: TensorSplit,
    batch_size: int = PREDICT_BATCH_SIZE,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
) -> np.ndarray:
    """Logits of ``model`` on every sample of ``data``, in sample order.

    The model is put in eval mode for the pass and returned to its previous mode.

    Parameters
    ----------
    model : a model whose emotions (K names) are set
    data : N samples of the model's modalities
    batch_size : samples per forward pass
    device : where the model is (batches are moved there)
    precision : "fp32", "bf16" or "amp" (see :func:`autocast_context`)

    Returns
    -------
    float32 array of shape (N, K)
    """
    device = torch.device(device)
    was_training = model.training
    model.eval()
    out = []
    order = data.length_order()  # similar lengths together: exact encoders crop each batch
    with autocast_context(precision, device):
        for feats, lens, _ in data.batches(batch_size, device=device, order=order):
            out.append(model(feats, lens).float().cpu())  # (B, K)
    model.train(was_training)
    if not out:
        return np.zeros((0, len(model.emotions)), dtype=np.float32)
    return in_order(torch.cat(out), order).numpy()


def in_order(rows: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Rows (N, ...) computed in ``order`` (N,), put back in sample order."""
    restored = torch.empty_like(rows)
    restored[order] = rows
    return restored


def emotion_vectors(
    config: RunConfig,
    names: list[str],
    isolated: bool = True,
    task: str = "emotion",
    cache: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, int]:
    """Embedding rows of ``names`` from ``config.embeddings``, for models that use embeddings.

    The names embedded are those the model needs to score ``names`` in ``task``
    (:meth:`~emotrans.models.base.EmotionModel.embedding_names`; e.g. the transferable model's
    two pole names for sentiment). With ``isolated`` a sentence-model source embeds in a short-lived child process, so the
    model (about 0.3 GB with its libraries) never adds to the memory of a training run.

    ``cache`` (name -> vector (d,), of ``config.embeddings``; a run's ``emotion_vectors.npz``)
    supplies the names it has; only the others are embedded (the source is not even opened
    when every name is cached), and they are added to it.

    Returns
    -------
    (vectors of shape (K, d), d), or (None, 0) when ``config.model`` uses no embeddings
    """
    cls = model_class(config.model)
    if not cls.uses_embeddings:
        return None, 0
    names = cls.embedding_names(cls.settings_from(config.model_settings), names, task)
    if cache is None:
        cache = {}
    missing = list(dict.fromkeys(n for n in names if n not in cache))
    if missing:
        source = load_source(config.embeddings)
        new = source.embed_isolated(missing) if isolated else source.embed(missing)
        cache.update(zip(missing, np.asarray(new, dtype=np.float32)))
    vectors = np.stack([cache[n] for n in names]).astype(np.float32)  # (K, d)
    return vectors, int(vectors.shape[1])


def current_emotion_vectors(model: EmotionModel) -> np.ndarray | None:
    """A copy of the (K, d) vectors an embedding model scores now; None for other models."""
    vectors = getattr(model, "emotion_vectors", None)
    return None if vectors is None else vectors.detach().cpu().numpy().copy()


def split_metrics(
    model: EmotionModel,
    split: Split,
    emotions: list[str],
    config: RunConfig,
    thresholds: list[float] | np.ndarray | None = None,
    single_label: bool = False,
    offsets: list[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Metrics (docs/design.md, "Metrics") of ``model`` on ``split``: the emotion metrics, or
    the sentiment metrics when ``model.task`` is ``"sentiment"`` (its one output is the score,
    compared with the split's scores).

    Parameters
    ----------
    model : scores ``emotions`` (its emotion list is used as is)
    split : labels of shape (N, K) in ``emotions`` order (sentiment: scores as intensities)
    config : device, precision and the default decision threshold
    thresholds : per-emotion decision thresholds (K,); default ``config.threshold``
    single_label : the split is single-label: add ``argmax`` (the predicted class's metrics,
        :func:`~emotrans.metrics.argmax_metrics`, decided on ``logits - offsets``; with
        offsets also ``argmax_raw``, the same figures on the raw logits) and leave out the
        multi-label accuracies
    offsets : (K,) logit shifts the decision removes (:func:`logit_offsets`), or None
    """
    data = TensorSplit.from_split(split, model.modalities, model.task)
    logits = predict_logits(
        model, data, PREDICT_BATCH_SIZE, resolve_device(config.device), config.precision
    )
    if model.task == "sentiment":
        return compute_sentiment_metrics(split_targets(split, model.task), logits)
    threshold = config.threshold if thresholds is None else np.asarray(thresholds)
    probs = probabilities(logits, config.objective)
    out = compute_metrics(
        split.labels, probs, emotions, threshold=threshold, multilabel=not single_label
    )
    if single_label:
        shift = np.zeros(len(emotions)) if offsets is None else np.asarray(offsets, np.float64)
        out["argmax"] = argmax_metrics(split.labels, logits - shift[None, :], emotions)
        out["argmax"]["decision"] = DECISIONS[config.objective]
        if offsets is not None and np.any(shift != 0):
            raw = argmax_metrics(split.labels, logits, emotions)
            out["argmax_raw"] = {k: raw[k] for k in ("accuracy", "weighted_f1", "macro_f1")}
    return out

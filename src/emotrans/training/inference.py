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
from emotrans.metrics import compute_metrics, compute_sentiment_metrics
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
    with autocast_context(precision, device):
        for feats, lens, _ in data.batches(batch_size, device=device):
            out.append(model(feats, lens).float().cpu())  # (B, K)
    model.train(was_training)
    if not out:
        return np.zeros((0, len(model.emotions)), dtype=np.float32)
    return torch.cat(out).numpy()


def emotion_vectors(
    config: RunConfig, names: list[str], isolated: bool = True, task: str = "emotion"
) -> tuple[np.ndarray | None, int]:
    """Embedding rows of ``names`` from ``config.embeddings``, for models that use embeddings.

    The names embedded are those the model needs to score ``names`` in ``task``
    (:meth:`~emotrans.models.base.EmotionModel.embedding_names`; e.g. the transferable model's
    two pole names for sentiment). With ``isolated`` a sentence-model source embeds in a short-lived child process, so the
    model (about 0.3 GB with its libraries) never adds to the memory of a training run.

    Returns
    -------
    (vectors of shape (K, d), d), or (None, 0) when ``config.model`` uses no embeddings
    """
    cls = model_class(config.model)
    if not cls.uses_embeddings:
        return None, 0
    names = cls.embedding_names(cls.settings_from(config.model_settings), names, task)
    source = load_source(config.embeddings)
    vectors = source.embed_isolated(names) if isolated else source.embed(names)
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
    """
    data = TensorSplit.from_split(split, model.modalities, model.task)
    logits = predict_logits(
        model, data, PREDICT_BATCH_SIZE, resolve_device(config.device), config.precision
    )
    if model.task == "sentiment":
        return compute_sentiment_metrics(split_targets(split, model.task), logits)
    threshold = config.threshold if thresholds is None else np.asarray(thresholds)
    return compute_metrics(split.labels, sigmoid(logits), emotions, threshold=threshold)

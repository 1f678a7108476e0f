"""Training loop with the reference settings of Dai et al. (docs/design.md, "Training").

Adam, BCE-with-logits with per-emotion ``pos_weight = negatives / positives`` from the training
labels, gradient-norm clipping, ReduceLROnPlateau on the validation loss, early stopping on a
validation average (weighted accuracy for CMU-MOSEI, accuracy for IEMOCAP), and the best
epoch's weights restored at the end. Model selection only ever looks at the validation split.

With ``RunConfig.objective = "softmax"`` (single-label data only) the emotion loss is instead
the cross-entropy of the softmax over the K emotion logits against the one true emotion, and
the validation metrics use the softmax probabilities.

The sentiment task (one score per sample) is a regression: L1 loss (mean absolute error, the
MulT choice) or MSE (``RunConfig.sentiment_loss``) on the model's one output, and selection on
the validation MAE by default (lower is better).

Two extra step modes serve the continual few-shot protocol: ``"agem"`` projects the gradient of
a training batch when it conflicts with the gradient on a batch of an episodic memory (A-GEM,
Chaudhry et al. 2019), and ``"replay"`` alternates steps on training and memory batches.
"""

from __future__ import annotations

import copy
import logging
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from emotrans.config import RunConfig
from emotrans.data.dataset import Split
from emotrans.metrics import LOWER_IS_BETTER, compute_metrics, compute_sentiment_metrics
from emotrans.models.base import EmotionModel
from emotrans.training.batches import TensorSplit
from emotrans.training.inference import (
    PREDICT_BATCH_SIZE,
    autocast_context,
    in_order,
    probabilities,
    resolve_device,
)
from emotrans.training.progress import estimate

log = logging.getLogger(__name__)

STEP_MODES = ("standard", "agem", "replay")


class EpochObserver(Protocol):
    """Called after each epoch with its number (1-based) and its figures, named by group:
    ``loss/train``, ``loss/valid``, ``lr``, ``time/epoch_seconds``, ``valid/<metric>`` for
    each validation average (and ``valid/selection`` when the emotions are weighed)."""

    def __call__(self, epoch: int, scalars: dict[str, float]) -> None: ...


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics mapping, as floats."""
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float | np.number) and not isinstance(v, bool)
    }


def _epoch_scalars(row: dict[str, Any], averages: dict[str, float]) -> dict[str, float]:
    out = {
        "loss/train": float(row["train_loss"]),
        "loss/valid": float(row["valid_loss"]),
        "lr": float(row["lr"]),
        "time/epoch_seconds": float(row["seconds"]),
    }
    out.update({f"valid/{k}": v for k, v in averages.items()})
    if "valid_selection" in row:
        out["valid/selection"] = float(row["valid_selection"])
    return out


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for shuffling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


class EpochCheckpoint(Protocol):
    """Where :meth:`Trainer.fit` keeps its state after each epoch (see
    :class:`emotrans.training.checkpoint.Checkpoint`)."""

    def load(self) -> dict[str, Any] | None: ...

    def save(self, state: dict[str, Any], row: dict[str, Any]) -> None: ...


def _rng_states(generator: torch.Generator) -> dict[str, Any]:
    """Every random state a training epoch draws from: torch (dropout), the data order
    generator, NumPy and Python; tensors and plain values only (a weights-only checkpoint)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any], generator: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    generator.set_state(states["generator"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def pos_weights(labels: np.ndarray) -> np.ndarray:
    """``negatives / positives`` per column of ``labels`` (N, K); 1 where a column has no positive."""
    labels = np.asarray(labels, dtype=np.float64)
    pos = labels.sum(axis=0)
    neg = labels.shape[0] - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    return weight.astype(np.float32)


def _as_tensors(data: TensorSplit | Split, model: EmotionModel, task: str) -> TensorSplit:
    if isinstance(data, TensorSplit):
        return data
    return TensorSplit.from_split(data, model.modalities, task)


class MemoryBatches:
    """Endless shuffled batches of the episodic memory of the ``agem`` and ``replay`` modes:
    one seeded pass after another, a pass going on across epochs.

    Its position (the pass's order and the batches taken from it) is part of the checkpoint
    (:meth:`state`, :meth:`load_state`), so a resumed run draws the same memory batches as
    an uninterrupted one.
    """

    def __init__(
        self,
        data: TensorSplit,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
        by_length: bool,
    ) -> None:
        if data.n == 0:
            raise ValueError("the episodic memory is empty")
        self.data, self.batch_size, self.generator = data, batch_size, generator
        self.device, self.by_length = device, by_length
        self.order: torch.Tensor | None = None  # (M,) the current pass's sample order
        self.taken = 0  # batches of it used
        self._batches: Iterator | None = None

    def next(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
        """The next (features, lengths, labels) batch; a new pass when one is used up."""
        if self.order is None or self.taken >= self.data.num_batches(self.batch_size):
            self.order = self.data.shuffled_order(self.batch_size, self.generator, self.by_length)
            self.taken, self._batches = 0, None
        if self._batches is None:
            rest = self.order[self.taken * self.batch_size :]
            self._batches = self.data.batches(self.batch_size, device=self.device, order=rest)
        self.taken += 1
        return next(self._batches)

    def state(self) -> dict[str, Any]:
        """The position, as tensors and plain values (a weights-only checkpoint)."""
        return {"order": self.order, "taken": self.taken}

    def load_state(self, state: dict[str, Any] | None) -> None:
        """Continue from :meth:`state` (None: a checkpoint without one, start a new pass)."""
        state = state or {}
        self.order, self.taken, self._batches = state.get("order"), int(state.get("taken", 0)), None


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns."""

    best_epoch: int
    best_score: float
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False


class Trainer:
    """Fits an :class:`EmotionModel` on a training split, selecting on a validation split.

    Parameters
    ----------
    config : run settings (optimiser, schedule, early stopping, device, precision)
    select_key : validation figure that selects the best epoch: "wacc", "acc", "f1", "auc",
        or "loss" (lower is better); for sentiment "mae" (lower is better), "corr", "acc7",
        "acc2_nonneg", "f1_nonneg", "acc2_nonzero" or "f1_nonzero" (or "loss")
    lr, epochs : override ``config.lr`` / ``config.epochs`` (fine-tuning uses this)
    progress : one line per epoch on stderr (losses, validation figure, lr, seconds, and the
        time left for the run, see :mod:`emotrans.training.progress`), and a bar per epoch
        when stderr is a terminal (never carriage returns in a log file or a pipe)
    select_weights : optional (K,) weights of the emotions in the selection score (default:
        the plain average); the history then also records it as ``valid_selection``
    task : "emotion" (binary cross-entropy per emotion) or "sentiment" (regression of the
        one output on the score)
    """

    def __init__(
        self,
        config: RunConfig,
        select_key: str = "wacc",
        lr: float | None = None,
        epochs: int | None = None,
        progress: bool = False,
        select_weights: np.ndarray | None = None,
        task: str = "emotion",
    ) -> None:
        self.config = config
        self.task = task
        self.select_key = select_key
        self.select_weights = None if select_weights is None else np.asarray(select_weights, float)
        self.lr = config.lr if lr is None else lr
        self.epochs = config.epochs if epochs is None else epochs
        self.progress = progress
        self.device = resolve_device(config.device)
        # fp16 autocast (amp) needs loss scaling so small gradients do not flush to zero
        use_scaler = config.precision == "amp" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None
        self.checkpoint: EpochCheckpoint | None = None  # set to save and resume each epoch
        self.on_epoch: list[EpochObserver] = []  # e.g. a TensorBoard writer
        self.valid_averages: dict[str, float] = {}

    def _loss_fn(self, pos_weight: np.ndarray) -> nn.Module:
        if self.task == "sentiment":
            return nn.MSELoss() if self.config.sentiment_loss == "mse" else nn.L1Loss()
        if self.config.objective == "softmax":  # one-hot float targets: class probabilities
            return nn.CrossEntropyLoss()
        return nn.BCEWithLogitsLoss(pos_weight=torch.as_tensor(pos_weight, device=self.device))

    def evaluate(
        self, model: EmotionModel, data: TensorSplit, loss_fn: nn.Module
    ) -> tuple[float, np.ndarray]:
        """Mean loss over ``data`` and the logits (N, K), in one pass in eval mode."""
        total, count, out = 0.0, 0, []
        order = data.length_order()  # similar lengths together: exact encoders crop each batch
        model.eval()
        with torch.no_grad(), autocast_context(self.config.precision, self.device):
            for feats, lens, labels in data.batches(
                PREDICT_BATCH_SIZE, device=self.device, order=order
            ):
                logits = model(feats, lens).float()
                total += float(loss_fn(logits, labels)) * labels.shape[0]
                count += labels.shape[0]
                out.append(logits.cpu())
        model.train()
        if not out:
            return total, np.zeros((0, len(model.emotions)), np.float32)
        logits = in_order(torch.cat(out), order).numpy()
        return total / max(count, 1), logits

    def _score(
        self, valid_loss: float, logits: np.ndarray, labels: np.ndarray, names: list[str]
    ) -> tuple[float, float]:
        """(selection score, validation average of select_key or nan for loss).

        Also keeps every validation average in ``self.valid_averages`` (metric -> value), for
        the epoch observers (:attr:`on_epoch`).
        """
        self.valid_averages = {}
        if self.select_key == "loss":
            return -valid_loss, float("nan")
        if self.task == "sentiment":
            averages = compute_sentiment_metrics(labels, logits)["sentiment"]
            self.valid_averages = _numbers(averages)
            value = averages[self.select_key]
            score = -value if self.select_key in LOWER_IS_BETTER else value
            return (score if math.isfinite(score) else -math.inf), value
        probs = probabilities(logits, self.config.objective)
        metrics = compute_metrics(labels, probs, names, threshold=self.config.threshold)
        self.valid_averages = _numbers(metrics["average"])
        value = metrics["average"][self.select_key]
        score = value
        if self.select_weights is not None:
            per = np.array([metrics["per_emotion"][n][self.select_key] for n in names])  # (K,)
            ok = np.isfinite(per) & (self.select_weights > 0)
            score = float(per[ok] @ self.select_weights[ok] / self.select_weights[ok].sum())
            if not ok.any():
                score = float("nan")
        return (score if math.isfinite(score) else -math.inf), value

    def fit(
        self,
        model: EmotionModel,
        train: TensorSplit | Split,
        valid: TensorSplit | Split,
        pos_weight: np.ndarray | None = None,
        memory: TensorSplit | Split | None = None,
        mode: str = "standard",
    ) -> FitResult:
        """Train ``model`` in place; on return it holds the best epoch's weights, in eval mode.

        The run is seeded with ``config.seed`` here (shuffling, dropout), so two calls on
        equally initialised models give the same weights.

        Parameters
        ----------
        model : a model whose emotions (K names) are set, e.g. from
            :func:`emotrans.models.build_model` then ``model.set_emotions(names, vectors)``
        train, valid : samples with labels of shape (N, K) in ``model.emotions`` order;
            a :class:`~emotrans.data.dataset.Split` is wrapped as a :class:`TensorSplit`
        pos_weight : (K,) positive-class weights of the loss; default
            :func:`pos_weights` of the training labels
        memory : episodic memory (labels (M, K)) for the ``"agem"`` and ``"replay"`` modes
        mode : "standard", "agem" or "replay" (see the module docstring)

        Returns
        -------
        FitResult: the best epoch (1-based), its selection score and one history row per epoch
        """
        if mode not in STEP_MODES:
            raise ValueError(f"mode must be one of {STEP_MODES}")
        if mode != "standard" and memory is None:
            raise ValueError(f"mode {mode!r} needs a memory split")
        train, valid = _as_tensors(train, model, self.task), _as_tensors(valid, model, self.task)
        memory = None if memory is None else _as_tensors(memory, model, self.task)
        if pos_weight is None and self.task == "sentiment":
            pos_weight = np.ones(1, np.float32)  # unused by the regression losses
        if pos_weight is None:
            pos_weight = pos_weights(train.labels.numpy())
        cfg = self.config
        generator = seed_everything(cfg.seed)
        model.to(self.device)
        model.train()
        loss_fn = self._loss_fn(pos_weight)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience
        )
        valid_labels = valid.labels.numpy()
        names = list(model.emotions)
        best = FitResult(best_epoch=0, best_score=-math.inf)
        best_state: dict[str, torch.Tensor] | None = None
        stale = 0
        by_length = cfg.batching == "length"
        memory_batches = (
            None
            if memory is None
            else MemoryBatches(memory, cfg.batch_size, generator, self.device, by_length)
        )
        first = 1
        state = self.checkpoint.load() if self.checkpoint is not None else None
        if state is not None:  # resume where a killed run left off
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            best.best_epoch, best.best_score = state["best_epoch"], state["best_score"]
            best.history, best.stopped_early = list(state["history"]), state["stopped_early"]
            best_state, stale = state["best_state"] or None, state["stale"]
            _set_rng_states(state["rng"], generator)
            if memory_batches is not None:
                memory_batches.load_state(state.get("memory"))
            first = self.epochs + 1 if best.stopped_early else state["epoch"] + 1
            log.info("resuming after epoch %d", state["epoch"])

        for epoch in range(first, self.epochs + 1):
            start = time.perf_counter()
            running, seen = 0.0, 0
            bar = tqdm(
                train.batches(cfg.batch_size, True, generator, self.device, by_length),
                total=train.num_batches(cfg.batch_size),
                desc=f"epoch {epoch}/{self.epochs}",
                leave=False,
                disable=not (self.progress and sys.stderr.isatty()),
                unit="batch",
            )
            for feats, lens, labels in bar:
                if mode == "replay":
                    loss = self._step(model, optimizer, loss_fn, params, feats, lens, labels)
                    self._step(model, optimizer, loss_fn, params, *memory_batches.next())
                elif mode == "agem":
                    loss = self._agem_step(
                        model,
                        optimizer,
                        loss_fn,
                        params,
                        (feats, lens, labels),
                        memory_batches.next(),
                    )
                else:
                    loss = self._step(model, optimizer, loss_fn, params, feats, lens, labels)
                running += loss * labels.shape[0]
                seen += labels.shape[0]
                bar.set_postfix(loss=f"{running / max(seen, 1):.4f}")
            bar.close()
            valid_loss, logits = self.evaluate(model, valid, loss_fn)
            score, average = self._score(valid_loss, logits, valid_labels, names)
            scheduler.step(valid_loss)
            row = {
                "epoch": epoch,
                "train_loss": running / max(seen, 1),
                "valid_loss": valid_loss,
                f"valid_{self.select_key}": average if self.select_key != "loss" else valid_loss,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - start,
            }
            if self.select_weights is not None:
                row["valid_selection"] = score
            best.history.append(row)
            improved = score > best.best_score
            if improved:
                best.best_score, best.best_epoch, stale = score, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
            left = estimate(
                [r["seconds"] for r in best.history], epoch, self.epochs, stale, cfg.early_stop
            )
            if self.progress:
                mark = " *" if improved else "  "
                tqdm.write(
                    f"epoch {epoch:3d}  train loss {row['train_loss']:.4f}  valid loss "
                    f"{valid_loss:.4f}  valid {self.select_key} {list(row.values())[3]:.4f}  "
                    f"lr {row['lr']:.0e}  {row['seconds']:.1f}s{mark}  {left.describe()}",
                    file=sys.stderr,
                )
            log.info("epoch %d: %s (%s)", epoch, row, left.describe())
            stop = stale >= cfg.early_stop
            if self.checkpoint is not None:
                self.checkpoint.save(
                    {
                        "epoch": epoch,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "best_epoch": best.best_epoch,
                        "best_score": best.best_score,
                        "history": best.history,
                        "stopped_early": stop,
                        "best_state": best_state or {},
                        "stale": stale,
                        "rng": _rng_states(generator),
                        "memory": None if memory_batches is None else memory_batches.state(),
                    },
                    row,
                )
            if self.on_epoch:  # after the checkpoint: history.csv already has this epoch
                scalars = _epoch_scalars(row, self.valid_averages)
                for observer in self.on_epoch:
                    observer(epoch, scalars)
            if stop:
                best.stopped_early = True
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        return best

    def _step(self, model, optimizer, loss_fn, params, feats, lens, labels) -> float:
        optimizer.zero_grad(set_to_none=True)
        with autocast_context(self.config.precision, self.device):
            logits = model(feats, lens)
        loss = loss_fn(logits.float(), labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.config.clip > 0:
                self.scaler.unscale_(optimizer)  # clip the true gradients
                torch.nn.utils.clip_grad_norm_(params, self.config.clip)
            self.scaler.step(optimizer)  # skipped when a gradient overflowed
            self.scaler.update()
            return float(loss.detach())
        loss.backward()
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.clip)
        optimizer.step()
        return float(loss.detach())

    def _grads(self, model, loss_fn, params, feats, lens, labels) -> tuple[torch.Tensor, float]:
        for p in params:
            p.grad = None
        with autocast_context(self.config.precision, self.device):
            logits = model(feats, lens)
        loss = loss_fn(logits.float(), labels)
        loss.backward()
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        )
        return flat, float(loss.detach())

    def _agem_step(self, model, optimizer, loss_fn, params, batch, memory_batch) -> float:
        """A-GEM: if g . g_ref < 0, use g - (g . g_ref / |g_ref|^2) g_ref."""
        g_ref, _ = self._grads(model, loss_fn, params, *memory_batch)
        g, loss = self._grads(model, loss_fn, params, *batch)
        dot = torch.dot(g, g_ref)
        if dot < 0:
            g = g - dot / torch.dot(g_ref, g_ref).clamp(min=1e-12) * g_ref
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = g[offset : offset + n].view_as(p).clone()
            offset += n
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(params, self.config.clip)
        optimizer.step()
        return loss

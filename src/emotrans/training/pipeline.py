"""One training run end to end, and re-evaluating a finished run.

files -> :class:`Dataset` -> protocol -> model + embeddings -> :class:`Trainer` -> run directory
-> report. :func:`fit_run` trains in memory and returns a :class:`TrainedRun`;
:func:`train_run` is :func:`fit_run` plus writing the run directory (staged, then renamed
into place); :func:`evaluate_run` reloads a run directory and recomputes its metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.config import RunConfig
from emotrans.data import detect_format, load
from emotrans.data.dataset import Dataset
from emotrans.data.formats import get_format
from emotrans.data.synthetic import oracle_logits
from emotrans.errors import ConfigError
from emotrans.metrics import (
    LOWER_IS_BETTER,
    SENTIMENT_KEYS,
    argmax_metrics,
    average_key_for,
    compute_metrics,
    tune_thresholds,
)
from emotrans.modalities import modality_code, parse_modalities
from emotrans.models.base import EmotionModel
from emotrans.models.registry import build_model, resolve_config
from emotrans.training.batches import TensorSplit
from emotrans.training.checkpoint import CHECKPOINT, Checkpoint
from emotrans.training.inference import (
    DECISIONS,
    PREDICT_BATCH_SIZE,
    emotion_vectors,
    logit_offsets,
    offsets_for,
    predict_logits,
    probabilities,
    resolve_device,
    sigmoid,
    split_metrics,
)
from emotrans.training.plans import Plan, prepare
from emotrans.training.rundir import RunDir, staging_dir
from emotrans.training.runs import TrainedRun, load_run, write_run
from emotrans.training.spill import spill, spill_folder
from emotrans.training.tensorboard import check_writers, open_writers
from emotrans.training.threads import apply_threads
from emotrans.training.trainer import (
    EpochObserver,
    FitResult,
    Trainer,
    pos_weights,
    seed_everything,
)

log = logging.getLogger(__name__)

OnStart = Callable[[EmotionModel, int], None]


def load_data(config: RunConfig, path: str | None = None) -> Dataset:
    """The dataset named by ``config.data`` (or ``path``), restricted to the run's modalities."""
    source = path or config.data
    if not source:
        raise ConfigError(
            "no data given: pass --data PATH (see `emotrans data synth` for a demo set)"
        )
    wanted = parse_modalities(config.modalities)
    fmt = detect_format(source) if config.format.strip().lower() == "auto" else config.format
    # Formats that can skip a modality's files are asked to: a folder without the text files
    # then trains on audio and vision (the registry says which loaders take the option).
    options = {"modalities": wanted} if "modalities" in get_format(fmt).options else {}
    dataset = load(source, format=fmt, **options)
    return dataset.select_modalities(wanted)


def training_data(config: RunConfig, data: Dataset | str | None = None) -> Dataset:
    """The data a run trains on, before its protocol: ``data`` (a dataset or a path; default
    ``config.data``) restricted to the run's modalities and to ``config.emotions`` if set."""
    if isinstance(data, Dataset):
        dataset = data.select_modalities(parse_modalities(config.modalities))
    else:
        dataset = load_data(config, data)
    if config.emotions:
        dataset = dataset.select_emotions(config.emotions)
    return dataset


def selection_key(config: RunConfig, dataset_name: str, task: str = "emotion") -> str:
    """The validation figure used for model selection (the MAE for sentiment, lower is
    better); a figure of the other task is a one-line :class:`ConfigError`."""
    if config.select_metric == "auto":
        return average_key_for(dataset_name, task)
    key = config.select_metric
    sentiment_key = key in SENTIMENT_KEYS
    if key != "loss" and sentiment_key != (task == "sentiment"):
        wanted = (
            f"one of {', '.join(SENTIMENT_KEYS)}, loss or auto"
            if task == "sentiment"
            else "wacc, acc, f1, auc, loss or auto"
        )
        raise ConfigError(f"--select-metric {key}: a {task} dataset is selected on {wanted}")
    return key


def build(
    config: RunConfig, dims: dict[str, int], names: list[str], task: str = "emotion"
) -> tuple[EmotionModel, int]:
    """A fresh model for ``config`` scoring ``names`` in ``task``; returns
    (model, embedding_dim)."""
    vectors, dim = emotion_vectors(config, names, task=task)
    model = build_model(config, dims, dim)
    model.set_task(task)
    model.set_emotions(names, vectors)
    return model, dim


def oracle_metrics(dataset: Dataset, config: RunConfig) -> dict[str, Any] | None:
    """Metrics of the synthetic generator's planted scores, when the data came from it."""
    if dataset.task != "emotion":
        return None  # the oracle is a probability of each label, not a score
    if not (dataset.source or config.data):
        return None  # built in memory: no generator folder to look in
    source = Path(dataset.source or config.data)
    folder = source if source.is_dir() else source.parent
    if not (folder / "oracle.npz").is_file():
        return None
    try:
        oracle = oracle_logits(folder)
        names = oracle.get("emotions")
    except Exception as exc:  # an unreadable oracle must not sink a finished training run
        log.warning("%s: cannot read the generator oracle (%s)", folder, exc)
        return None
    out = {}
    for split in ("valid", "test"):
        if split not in dataset.splits or f"{split}" not in oracle:
            continue
        logits, ids = oracle[split]["logits"], oracle[split]["ids"]
        order = {str(i): n for n, i in enumerate(ids)}
        s = dataset[split]
        try:
            rows = np.array([order[str(i)] for i in s.ids])
        except KeyError:
            return None
        columns = [list(names).index(e) for e in dataset.emotions if e in names]
        if len(columns) != len(dataset.emotions):
            return None
        probs = sigmoid(logits[rows][:, columns])
        out[split] = compute_metrics(s.labels, probs, dataset.emotions, threshold=0.5)
    return out or None


# -- fitting in memory ------------------------------------------------------------------------


def fit_run(
    config: RunConfig,
    data: Dataset | str | Path | None = None,
    progress: bool = False,
    on_start: OnStart | None = None,
    checkpoint: Checkpoint | None = None,
    on_epoch: Sequence[EpochObserver] = (),
) -> TrainedRun:
    """Train ``config`` in memory: protocol, model, training, thresholds and metrics.

    Nothing is written. :func:`train_run` (or :func:`~emotrans.training.runs.save_run`) writes
    the result as a run directory.

    Parameters
    ----------
    config : every setting; its model settings are resolved first
    data : a dataset or a path (default ``config.data``); the path, or the path a dataset was
        read from, becomes ``config.data``, so a saved run can be re-evaluated
    progress : progress bars and a line per epoch on the terminal
    on_start : ``on_start(model, num_parameters)``, called once the model is built
    checkpoint : where the trainer saves its state after each epoch and resumes from
    on_epoch : observers called after every epoch with its scalars (a TensorBoard writer)
    """
    start = time.perf_counter()
    config = resolve_config(config)
    resolve_device(config.device)  # a missing device fails before any data is read
    if isinstance(data, str | Path):
        config, data = config.replace(data=str(data)), None
    elif isinstance(data, Dataset) and data.source and not config.data:
        config = config.replace(data=str(data.source))
    config = absolute_paths(config)
    apply_threads(config.threads)
    dataset = training_data(config, data)
    plan = prepare(dataset, config)
    for split in ("train", "valid"):
        if plan.train[split].n == 0:
            raise ConfigError(f"{dataset.source}: the {split} split is empty after the protocol")
    check_objective(config, plan.train)
    seed_everything(config.seed)  # model initialisation is part of the seeded run
    model, dim = _start_model(plan, config)
    n_params = model.num_parameters()
    log.info("%s: %d trainable parameters", config.model, n_params)
    if on_start is not None:
        on_start(model, n_params)
    key = selection_key(config, dataset.name, dataset.task)
    owned = not isinstance(data, Dataset)  # loaded here: nobody else holds its arrays
    with spill_folder(checkpoint.folder if checkpoint is not None else None) as parked:
        if owned:  # read from disk batch by batch; the test split not until training ends
            for split in ("test", "train", "valid"):
                if split in plan.train.splits:
                    spill(plan.train[split], parked, split)
        fit, thresholds, offsets = _fit(model, plan, config, key, progress, checkpoint, on_epoch)
        metrics = _run_metrics(
            model, plan, config, dataset, key, fit, thresholds, n_params, offsets
        )
    info = {
        "model": config.model,
        "modalities": list(model.modalities),
        "dims": {m: int(d) for m, d in plan.train.dims.items()},
        "embedding_dim": dim,
        "task": dataset.task,
        "emotions": list(model.emotions),
        "trained_emotions": list(plan.train.emotions),
        "thresholds": thresholds,
        "single_label": bool(plan.train.single_label),
        "objective": config.objective,
        "logit_offsets": None if offsets is None else [float(v) for v in offsets],
    }
    metrics["seconds"] = time.perf_counter() - start
    return TrainedRun(
        model=model,
        config=config,
        info=info,
        metrics=metrics,
        history=fit.history,
        extraction=dataset.extraction,  # so new clips can be extracted like the training data
    )


def check_objective(config: RunConfig, dataset: Dataset) -> None:
    """Refuse the softmax objective where it has no meaning: sentiment, or emotions that are
    not mutually exclusive (multi-label data, or a subset of a single-label dataset's classes
    that leaves samples without one)."""
    if config.objective != "softmax":
        return
    if dataset.task != "emotion" or not dataset.single_label:
        what = "a sentiment dataset" if dataset.task != "emotion" else "multi-label"
        raise ConfigError(
            f"--objective softmax needs single-label data (one emotion per sample); "
            f"{dataset.source or dataset.name} is {what}: use --objective binary"
        )


def absolute_paths(config: RunConfig) -> RunConfig:
    """``config`` with its data paths absolute, so the run directory it is saved in can be
    evaluated from any folder."""
    changes = {}
    for name in ("data", "zsl_data", "fsl_from"):
        value = getattr(config, name)
        if value and not Path(value).is_absolute():
            changes[name] = str(Path(value).absolute())
    return config.replace(**changes) if changes else config


def _start_model(plan: Plan, config: RunConfig) -> tuple[EmotionModel, int]:
    """The plan's starting model (few-shot fine-tuning) or a fresh one: (model, embedding_dim)."""
    if plan.model is not None:
        return plan.model
    return build(config, plan.train.dims, list(plan.train.emotions), plan.train.task)


def _fit(
    model: EmotionModel,
    plan: Plan,
    config: RunConfig,
    key: str,
    progress: bool,
    checkpoint: Checkpoint | None = None,
    on_epoch: Sequence[EpochObserver] = (),
) -> tuple[FitResult, list[float] | None, np.ndarray | None]:
    """Train ``model`` on the plan's data; returns the fit, the tuned thresholds (or None)
    and the logit offsets of the argmax decision (or None: sentiment, softmax objective)."""
    train_ds = plan.train
    train = TensorSplit.from_split(train_ds["train"], model.modalities, train_ds.task)
    valid = TensorSplit.from_split(train_ds["valid"], model.modalities, train_ds.task)
    trainer = Trainer(
        config,
        select_key=key,
        progress=progress,
        lr=plan.lr,
        epochs=plan.epochs,
        select_weights=plan.select_weights,
        task=train_ds.task,
    )
    memory = None if plan.memory is None else TensorSplit.from_split(plan.memory, model.modalities)
    weights = pos_weights(train_ds["train"].labels) if train_ds.task == "emotion" else None
    trainer.checkpoint = checkpoint
    trainer.on_epoch = list(on_epoch)
    fit = trainer.fit(model, train, valid, weights, memory=memory, mode=plan.step_mode)
    thresholds = None
    offsets = logit_offsets(weights, config.objective)
    tune_shift = offsets is not None and train_ds.single_label
    if (config.tune_thresholds or tune_shift) and train_ds.task == "emotion":
        logits = predict_logits(model, valid, PREDICT_BATCH_SIZE, trainer.device, config.precision)
        if config.tune_thresholds:
            probs = probabilities(logits, config.objective)
            thresholds = tune_thresholds(train_ds["valid"].labels, probs).tolist()
        if tune_shift:
            assert offsets is not None
            scale = shift_scale(train_ds["valid"].labels, logits, offsets)
            offsets = offsets * scale
            log.info("single-label decision: logit - %.2f log(pos_weight)", scale)
    return fit, thresholds, offsets


SHIFT_SCALES = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
"""The fractions of log(pos_weight_k) the single-label decision may subtract."""


def shift_scale(labels: np.ndarray, logits: np.ndarray, offsets: np.ndarray) -> float:
    """The fraction a of the binary objective's logit shifts log(pos_weight_k) that the argmax
    decision subtracts, chosen on the validation split.

    A converged model's logits carry the whole shift (logit_k = log-odds_k + log(pos_weight_k),
    so a = 1 gives the most probable emotion); an early-stopped one carries only part of it,
    and a = 1 then over-corrects towards the frequent emotions. a is the value of
    :data:`SHIFT_SCALES` with the best validation weighted F1 of the argmax (ties: the
    largest); a = 0 is the raw argmax, so the choice is never worse than it on validation.

    Parameters
    ----------
    labels : (N, K) single-label validation labels
    logits : (N, K) the model's validation logits
    offsets : (K,) log(pos_weight_k)
    """
    names = [str(k) for k in range(labels.shape[1])]
    best, chosen = -np.inf, 1.0
    for a in SHIFT_SCALES:
        value = argmax_metrics(labels, logits - a * offsets[None, :], names)["weighted_f1"]
        if np.isfinite(value) and value >= best - 1e-12:
            best, chosen = value, float(a)
    return chosen


def _run_metrics(
    model: EmotionModel,
    plan: Plan,
    config: RunConfig,
    dataset: Dataset,
    key: str,
    fit: FitResult,
    thresholds: list[float] | None,
    n_params: int,
    offsets: np.ndarray | None = None,
) -> dict[str, Any]:
    """metrics.json without its timing: valid/test metrics, protocol sections, the oracle."""
    train_ds = plan.train
    names = list(train_ds.emotions)
    single = bool(train_ds.single_label)
    metrics: dict[str, Any] = {
        "dataset": dataset.name,
        "task": dataset.task,
        "model": config.model,
        "modalities": modality_code(model.modalities),
        "emotions": names,
        "best_epoch": fit.best_epoch,
        "epochs_run": len(fit.history),
        "select_metric": key,
        "select_lower_is_better": key in LOWER_IS_BETTER,
        "num_parameters": n_params,
        "train_samples": train_ds["train"].n,
        "thresholds": thresholds,
        "single_label": single,
        "objective": config.objective,
        "decision": DECISIONS[config.objective] if single else None,
        "splits": {
            s: split_metrics(model, train_ds[s], names, config, thresholds, single, offsets)
            for s in ("valid", "test")
            if s in train_ds.splits
        },
    }
    metrics.update(plan.evaluate(model, config, metrics))
    oracle = oracle_metrics(dataset, config) if not plan.changes_labels else None
    if oracle:
        metrics["oracle"] = oracle
    return metrics


# -- run directories --------------------------------------------------------------------------


@dataclass
class RunResult:
    """What :func:`train_run` returns."""

    path: Path
    metrics: dict[str, Any]
    num_parameters: int
    seconds: float


def train_run(
    config: RunConfig,
    out: str | Path,
    progress: bool = False,
    overwrite: bool = False,
    on_start: OnStart | None = None,
    resume: bool = False,
    log: Sequence[str] = (),
) -> RunResult:
    """Train ``config`` and write a complete run directory at ``out``.

    The run is trained into a hidden folder beside ``out`` (``.<name>.partial``) and renamed
    into place when complete; a finished run at ``out`` is refused (before training) unless
    ``overwrite``. Each epoch saves a checkpoint and appends to ``history.csv`` there; with
    ``resume``, a run killed by SIGKILL continues from its last epoch and ends as an
    uninterrupted run would (:mod:`emotrans.training.checkpoint`).
    ``on_start(model, num_parameters)`` is called once the model is built, before training.
    ``log`` names live logs written each epoch: ``"tensorboard"`` writes TensorBoard events
    to ``tensorboard/`` in the run (:mod:`emotrans.training.tensorboard`); a writer whose
    package is missing is refused before any data is read.
    """
    start = time.perf_counter()
    check_writers(log)
    config = absolute_paths(resolve_config(config))
    resolve_device(config.device)
    with staging_dir(out, overwrite=overwrite, resume=resume) as tmp:
        checkpoint = Checkpoint(tmp, config)
        writers = open_writers(log, tmp)
        try:
            run = fit_run(
                config,
                progress=progress,
                on_start=on_start,
                checkpoint=checkpoint,
                on_epoch=writers,
            )
        finally:
            for writer in writers:
                writer.close()
        write_run(tmp, run)
        (tmp / CHECKPOINT).unlink(missing_ok=True)  # a finished run needs only its weights
    return RunResult(Path(out), run.metrics, run.num_parameters, time.perf_counter() - start)


def evaluate_run(
    run_dir: str | Path,
    data: str | None = None,
    split: str = "test",
    emotions: list[str] | None = None,
) -> dict[str, Any]:
    """Recompute a run's metrics on ``split``.

    Without ``emotions`` the run's own protocol is reapplied, so the result equals the stored
    ``metrics.json`` for the same data. With ``emotions``, the full split (no protocol
    filtering) is scored on those label columns, which must exist in the data.
    """
    task = str(RunDir(run_dir).model_info().get("task", "emotion"))
    if task == "sentiment" and emotions is not None:
        raise ConfigError(
            f"{run_dir}: a sentiment run scores the one output 'sentiment'; --emotions is for "
            "emotion runs"
        )
    model, config, info = load_run(run_dir, emotions)
    dataset = load_data(config, data)
    if dataset.task != task:
        raise ConfigError(
            f"{dataset.source}: a {dataset.task} dataset, but {run_dir} was trained for {task}"
        )
    if config.emotions and emotions is None:
        dataset = dataset.select_emotions(config.emotions)
    if emotions is None:
        dataset = prepare(dataset, config).train
        names = list(info["trained_emotions"])
    else:
        names = list(emotions)
    dataset = dataset.select_emotions(names)
    thresholds = info.get("thresholds") if emotions is None else None
    offsets = offsets_for(info, names)
    return split_metrics(
        model, dataset[split], names, config, thresholds, dataset.single_label, offsets
    )


__all__ = [
    "RunResult",
    "TrainedRun",
    "build",
    "evaluate_run",
    "fit_run",
    "load_data",
    "load_run",
    "oracle_metrics",
    "selection_key",
    "train_run",
    "training_data",
]

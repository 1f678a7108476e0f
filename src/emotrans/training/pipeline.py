"""One training run end to end, and reloading a finished run.

files -> :class:`Dataset` -> protocol -> model + embeddings -> :class:`Trainer` -> run directory
-> report. :func:`train_run` does all of it; :func:`load_run` and :func:`evaluate_run` reload a
run directory and recompute its metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.config import RunConfig
from emotrans.data.dataset import Dataset, Split
from emotrans.errors import ConfigError, RunDirError
from emotrans.modalities import modality_code, parse_modalities

log = logging.getLogger(__name__)


def load_data(config: RunConfig, path: str | None = None) -> Dataset:
    """The dataset named by ``config.data`` (or ``path``), restricted to the run's modalities."""
    from emotrans.data import load

    source = path or config.data
    if not source:
        raise ConfigError(
            "no data given: pass --data PATH (see `emotrans data synth` for a demo set)"
        )
    dataset = load(source, format=config.format)
    return dataset.select_modalities(parse_modalities(config.modalities))


def selection_key(config: RunConfig, dataset_name: str) -> str:
    """The validation average used for model selection."""
    from emotrans.metrics import average_key

    return average_key(dataset_name) if config.select_metric == "auto" else config.select_metric


def emotion_vectors(
    config: RunConfig, names: list[str], isolated: bool = True
) -> tuple[np.ndarray | None, int]:
    """Embedding rows (K, d) of ``names`` from ``config.embeddings`` for embedding models.

    With ``isolated`` a sentence-model source embeds in a short-lived child process, so the
    model (about 0.3 GB with its libraries) never adds to the memory of a training run.
    """
    from emotrans.models.registry import model_class

    if not model_class(config.model).uses_embeddings:
        return None, 0
    from emotrans.embeddings import load_source

    source = load_source(config.embeddings)
    vectors = source.embed_isolated(names) if isolated else source.embed(names)
    return vectors, int(vectors.shape[1])


def build(config: RunConfig, dims: dict[str, int], names: list[str]):
    """A fresh model for ``config`` scoring ``names``; returns (model, embedding_dim)."""
    from emotrans.models.registry import build_model

    vectors, dim = emotion_vectors(config, names)
    model = build_model(config, dims, dim)
    model.set_emotions(names, vectors)
    return model, dim


def split_metrics(
    model, split: Split, emotions: list[str], config: RunConfig, thresholds=None
) -> dict[str, Any]:
    """Metrics of ``model`` on ``split`` (labels in ``emotions`` order)."""
    from emotrans.metrics import compute_metrics
    from emotrans.training.batches import TensorSplit
    from emotrans.training.trainer import predict_logits, resolve_device, sigmoid

    data = TensorSplit.from_split(split, model.modalities)
    logits = predict_logits(model, data, 256, resolve_device(config.device), config.precision)
    threshold = config.threshold if thresholds is None else np.asarray(thresholds)
    return compute_metrics(split.labels, sigmoid(logits), emotions, threshold=threshold)


def oracle_metrics(dataset: Dataset, config: RunConfig) -> dict[str, Any] | None:
    """Metrics of the synthetic generator's planted scores, when the data came from it."""
    source = Path(dataset.source or config.data)
    folder = source if source.is_dir() else source.parent
    if not (folder / "oracle.npz").is_file():
        return None
    from emotrans.data.synthetic import oracle_logits
    from emotrans.metrics import compute_metrics
    from emotrans.training.trainer import sigmoid

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
    on_start: Callable[[Any, int], None] | None = None,
) -> RunResult:
    """Train ``config`` and write a complete run directory at ``out``.

    ``on_start(model, num_parameters)`` is called once the model is built, before training.
    """
    import torch

    from emotrans.metrics import tune_thresholds
    from emotrans.training.batches import TensorSplit
    from emotrans.training.plans import prepare
    from emotrans.training.report import render_run_report
    from emotrans.training.rundir import RunDir, staging_dir
    from emotrans.training.trainer import (
        Trainer,
        pos_weights,
        predict_logits,
        seed_everything,
        sigmoid,
    )

    start = time.perf_counter()
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    dataset = load_data(config)
    if config.emotions:
        dataset = dataset.select_emotions(config.emotions)
    plan = prepare(dataset, config)
    train_ds = plan.train
    for split in ("train", "valid"):
        if train_ds[split].n == 0:
            raise ConfigError(f"{dataset.source}: the {split} split is empty after the protocol")
    key = selection_key(config, dataset.name)
    names = list(train_ds.emotions)
    with staging_dir(out, overwrite=overwrite) as tmp:
        run = RunDir(tmp)
        run.write_config(config)
        seed_everything(config.seed)  # model initialisation is part of the seeded run
        model, dim = plan.model if plan.model is not None else build(config, train_ds.dims, names)
        n_params = model.num_parameters()
        log.info("%s: %d trainable parameters", config.model, n_params)
        if on_start is not None:
            on_start(model, n_params)
        train = TensorSplit.from_split(train_ds["train"], model.modalities)
        valid = TensorSplit.from_split(train_ds["valid"], model.modalities)
        trainer = Trainer(
            config,
            select_key=key,
            progress=progress,
            lr=plan.lr,
            epochs=plan.epochs,
            select_weights=plan.select_weights,
        )
        fit = trainer.fit(
            model,
            train,
            valid,
            pos_weights(train_ds["train"].labels),
            memory=None
            if plan.memory is None
            else TensorSplit.from_split(plan.memory, model.modalities),
            mode=plan.step_mode,
        )
        thresholds = None
        if config.tune_thresholds:
            logits = predict_logits(model, valid, 256, trainer.device, config.precision)
            thresholds = tune_thresholds(train_ds["valid"].labels, sigmoid(logits)).tolist()
        metrics: dict[str, Any] = {
            "dataset": dataset.name,
            "model": config.model,
            "modalities": modality_code(model.modalities),
            "emotions": names,
            "best_epoch": fit.best_epoch,
            "epochs_run": len(fit.history),
            "select_metric": key,
            "num_parameters": n_params,
            "train_samples": train_ds["train"].n,
            "thresholds": thresholds,
            "splits": {
                s: split_metrics(model, train_ds[s], names, config, thresholds)
                for s in ("valid", "test")
                if s in train_ds.splits
            },
        }
        metrics.update(plan.evaluate(model, config, metrics))
        oracle = oracle_metrics(dataset, config) if not plan.changes_labels else None
        if oracle:
            metrics["oracle"] = oracle
        info = {
            "model": config.model,
            "modalities": list(model.modalities),
            "dims": {m: int(d) for m, d in train_ds.dims.items()},
            "embedding_dim": dim,
            "emotions": list(model.emotions),
            "trained_emotions": names,
            "thresholds": thresholds,
        }
        metrics["seconds"] = time.perf_counter() - start
        run.write_model(model, info)
        run.write_history(fit.history)
        run.write_metrics(metrics)
        run.write_report(render_run_report(metrics, config.to_dict()))
    return RunResult(Path(out), metrics, n_params, time.perf_counter() - start)


def load_run(run_dir: str | Path, emotions: list[str] | None = None):
    """Rebuild a trained model from ``run_dir``; returns (model, config, info).

    With ``emotions``, the model scores those names instead of the ones it was trained on
    (embedding models embed them; baselines get fresh, untrained units for new names).
    """
    from emotrans.models.registry import build_model
    from emotrans.training.rundir import RunDir

    run = RunDir(run_dir)
    config = run.config()
    info = run.model_info()
    state = run.load_state()
    trained = list(info["emotions"])
    vectors, dim = emotion_vectors(config, trained)
    if vectors is not None and dim != info["embedding_dim"]:
        raise RunDirError(
            f"{run_dir}: embedding source {config.embeddings!r} gives {dim}-d vectors but the "
            f"model was trained with {info['embedding_dim']}-d"
        )
    model = build_model(config, {m: int(d) for m, d in info["dims"].items()}, info["embedding_dim"])
    model.set_emotions(trained, vectors)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunDirError(
            f"{run_dir}/model.safetensors: does not match the model ({first})"
        ) from None
    if emotions is not None and list(emotions) != trained:
        new_vectors, _ = emotion_vectors(config, list(emotions))
        model.set_emotions(list(emotions), new_vectors)
    model.eval()
    return model, config, info


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
    from emotrans.training.plans import prepare

    model, config, info = load_run(run_dir, emotions)
    dataset = load_data(config, data)
    if config.emotions and emotions is None:
        dataset = dataset.select_emotions(config.emotions)
    if emotions is None:
        dataset = prepare(dataset, config).train
        names = list(info["trained_emotions"])
    else:
        names = list(emotions)
    dataset = dataset.select_emotions(names)
    thresholds = info.get("thresholds") if emotions is None else None
    return split_metrics(model, dataset[split], names, config, thresholds)

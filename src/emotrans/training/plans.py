"""Training plans: how a protocol turns a dataset into what the trainer sees.

The standard plan trains on the dataset as it is. The zero-shot and few-shot plans
(docs/design.md, "Protocols") filter the data with :mod:`emotrans.data.protocols`, may start
from a finished run, choose the trainer's step mode, and add their own sections to
``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from emotrans.config import RunConfig
from emotrans.data import load, protocols
from emotrans.data.dataset import Dataset, Split
from emotrans.errors import ConfigError
from emotrans.metrics import METRIC_KEYS
from emotrans.training.inference import current_emotion_vectors, emotion_vectors, split_metrics
from emotrans.training.runs import load_run


@dataclass
class Plan:
    """What :func:`train_run` needs from a protocol.

    Attributes
    ----------
    train : the dataset the trainer uses (train/valid for fitting, valid/test for metrics)
    model : ``(model, embedding_dim)`` to start from, or None for a fresh model
    memory : episodic memory for the ``agem`` / ``replay`` step modes
    step_mode : trainer step mode: "standard", "agem" or "replay"
    lr, epochs : overrides of the config's learning rate and epochs (None: the config's)
    select_weights : per-emotion weights of the epoch-selection score (None: plain average)
    changes_labels : the label columns differ from the raw data's (no generator oracle then)
    extra : ``(model, config, metrics) -> dict`` of extra metrics.json sections
    """

    train: Dataset
    model: tuple[Any, int] | None = None
    memory: Split | None = None
    step_mode: str = "standard"
    lr: float | None = None
    epochs: int | None = None
    select_weights: np.ndarray | None = None
    changes_labels: bool = False
    extra: Callable[[Any, RunConfig, dict[str, Any]], dict[str, Any]] | None = field(default=None)

    def evaluate(self, model, config: RunConfig, metrics: dict[str, Any]) -> dict[str, Any]:
        return self.extra(model, config, metrics) if self.extra else {}


def prepare(dataset: Dataset, config: RunConfig) -> Plan:
    """The plan for ``config`` (standard, zero-shot or few-shot) on ``dataset``.

    The zero-shot plan filters ``dataset`` in place (its splits become the rows without an
    unseen emotion; the full test split is kept by the plan for the zero-shot metrics), so a
    run never holds the full and the filtered data at once: pass a dataset you do not need
    unfiltered afterwards."""
    if config.zsl and config.fsl:
        raise ConfigError("choose either zero-shot (--zsl) or few-shot (--fsl), not both")
    if dataset.task == "sentiment" and (config.zsl or config.fsl):
        flag = "--zsl" if config.zsl else "--fsl"
        raise ConfigError(
            f"{flag}: zero-shot and few-shot are emotion protocols; "
            f"{dataset.source or dataset.name} is a sentiment dataset (one score per sample)"
        )
    if config.zsl:
        return _zero_shot_plan(dataset, config)
    if config.fsl:
        return _few_shot_plan(dataset, config)
    return Plan(train=dataset)


# -- zero-shot -------------------------------------------------------------------------------


def _metrics_for(model, split: Split, names: list[str], config: RunConfig) -> dict[str, Any]:
    """Metrics of ``model`` scoring ``names`` on ``split`` (whose columns are ``names``)."""
    trained = list(model.emotions)
    trained_vectors = current_emotion_vectors(model)
    vectors, _ = emotion_vectors(config, names)
    model.set_emotions(names, vectors)
    try:
        return split_metrics(model, split, names, config)
    finally:
        model.set_emotions(trained, trained_vectors)


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several single-emotion metric dicts as one (averages recomputed over emotions)."""
    if len(parts) == 1:
        return parts[0]
    per = {k: v for p in parts for k, v in p["per_emotion"].items()}
    average = {}
    for key in METRIC_KEYS:
        vals = [r[key] for r in per.values() if r[key] is not None and math.isfinite(r[key])]
        average[key] = sum(vals) / len(vals) if vals else float("nan")
    return {
        "per_emotion": per,
        "average": average,
        "positives": {k: v for p in parts for k, v in p.get("positives", {}).items()},
        "n": {k: p.get("n") for p in parts for k in p["per_emotion"]},
    }


def _zero_shot_plan(dataset: Dataset, config: RunConfig) -> Plan:
    unseen = list(dict.fromkeys(config.zsl))
    in_data = [u for u in unseen if u in dataset.emotions]
    external = [u for u in unseen if u not in dataset.emotions]
    extra_ds = None
    if external:
        if not config.zsl_data:
            raise ConfigError(
                f"zero-shot: {', '.join(external)} not in {dataset.source or dataset.name} "
                f"(has {', '.join(dataset.emotions)}); pass --zsl-data with the IEMOCAP-9 data "
                "that has its samples"
            )
        extra_ds = load(config.zsl_data)
    # only the full test split is needed unfiltered (the zero-shot metrics); the train and
    # valid splits are filtered in place, so the full ones are freed
    full = replace(dataset, splits={"test": dataset["test"]})
    train = protocols.zero_shot(dataset, in_data, in_place=True) if in_data else dataset
    seen = list(train.emotions)

    def evaluate(model, cfg: RunConfig, metrics: dict[str, Any]) -> dict[str, Any]:
        parts = []
        if in_data:
            parts.append(_metrics_for(model, full.select_emotions(in_data)["test"], in_data, cfg))
        for u in external:
            assert extra_ds is not None
            base = full.select_emotions(seen)["test"]
            extended = protocols.extend_with_unseen(base, seen, extra_ds, u)
            one = extended.select_columns([len(seen)])
            parts.append(_metrics_for(model, one, [u], cfg))
        seen_metrics = _metrics_for(model, full.select_emotions(seen)["test"], seen, cfg)
        return {
            "zsl": {
                "unseen": unseen,
                "unseen_metrics": _merge(parts),
                "seen_metrics": seen_metrics,
                "note": "unseen and seen metrics on the full test split"
                + (
                    " extended with the IEMOCAP-9 samples of the unseen emotion" if external else ""
                ),
            }
        }

    return Plan(train=train, changes_labels=True, extra=evaluate)


# -- few-shot --------------------------------------------------------------------------------


def _stage(m: dict[str, Any], target: str, seen: list[str]) -> dict[str, Any]:
    """Target metrics and the seen emotions' average from a metrics dict over target + seen."""
    avg = {}
    for key in METRIC_KEYS:
        vals = [m["per_emotion"][s][key] for s in seen if s in m["per_emotion"]]
        vals = [v for v in vals if v is not None and math.isfinite(v)]
        avg[key] = sum(vals) / len(vals) if vals else float("nan")
    return {"target": m["per_emotion"][target], "seen_average": avg}


def _few_shot_plan(dataset: Dataset, config: RunConfig) -> Plan:
    target = config.fsl
    if target not in dataset.emotions:
        raise ConfigError(
            f"few-shot: {target!r} not in {dataset.source or dataset.name} "
            f"(has {', '.join(dataset.emotions)})"
        )
    names = list(dataset.emotions)
    seen = [e for e in names if e != target]
    col = names.index(target)
    reduced, kept_ids = protocols.few_shot(
        dataset, target, config.fsl_fraction, config.fsl_shots, seed=config.seed
    )
    section: dict[str, Any] = {
        "target": target,
        "mode": config.fsl_mode,
        "shots": len(kept_ids),
        "kept_ids": [str(i) for i in kept_ids],
        "fraction": config.fsl_fraction if not config.fsl_shots else None,
    }
    start_model = None
    if config.fsl_from:
        prior, prior_config, _ = load_run(config.fsl_from, emotions=names)
        if prior_config.model != config.model or prior_config.modalities != config.modalities:
            raise ConfigError(
                f"few-shot: {config.fsl_from} is a {prior_config.model} ({prior_config.modalities}) "
                f"run but this run asks for {config.model} ({config.modalities})"
            )
        before = split_metrics(prior, dataset["test"], names, config)
        section["before"] = _stage(before, target, seen)
        section["before_source"] = str(config.fsl_from)
        if config.fsl_mode != "joint":
            start_model = (prior, getattr(prior, "embedding_dim", 0))
    elif config.fsl_mode != "joint":
        raise ConfigError(
            f"few-shot mode {config.fsl_mode!r} starts from a zero-shot run: pass --fsl-from RUN_DIR "
            f"(e.g. a run trained with --zsl {target})"
        )

    plan = Plan(train=reduced, model=start_model)
    if config.fsl_mode != "joint":
        small = protocols.balanced_few_shot_set(reduced["train"], col, seed=config.seed)
        plan.train = Dataset(
            name=reduced.name,
            emotions=names,
            aligned=reduced.aligned,
            source=reduced.source,
            splits={"train": small, "valid": reduced["valid"], "test": reduced["test"]},
            meta=reduced.meta,
            task=reduced.task,
            single_label=reduced.single_label,
        )
        plan.lr, plan.epochs = config.fsl_lr, config.fsl_epochs
        if config.fsl_select == "balanced":  # the new emotion weighs as much as all the others
            weights = np.full(len(names), 0.5 / max(1, len(seen)))
            weights[col] = 0.5
            plan.select_weights = weights
        section["finetune_samples"] = small.n
        section["select"] = config.fsl_select
        if config.fsl_mode in ("continual", "replay"):
            original = protocols.zero_shot(dataset, [target])["train"]
            memory = protocols.memory_sample(original, config.fsl_memory, seed=config.seed)
            if memory.n == 0:  # the step modes draw a memory batch at every step
                raise ConfigError(
                    f"few-shot mode {config.fsl_mode!r} replays an episodic memory: "
                    f"--fsl-memory {config.fsl_memory} leaves it empty; use at least 1"
                )
            plan.memory = protocols.add_zero_column(memory, col)
            plan.step_mode = "agem" if config.fsl_mode == "continual" else "replay"
            section["memory_samples"] = plan.memory.n

    def evaluate(model, cfg: RunConfig, metrics: dict[str, Any]) -> dict[str, Any]:
        after = metrics["splits"]["test"]
        out = dict(section)
        out["after"] = _stage(after, target, seen)
        if "before" in out:
            out["forgetting"] = (
                out["before"]["seen_average"]["wacc"] - out["after"]["seen_average"]["wacc"]
            )
            out["target_gain"] = out["after"]["target"]["wacc"] - out["before"]["target"]["wacc"]
        return {"fsl": out}

    plan.extra = evaluate
    plan.changes_labels = True
    return plan

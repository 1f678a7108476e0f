"""Training: the :class:`Trainer`, one run end to end, run directories and reloading.

>>> from emotrans.training import RunConfig, fit_run, train_run, evaluate_run
>>> run = fit_run(RunConfig(data="data/mosei", epochs=2))       # in memory: a TrainedRun
>>> result = train_run(RunConfig(data="data/mosei"), "runs/first")   # writes a run directory
>>> evaluate_run("runs/first")["average"]["wacc"]

Modules, bottom up: ``batches`` (tensors of a split), ``inference`` (logits, probabilities,
emotion vectors, metrics of a model), ``trainer`` (the training loop), ``rundir`` (the files of
a run directory), ``runs`` (save and load a trained run), ``plans`` (zero-/few-shot
protocols), ``pipeline`` (a run end to end), ``report`` (Markdown tables).

Importing this package does not import torch: the names of torch-bearing modules are loaded
on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emotrans.config import RunConfig
from emotrans.lazy import lazy_exports
from emotrans.training.report import metrics_table, multilabel_line, render_run_report
from emotrans.training.rundir import REQUIRED, RunDir, is_complete, json_safe, staging_dir

if TYPE_CHECKING:
    from emotrans.training.batches import TensorSplit
    from emotrans.training.inference import (
        emotion_vectors,
        predict_logits,
        resolve_device,
        sigmoid,
        split_metrics,
    )
    from emotrans.training.pipeline import (
        RunResult,
        evaluate_run,
        fit_run,
        load_data,
        train_run,
    )
    from emotrans.training.plans import Plan, prepare
    from emotrans.training.runs import TrainedRun, load_run, save_run, write_run
    from emotrans.training.trainer import (
        STEP_MODES,
        FitResult,
        Trainer,
        pos_weights,
        seed_everything,
    )

# name -> submodule of emotrans.training that defines it (each imports torch)
_LAZY: dict[str, str] = {
    "TensorSplit": "batches",
    "emotion_vectors": "inference",
    "predict_logits": "inference",
    "resolve_device": "inference",
    "sigmoid": "inference",
    "split_metrics": "inference",
    "RunResult": "pipeline",
    "evaluate_run": "pipeline",
    "fit_run": "pipeline",
    "load_data": "pipeline",
    "train_run": "pipeline",
    "Plan": "plans",
    "prepare": "plans",
    "TrainedRun": "runs",
    "load_run": "runs",
    "save_run": "runs",
    "write_run": "runs",
    "STEP_MODES": "trainer",
    "FitResult": "trainer",
    "Trainer": "trainer",
    "pos_weights": "trainer",
    "seed_everything": "trainer",
}


__getattr__, __dir__ = lazy_exports(
    globals(), {name: f"{__name__}.{module}:{name}" for name, module in _LAZY.items()}
)


__all__ = [
    "REQUIRED",
    "STEP_MODES",
    "FitResult",
    "Plan",
    "RunConfig",
    "RunDir",
    "RunResult",
    "TensorSplit",
    "TrainedRun",
    "Trainer",
    "emotion_vectors",
    "evaluate_run",
    "fit_run",
    "is_complete",
    "json_safe",
    "load_data",
    "load_run",
    "metrics_table",
    "multilabel_line",
    "pos_weights",
    "predict_logits",
    "prepare",
    "render_run_report",
    "resolve_device",
    "save_run",
    "seed_everything",
    "sigmoid",
    "split_metrics",
    "staging_dir",
    "train_run",
    "write_run",
]

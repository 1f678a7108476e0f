"""A trained model and its run directory: :func:`save_run` writes one, :func:`load_run` reads one.

The files and their meaning are described in :mod:`emotrans.training.rundir`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError

from emotrans.atomic import atomic_path
from emotrans.config import RunConfig
from emotrans.errors import RunDirError
from emotrans.models.base import EmotionModel
from emotrans.models.registry import build_model, model_class
from emotrans.npz import load_npz
from emotrans.training.inference import current_emotion_vectors, emotion_vectors
from emotrans.training.report import render_run_report
from emotrans.training.rundir import FinalWriteError, RunDir, staging_dir, write_json


@dataclass
class TrainedRun:
    """A trained model with everything its run directory holds.

    Attributes
    ----------
    model : the trained model, scoring ``info["emotions"]``, in eval mode
    config : every setting of the run (resolved: model settings complete)
    info : model.json: model name, modalities, feature dims, embedding dim, emotions, thresholds
    metrics : metrics.json: valid/test metrics at the best epoch, plus protocol sections
    history : history.csv: one row per epoch (losses, validation average, learning rate)
    extraction : the training data's ``extraction`` record (``emotrans extract``: extractors,
        versions, settings, alignment, T, standardisation), written as extraction.json so
        new clips can be extracted identically; None for data not made from clips
    """

    model: EmotionModel
    config: RunConfig
    info: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    extraction: dict[str, Any] | None = None

    @property
    def num_parameters(self) -> int:
        return int(self.metrics.get("num_parameters", self.model.num_parameters()))


def write_run(folder: str | Path, run: TrainedRun) -> None:
    """Write every file of a run directory into ``folder`` (which must exist).

    The files ``evaluate`` and ``predict`` need (config.json, model.json, model.safetensors,
    metrics.json) come first. A failed write (an ``OSError``: a full disk) raises
    :class:`~emotrans.training.rundir.FinalWriteError`: ``complete`` when only the others
    (history.csv, report.md, extraction.json, the vector cache) failed, each of which is
    still tried; every file is written atomically, so none is left half-written.
    """
    files = RunDir(folder)
    required = (
        ("config.json", lambda: files.write_config(run.config)),
        ("model.safetensors", lambda: files.write_model(run.model, run.info)),
        ("metrics.json", lambda: files.write_metrics(run.metrics)),
    )
    for name, write in required:
        try:
            write()
        except _WRITE_ERRORS as exc:
            name = _file_of(exc, name)
            raise FinalWriteError(f"{name}: {_reason(exc)}", False, [name]) from exc
    record = extraction_record(run.extraction)
    optional = [
        ("history.csv", lambda: files.write_history(run.history)),
        (
            "report.md",
            lambda: files.write_report(render_run_report(run.metrics, run.config.to_dict())),
        ),
        (EXTRACTION_FILE, lambda: write_json(Path(folder) / EXTRACTION_FILE, record)),
        (VECTORS_FILE, lambda: write_vector_cache(folder, run.model, run.config)),
    ]
    failed: list[tuple[str, str]] = []
    for name, write in optional:
        if name == EXTRACTION_FILE and record is None:
            continue
        try:
            write()
        except OSError as exc:
            failed.append((_file_of(exc, name), _reason(exc)))
    if failed:
        reasons = dict.fromkeys(reason for _, reason in failed)
        names = [name for name, _ in failed]
        raise FinalWriteError(f"{', '.join(names)}: {'; '.join(reasons)}", True, names)


def _file_of(exc: BaseException, name: str) -> str:
    """The name of the file a write error names (model.json for model.safetensors' step)."""
    filename = getattr(exc, "filename", None)
    return Path(filename).name if isinstance(filename, str) and filename else name


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split())[:200] or type(exc).__name__


_WRITE_ERRORS = (OSError, SafetensorError)  # safetensors reports a failed write as its own


VECTORS_FILE = "emotion_vectors.npz"
"""The run's cache of the embedding vectors of the names its model scores (``names`` (K,) str,
``vectors`` (K, d) float32, ``embeddings``: the source spec), so that reloading the run and
predicting its own emotions never loads the embedding source (a sentence model takes about
25 s to load). Absent for models without embeddings and for runs written before it."""


def write_vector_cache(folder: str | Path, model: EmotionModel, config: RunConfig) -> None:
    """Write :data:`VECTORS_FILE` for the names ``model`` scores now (nothing for a model
    without embeddings)."""
    vectors = current_emotion_vectors(model)
    if vectors is None or not model.uses_embeddings:
        return
    cls = model_class(config.model)
    settings = cls.settings_from(config.model_settings)
    names = cls.embedding_names(settings, list(model.emotions), model.task)
    if vectors.shape[0] != len(names):
        return  # e.g. a sentiment head without embedded poles
    path = Path(folder) / VECTORS_FILE
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # never a truncated cache
        np.savez(
            f,
            names=np.array(names, dtype=str),
            vectors=vectors.astype(np.float32),
            embeddings=np.array(config.embeddings),
        )


def load_vector_cache(run_dir: str | Path, config: RunConfig) -> dict[str, np.ndarray]:
    """The run's cached vectors as name -> (d,), for :func:`emotion_vectors`'s ``cache``;
    empty when the run has none or they came from another embedding source."""
    path = Path(run_dir) / VECTORS_FILE
    if not path.is_file():
        return {}
    z = load_npz(path, text=("names", "embeddings"), error=RunDirError)  # checked headers
    try:
        if str(z["embeddings"]) != config.embeddings:
            return {}
        names, vectors = z["names"], z["vectors"]
        if names.ndim != 1 or vectors.ndim != 2 or len(names) != len(vectors):
            raise ValueError(f"names of shape {names.shape} for vectors of {vectors.shape}")
        return dict(zip((str(n) for n in names), vectors.astype(np.float32), strict=True))
    except (ValueError, KeyError) as exc:
        raise RunDirError(f"{path}: unreadable vector cache ({exc})") from None


EXTRACTION_FILE = "extraction.json"
"""The run directory's copy of its training data's extraction record (absent when the data
were not made by ``emotrans extract``)."""


def extraction_record(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a run keeps of its data's extraction record: everything that reproduces the
    extraction, without the per-clip lists (word-timing source per clip, skipped clips) that
    grow with the dataset; a copy."""
    if not record:
        return None
    out = {k: v for k, v in record.items() if k != "skipped"}
    timing = out.get("timing")
    if isinstance(timing, dict):
        out["timing"] = {k: v for k, v in timing.items() if k != "by_clip"}
    return json.loads(json.dumps(out, default=str))


def load_extraction(run_dir: str | Path) -> dict[str, Any] | None:
    """The extraction record stored with a run (None when it has none)."""
    path = Path(run_dir) / EXTRACTION_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunDirError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(record, dict):
        raise RunDirError(f"{path}: expected a JSON object")
    return record


def save_run(run: TrainedRun, out: str | Path, overwrite: bool = False) -> Path:
    """Write ``run`` as the run directory ``out``, atomically (staged beside it, then renamed).

    A finished run at ``out`` is replaced only with ``overwrite``.
    """
    with staging_dir(out, overwrite=overwrite) as tmp:
        write_run(tmp, run)
    return Path(out)


def load_run(
    run_dir: str | Path,
    emotions: list[str] | None = None,
    cache: dict[str, np.ndarray] | None = None,
) -> tuple[EmotionModel, RunConfig, dict[str, Any]]:
    """Rebuild a trained model from ``run_dir``; returns (model, config, info).

    With ``emotions``, the model scores those names instead of the ones it was trained on
    (embedding models embed them; baselines get fresh, untrained units for new names).
    The vectors come from the run's :data:`VECTORS_FILE` where it has them; only other names
    are embedded (all at once). ``cache`` (a dict, filled here) receives every vector used,
    so a caller can score more names without embedding the known ones again.
    """
    run = RunDir(run_dir)
    config = run.config()
    info = run.model_info()
    state = run.load_state()
    trained = list(info["emotions"])
    task = str(info.get("task", "emotion"))  # runs written before the task: emotion
    if cache is None:
        cache = {}
    cache.update(load_vector_cache(run_dir, config))
    if emotions is not None and task == "emotion":  # embed the new names with the others
        emotion_vectors(config, list(dict.fromkeys([*trained, *emotions])), cache=cache)
    vectors, dim = emotion_vectors(config, trained, task=task, cache=cache)
    if vectors is not None and dim != info["embedding_dim"]:
        raise RunDirError(
            f"{run_dir}: embedding source {config.embeddings!r} gives {dim}-d vectors but the "
            f"model was trained with {info['embedding_dim']}-d"
        )
    model = build_model(config, {m: int(d) for m, d in info["dims"].items()}, info["embedding_dim"])
    model.set_task(task)
    model.set_emotions(trained, vectors)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise RunDirError(
            f"{run_dir}/model.safetensors: does not match the model ({first})"
        ) from None
    if emotions is not None and list(emotions) != trained:
        if task == "sentiment":
            raise RunDirError(f"{run_dir}: a sentiment run cannot score other names ({emotions})")
        new_vectors, _ = emotion_vectors(config, list(emotions), cache=cache)
        model.set_emotions(list(emotions), new_vectors)
    model.eval()
    return model, config, info

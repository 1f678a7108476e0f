"""The trained emotion recogniser of the Python API: train one, save it, load it, predict.

>>> import emotrans
>>> rec = emotrans.train(data="data/mosei", epochs=2)         # in memory, nothing written
>>> rec.save("runs/first")                                     # a complete run directory
>>> rec = emotrans.Recognizer.load("runs/first")
>>> rec.predict(data, emotions=["anger", "boredom"])           # a pandas DataFrame

The transferable model scores any emotion name its embedding source knows, including names it
was never trained on; baselines can only score the emotions they were trained on meaningfully
(new names get an untrained unit, which a warning points out).

A recogniser trained on a sentiment dataset predicts one score per sample in [-3, 3]
(:meth:`Recognizer.predict_scores`; :meth:`Recognizer.predict` gives a ``sentiment`` column).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotrans.config import RunConfig
from emotrans.data import load
from emotrans.data.dataset import Dataset, Split, lengths_from_padding, replace_nonfinite
from emotrans.errors import ConfigError, DataFormatError, RunDirError
from emotrans.models.base import EmotionModel
from emotrans.training.batches import TensorSplit
from emotrans.training.inference import (
    PREDICT_BATCH_SIZE,
    current_emotion_vectors,
    emotion_vectors,
    predict_logits,
    resolve_device,
    sigmoid,
)
from emotrans.training.pipeline import fit_run
from emotrans.training.rundir import RunDir
from emotrans.training.runs import TrainedRun, load_run, save_run

log = logging.getLogger(__name__)


def train(
    data: Dataset | str | Path | None = None, *, progress: bool = False, **settings: Any
) -> Recognizer:
    """Train a recogniser in memory; nothing is written (see :meth:`Recognizer.save`).

    Parameters
    ----------
    data : a :class:`Dataset` (e.g. from :func:`emotrans.load`) or a dataset path; default the
        ``data`` setting
    progress : progress bars and a line per epoch on the terminal
    **settings : any :class:`~emotrans.config.RunConfig` setting by name (the flags of
        ``emotrans train``), e.g. ``model="transferable", epochs=10, seed=1``

    Returns
    -------
    Recognizer, with the run's ``metrics`` (valid/test) and ``history`` (per epoch)

    The same settings and seed give the same model and metrics as ``emotrans train``.
    """
    config = RunConfig.from_dict(settings, where="emotrans.train")
    return Recognizer.from_run(fit_run(config, data, progress=progress))


class Recognizer:
    """A trained emotion recogniser: a model with its settings, metrics and history.

    Get one from :func:`emotrans.train` or :meth:`load`; score data with :meth:`predict`
    (a table) or :meth:`predict_proba` (an array); write it with :meth:`save`.

    Parameters
    ----------
    model : the trained model, scoring the emotions of ``info["emotions"]``
    config : every setting of the run
    info : the run's model.json (modalities, feature dims, emotions, thresholds)
    run_dir : the run directory it was loaded from or saved to (None: in memory only)
    metrics, history : the run's metrics.json and history.csv rows (read from ``run_dir``
        on first use when not given)
    """

    def __init__(
        self,
        model: EmotionModel,
        config: RunConfig,
        info: dict[str, Any],
        run_dir: str | Path | None = None,
        metrics: dict[str, Any] | None = None,
        history: list[dict[str, Any]] | None = None,
    ) -> None:
        self.model = model
        self._config = config
        self.info = info
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._metrics = metrics
        self._history = history
        trained = list(model.emotions) == self.trained_emotions
        self._trained_vectors = current_emotion_vectors(model) if trained else None

    @classmethod
    def load(cls, run_dir: str | Path) -> Recognizer:
        """The recogniser of a finished run directory (written by ``emotrans train`` or
        :meth:`save`)."""
        model, config, info = load_run(run_dir)
        return cls(model, config, info, Path(run_dir))

    @classmethod
    def from_run(cls, run: TrainedRun) -> Recognizer:
        """The recogniser of a run trained in memory (:func:`emotrans.training.fit_run`)."""
        return cls(run.model, run.config, run.info, metrics=run.metrics, history=run.history)

    def save(self, run_dir: str | Path, overwrite: bool = False) -> Path:
        """Write a complete run directory (the layout ``emotrans train`` writes), atomically.

        ``emotrans evaluate RUN_DIR`` and ``emotrans predict RUN_DIR`` work on it, and
        :meth:`load` gives back a recogniser with the same predictions. A finished run at
        ``run_dir`` is replaced only with ``overwrite``.
        """
        if self.metrics is None:
            raise RunDirError(f"{run_dir}: this recogniser has no metrics to save")
        self._score_trained_emotions()
        run = TrainedRun(self.model, self.config, self.info, self.metrics, self.history)
        self.run_dir = save_run(run, run_dir, overwrite=overwrite)
        return self.run_dir

    @property
    def config(self) -> RunConfig:
        """Every setting of the run (as in its config.json)."""
        return self._config

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The run's metrics.json: ``metrics["splits"]["test"]["average"]["wacc"]``, ...
        (missing values are NaN); None when unknown."""
        if self._metrics is None and self.run_dir is not None:
            self._metrics = RunDir(self.run_dir).metrics()
        return self._metrics

    @property
    def history(self) -> list[dict[str, Any]]:
        """One row per training epoch: epoch, train_loss, valid_loss, the validation average,
        lr, seconds."""
        if self._history is None:
            rows = RunDir(self.run_dir).history() if self.run_dir is not None else []
            self._history = [{k: _number(v) for k, v in row.items()} for row in rows]
        return self._history

    @property
    def task(self) -> str:
        """``"emotion"`` or ``"sentiment"``: what the run was trained for (from its data)."""
        return str(self.info.get("task", "emotion"))

    @property
    def trained_emotions(self) -> list[str]:
        return list(self.info["emotions"])

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.model.modalities)

    def _score_trained_emotions(self) -> None:
        """Set the model back to the emotions it was trained on (predict may change them)."""
        trained = self.trained_emotions
        if list(self.model.emotions) == trained:
            return
        vectors = self._trained_vectors
        if vectors is None and self.model.uses_embeddings:
            vectors, _ = emotion_vectors(self.config, trained, isolated=False)
        self.model.set_emotions(trained, vectors)

    def _as_split(self, data: Dataset | Split | Mapping[str, Any], split: str) -> Split:
        if isinstance(data, Dataset):
            return data[split]
        if isinstance(data, Split):
            return data
        features, lengths = {}, {}
        for m in self.modalities:
            if m not in data:
                raise DataFormatError(
                    f"input: no {m!r} array (the model uses {', '.join(self.modalities)})"
                )
            x = np.array(data[m], dtype=np.float32)
            if x.ndim != 3:
                raise DataFormatError(f"input: {m} has shape {x.shape}, expected (N, T, D)")
            count = replace_nonfinite(x)
            if count:
                log.warning("input: %d non-finite %s values replaced by 0", count, m)
            features[m] = x
            given = data.get("lengths")
            lengths[m] = (
                np.asarray(given[m] if isinstance(given, Mapping) else given, dtype=np.int64)
                if given is not None
                else lengths_from_padding(x)
            )
        n = next(iter(features.values())).shape[0]
        ids = np.asarray(data.get("ids", np.arange(n))).astype(str)
        return Split(features=features, lengths=lengths, labels=np.zeros((n, 0), np.uint8), ids=ids)

    def _check_dims(self, s: Split) -> None:
        for m in self.modalities:
            if m not in s.features:
                raise DataFormatError(
                    f"input: no {m} features (the model uses {', '.join(self.modalities)})"
                )
            want = int(self.info["dims"][m])
            if s.features[m].shape[2] != want:
                raise DataFormatError(
                    f"input: {m} features are {s.features[m].shape[2]}-d but the model was trained on {want}-d"
                )

    def predict_proba(
        self,
        data: Dataset | Split | Mapping[str, Any],
        emotions: Sequence[str] | None = None,
        split: str = "test",
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Probabilities (N, K) of ``emotions`` (default: the trained ones), their names, ids."""
        if self.task == "sentiment":
            raise ConfigError(
                "a sentiment recogniser predicts scores, not probabilities: use predict or "
                "predict_scores"
            )
        names = list(emotions) if emotions else self.trained_emotions
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate emotion names in {names}")
        if not self.model.uses_embeddings:
            new = [n for n in names if n not in self.trained_emotions]
            if new:
                log.warning(
                    "%s has no embeddings: %s get untrained output units",
                    self.config.model,
                    ", ".join(new),
                )
        s = self._as_split(data, split)
        self._check_dims(s)
        vectors, _ = emotion_vectors(self.config, names, isolated=False)  # quick repeat queries
        self.model.set_emotions(names, vectors)
        logits = predict_logits(
            self.model,
            TensorSplit.from_split(s, self.modalities),
            PREDICT_BATCH_SIZE,
            resolve_device(self.config.device),
            self.config.precision,
        )
        return sigmoid(logits), names, s.ids

    def predict_scores(
        self, data: Dataset | Split | Mapping[str, Any], split: str = "test"
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sentiment scores (N,) float32 (the model's output, trained towards [-3, 3]) and the
        sample ids (N,), for a recogniser trained on a sentiment dataset."""
        if self.task != "sentiment":
            raise ConfigError("predict_scores is for sentiment runs; use predict or predict_proba")
        s = self._as_split(data, split)
        self._check_dims(s)
        self._score_trained_emotions()
        logits = predict_logits(
            self.model,
            TensorSplit.from_split(s, self.modalities),
            PREDICT_BATCH_SIZE,
            resolve_device(self.config.device),
            self.config.precision,
        )
        return logits[:, 0], s.ids

    def predict(
        self,
        data: Dataset | Split | Mapping[str, Any],
        emotions: Sequence[str] | None = None,
        threshold: float | None = None,
        split: str = "test",
        as_frame: bool = True,
    ):
        """A table with one row per sample: ``id``, a probability column per emotion, and
        ``predicted`` (the emotions whose probability exceeds ``threshold``, ';'-joined).

        Returns a pandas DataFrame, or with ``as_frame=False`` a NumPy structured array with the
        same named columns.

        A sentiment recogniser gives ``id``, ``sentiment`` (the score) and ``predicted``
        (``positive`` when the score is > 0, ``negative`` when < 0, else ``neutral``);
        ``emotions`` and ``threshold`` do not apply to it.
        """
        if self.task == "sentiment":
            if emotions:
                raise ConfigError("a sentiment recogniser scores sentiment only; omit emotions")
            scores, ids = self.predict_scores(data, split)
            polarity = np.where(scores > 0, "positive", np.where(scores < 0, "negative", "neutral"))
            if as_frame:
                return pd.DataFrame({"id": ids, "sentiment": scores, "predicted": polarity})
            out = np.empty(
                len(ids), dtype=[("id", "U64"), ("sentiment", "f4"), ("predicted", "U8")]
            )
            out["id"], out["sentiment"], out["predicted"] = ids, scores, polarity
            return out
        probs, names, ids = self.predict_proba(data, emotions, split)
        if threshold is None:
            trained_thr = self.info.get("thresholds")
            if trained_thr and names == self.trained_emotions:
                thr = np.asarray(trained_thr, dtype=np.float64)
            else:
                thr = np.full(len(names), self.config.threshold)
        else:
            if not 0 < threshold < 1:
                raise ConfigError(f"threshold = {threshold}: must be in (0, 1)")
            thr = np.full(len(names), threshold)
        decided = probs > thr  # (N, K)
        predicted = [";".join(n for n, d in zip(names, row) if d) for row in decided]
        if as_frame:
            frame = pd.DataFrame(probs, columns=names)
            frame.insert(0, "id", ids)
            frame["predicted"] = predicted
            return frame
        dtype = [("id", "U64"), *((n, "f4") for n in names), ("predicted", "U256")]
        out = np.empty(len(ids), dtype=dtype)
        out["id"] = ids
        for k, n in enumerate(names):
            out[n] = probs[:, k]
        out["predicted"] = predicted
        return out


def load_input(path: str | Path, fmt: str = "auto") -> Dataset | dict[str, Any]:
    """A dataset (any supported format) or an ``.npz`` of arrays text/audio/vision[/ids]."""
    path = Path(path)
    if path.suffix == ".npz":
        if not path.is_file():
            raise DataFormatError(f"{path}: no such file")
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{path}: not a readable .npz file ({exc})") from None
    return load(str(path), format=fmt)


def _number(text: str) -> Any:
    """A history.csv cell as an int or float when it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text

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

A recogniser trained on data made by ``emotrans extract`` also scores raw clips
(:meth:`Recognizer.explain_clips`, :meth:`Recognizer.predict_clips`): each clip is extracted
exactly as the training data were (the run keeps the data's extraction record) and, for the
transferable model, every probability comes with its exact per-modality explanation:

>>> rec = emotrans.Recognizer.load("runs/voices")
>>> [p] = rec.explain_clips(["talk.mp4"], emotions=["bored", "proud", "anger"])
>>> p.probabilities["proud"], p.contributions["audio"]["proud"], p.fusion_weights
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emotrans.config import RunConfig
from emotrans.data import load
from emotrans.data.dataset import Dataset, Split
from emotrans.data.formats.native import read_manifest
from emotrans.errors import ConfigError, DataFormatError, EmotransError, MediaError, RunDirError
from emotrans.media.extractors.base import Clip
from emotrans.media.extractors.registry import from_description
from emotrans.media.io import probe
from emotrans.media.pipeline import (
    ClipResult,
    ExtractionSettings,
    extract_clips,
    settings_like,
)
from emotrans.models.base import EmotionModel
from emotrans.training.batches import TensorSplit
from emotrans.training.feature_arrays import check_arrays, read_npz
from emotrans.training.inference import (
    PREDICT_BATCH_SIZE,
    current_emotion_vectors,
    emotion_vectors,
    offsets_for,
    predict_logits,
    probabilities,
    resolve_device,
)
from emotrans.training.pipeline import fit_run
from emotrans.training.rundir import RunDir
from emotrans.training.runs import TrainedRun, load_extraction, load_run, save_run

log = logging.getLogger(__name__)

_UNSET: Any = object()

TRANSCRIPT_SOURCES = ("given", "aligned", "dataset", "automatic")
"""Where a clip's transcript came from: ``given`` (passed with the clip, e.g. ``--transcript``,
then force-aligned), ``aligned`` (a :class:`~emotrans.media.extractors.base.Clip`'s own
transcript, force-aligned), ``dataset`` (the clip's own word timing) or ``automatic`` (speech
recognition: may be wrong)."""


@dataclass
class ClipPrediction:
    """The scores of one clip for a list of emotion names, with their explanation.

    For the transferable model the explanation is exact: for every name k,

    ``logit[k] = bias + sum_m contributions[m][k]``, with
    ``contributions[m][k] = fusion_weights[m] * modality_scores[m][k]``, and
    ``probabilities[k] = sigmoid(logit[k])`` (the softmax over the names for a run trained
    with the softmax objective)

    (``bias`` is 0 for the emotion task: the model's logit is the weighted sum of the
    modalities' scores s_m = r_m . E_m,k). Models without per-modality scores (the baselines)
    give ``None`` for ``modality_scores``, ``fusion_weights`` and ``contributions``.

    Attributes
    ----------
    clip : the clip's name (its path as given)
    emotions : the names scored, in order
    probabilities : name -> probability in (0, 1)
    logits : name -> logit (the model's output before the sigmoid)
    ranking : the names by decreasing probability (the serve page draws them in this order;
        :meth:`Recognizer.predict`'s ``ranking`` column is the shift-corrected decision order)
    modality_scores : modality -> name -> s_m, or None
    fusion_weights : modality -> w_m, or None
    contributions : modality -> name -> w_m * s_m, or None
    bias : the constant added to the contributions (0.0 for emotions)
    trained_emotions : the names of ``emotions`` that were labels in training (the others are
        scored zero-shot through their embeddings)
    transcript : the words the text and alignment used (the given text, or what the dataset
        timing or speech recognition gave), or None when the run uses no words
    transcript_source : ``given``, ``aligned``, ``dataset``, ``automatic``
        (:data:`TRANSCRIPT_SOURCES`) or None
    seconds : wall time of this clip's extraction plus its share of the batch's scoring
    duration : the media's length in seconds (nan when the container does not say)
    """

    clip: str
    emotions: list[str]
    probabilities: dict[str, float]
    logits: dict[str, float]
    ranking: list[str]
    modality_scores: dict[str, dict[str, float]] | None
    fusion_weights: dict[str, float] | None
    contributions: dict[str, dict[str, float]] | None
    bias: float
    trained_emotions: list[str]
    transcript: str | None
    transcript_source: str | None
    seconds: float
    duration: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (a nan duration becomes None)."""
        out = asdict(self)
        if not math.isfinite(out["duration"]):
            out["duration"] = None
        return out


OnClipError = Callable[[str, MediaError], None]
"""``on_error(clip_name, error)``: called for a clip that cannot be processed, which is then
left out (instead of raising)."""


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
        extraction: dict[str, Any] | None = _UNSET,
    ) -> None:
        self.model = model
        self._config = config
        self.info = info
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._metrics = metrics
        self._history = history
        self._extraction = extraction
        self._lock = threading.Lock()  # scoring changes the model's emotion list
        trained = list(model.emotions) == self.trained_emotions
        self._trained_vectors = current_emotion_vectors(model) if trained else None
        # name -> embedding vector of every name scored so far: each is embedded once
        self._vectors: dict[str, np.ndarray] = {}
        if self._trained_vectors is not None and model.task == "emotion":
            self._vectors.update(zip(self.trained_emotions, self._trained_vectors))

    @classmethod
    def load(cls, run_dir: str | Path) -> Recognizer:
        """The recogniser of a finished run directory (written by ``emotrans train`` or
        :meth:`save`)."""
        cache: dict[str, np.ndarray] = {}
        model, config, info = load_run(run_dir, cache=cache)
        recognizer = cls(model, config, info, Path(run_dir))
        recognizer._vectors.update(cache)  # the run's cached vectors: no embedding source
        return recognizer

    @classmethod
    def from_run(cls, run: TrainedRun) -> Recognizer:
        """The recogniser of a run trained in memory (:func:`emotrans.training.fit_run`)."""
        return cls(
            run.model,
            run.config,
            run.info,
            metrics=run.metrics,
            history=run.history,
            extraction=run.extraction,
        )

    def save(self, run_dir: str | Path, overwrite: bool = False) -> Path:
        """Write a complete run directory (the layout ``emotrans train`` writes), atomically.

        ``emotrans evaluate RUN_DIR`` and ``emotrans predict RUN_DIR`` work on it, and
        :meth:`load` gives back a recogniser with the same predictions. A finished run at
        ``run_dir`` is replaced only with ``overwrite``.
        """
        if self.metrics is None:
            raise RunDirError(f"{run_dir}: this recogniser has no metrics to save")
        self._score_trained_emotions()
        run = TrainedRun(
            self.model, self.config, self.info, self.metrics, self.history, self.extraction
        )
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

    @property
    def extraction(self) -> dict[str, Any] | None:
        """How the training data were extracted from clips (``emotrans extract``'s record,
        kept in the run's extraction.json): extractors with versions and settings, alignment,
        T, standardisation statistics. None for data not made from clips (benchmark
        features such as COVAREP/FACET)."""
        if self._extraction is _UNSET:
            self._extraction = None
            if self.run_dir is not None:
                self._extraction = load_extraction(self.run_dir) or self._data_record()
        return self._extraction

    def _data_record(self) -> dict[str, Any] | None:
        """The extraction record of the training data file itself, for runs written before
        runs kept their own copy (None when the file is gone or has none)."""
        data = Path(self.config.data) if self.config.data else None
        if data is None or data.suffix != ".h5" or not data.is_file():
            return None
        try:
            return read_manifest(data).get("extraction") or None
        except (EmotransError, OSError, ValueError):
            return None

    @property
    def can_extract(self) -> bool:
        """Whether new clips can be scored: every modality the model uses came from a
        registered extractor of the recorded version that this installation can run."""
        try:
            self._clip_settings()
        except EmotransError:
            return False
        return True

    def _where(self) -> str:
        return str(self.run_dir) if self.run_dir is not None else "this recogniser"

    def _clip_settings(self) -> ExtractionSettings:
        """The settings that extract a new clip like the training data; a one-line error for a
        run that cannot score clips."""
        record = self.extraction
        if not record or not isinstance(record.get("extractors"), dict):
            raise RunDirError(
                f"{self._where()} was trained on benchmark features (COVAREP/FACET) that "
                "cannot be extracted from new clips; train on data made by `emotrans extract`"
            )
        if self.task != "emotion":
            raise ConfigError(
                f"{self._where()} is a {self.task} run; scoring clips needs an emotion run"
            )
        missing = [m for m in self.modalities if m not in record["extractors"]]
        if missing:
            raise RunDirError(
                f"{self._where()}: the model uses {', '.join(missing)}, which its data's "
                "extraction record does not name an extractor for"
            )
        for m in self.modalities:
            ext = from_description(record["extractors"][m])  # one line for another version
            if int(ext.dim) != int(self.info["dims"][m]):
                raise RunDirError(
                    f"{self._where()}: the {ext.name} extractor gives {ext.dim}-d {m} features "
                    f"but the model was trained on {self.info['dims'][m]}-d"
                )
        settings = settings_like(record)
        # only the model's modalities are extracted: the others' rows would not change these
        # (aligned rows follow the words, and T stays the recorded one)
        keep = {m: e for m, e in settings.extractors.items() if m in self.modalities}
        return replace(settings, extractors=keep)

    def _score_trained_emotions(self) -> None:
        """Set the model back to the emotions it was trained on (predict may change them)."""
        trained = self.trained_emotions
        if list(self.model.emotions) == trained:
            return
        vectors = self._trained_vectors
        if vectors is None and self.model.uses_embeddings:
            vectors, _ = emotion_vectors(self.config, trained, False, cache=self._vectors)
        self.model.set_emotions(trained, vectors)

    def _as_split(self, data: Dataset | Split | Mapping[str, Any], split: str) -> Split:
        if isinstance(data, Dataset):
            return data[split]
        if isinstance(data, Split):
            return data
        features, lengths, ids = check_arrays(data, self.modalities, self.info["dims"])
        n = len(ids)
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
        """Probabilities (N, K) of ``emotions`` (default: the trained ones), their names, ids.

        The probabilities follow the run's objective: one sigmoid per emotion for ``binary``
        (each in (0, 1), independent), the softmax over the requested names for ``softmax``
        (each row sums to 1, names never trained on included)."""
        logits, names, ids = self._logits(data, emotions, split)
        return probabilities(logits, self.objective), names, ids

    @property
    def objective(self) -> str:
        """The run's emotion objective, ``"binary"`` or ``"softmax"`` (RunConfig.objective)."""
        return str(self.info.get("objective") or self.config.objective)

    def untrained(self, names: Sequence[str]) -> list[str]:
        """Those of ``names`` the run was not trained on (scored zero-shot)."""
        trained = set(self.trained_emotions)
        return [n for n in names if n not in trained]

    def decision_scores(self, logits: np.ndarray, names: Sequence[str]) -> np.ndarray:
        """Scores (N, K) whose order within a row is the run's ranking of ``names``: the
        logits less the binary objective's shifts log(pos_weight_k) (model.json
        ``logit_offsets``; a name not trained on gets the trained emotions' mean shift), or
        the logits themselves for the softmax objective and runs without offsets."""
        offsets = offsets_for(self.info, list(names))
        return logits if offsets is None else logits - offsets[None, :]

    def _logits(
        self,
        data: Dataset | Split | Mapping[str, Any],
        emotions: Sequence[str] | None = None,
        split: str = "test",
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Logits (N, K) of ``emotions`` (default: the trained ones), their names, ids."""
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
        vectors, _ = emotion_vectors(self.config, names, False, cache=self._vectors)
        self.model.set_emotions(names, vectors)
        logits = predict_logits(
            self.model,
            TensorSplit.from_split(s, self.modalities),
            PREDICT_BATCH_SIZE,
            resolve_device(self.config.device),
            self.config.precision,
        )
        return logits, names, s.ids

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
        """A table with one row per sample: ``id``, a probability column per emotion,
        ``predicted`` (the emotions whose probability exceeds ``threshold``, ';'-joined) and
        ``ranking`` (every requested name, best first, ';'-joined: the order of
        :meth:`decision_scores`, whose first name is the single-label decision).

        Probabilities are the run objective's (:meth:`predict_proba`: sigmoids, or a softmax
        over the requested names). Which names the run was trained on is in
        ``frame.attrs["trained_emotions"]`` and ``frame.attrs["untrained_emotions"]`` (the
        others, scored zero-shot through their embeddings).

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
        logits, names, ids = self._logits(data, emotions, split)
        probs = probabilities(logits, self.objective)
        order = np.argsort(-self.decision_scores(logits, names), axis=1, kind="stable")  # (N, K)
        ranking = [";".join(names[k] for k in row) for row in order]
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
            frame["ranking"] = ranking
            frame.attrs["trained_emotions"] = [n for n in names if n in self.trained_emotions]
            frame.attrs["untrained_emotions"] = self.untrained(names)
            return frame
        width = max(8, sum(len(n) + 1 for n in names))
        dtype = [
            ("id", "U64"),
            *((n, "f4") for n in names),
            ("predicted", "U256"),
            ("ranking", f"U{width}"),
        ]
        out = np.empty(len(ids), dtype=dtype)
        out["id"] = ids
        for k, n in enumerate(names):
            out[n] = probs[:, k]
        out["predicted"] = predicted
        out["ranking"] = ranking
        return out

    # -- raw clips ------------------------------------------------------------------------------

    def explain_clips(
        self,
        clips: str | Path | Clip | Iterable[str | Path | Clip],
        emotions: Sequence[str] | None = None,
        transcripts: str | Sequence[str | None] | Mapping[str, str] | None = None,
        *,
        on_error: OnClipError | None = None,
        workers: int = 1,
        cache_dir: str | Path | None = None,
    ) -> list[ClipPrediction]:
        """Score raw clips for any emotion names, with each modality's part in every score.

        Each clip is extracted exactly as the training data were (the run's extraction record:
        extractors, versions, settings, word timing, alignment, T and standardisation; the
        same code as ``emotrans extract --like``), then scored in one batch.

        Parameters
        ----------
        clips : media paths (mp4, mkv, webm, avi, wav, flac, mp3, ...) or
            :class:`~emotrans.media.extractors.base.Clip` objects (with start, end, transcript
            or word timing), or one of them
        emotions : the names to score (default: the trained ones); the transferable model
            scores names never seen in training through their embeddings
        transcripts : the spoken text, force-aligned instead of recognised: one string for a
            single clip, one entry per clip (None: recognise), or a mapping from a clip's path
            as given, its file name or its stem to the text
        on_error : called as ``on_error(name, error)`` for a clip that cannot be processed,
            which is then left out; by default the first such clip raises
        workers : clips extracted at once, each in its own spawned process (1: one after
            the other, in this process, whose extractor models stay loaded between calls)
        cache_dir : a folder of extracted features (as ``emotrans extract --cache``): a clip
            extracted before with the same extractors and settings is read back, not
            extracted again (None: no cache)

        Returns
        -------
        list of :class:`ClipPrediction`, in the order of ``clips``.

        Raises
        ------
        RunDirError, ConfigError : the run was trained on features that cannot be extracted
            from clips (benchmark COVAREP/FACET features), or on sentiment
        MediaError : a clip that cannot be processed (one line naming the file), unless
            ``on_error`` is given. A clip without video for a run that uses vision is one: the
            model's fusion weights were learnt with every modality present, so dropping one
            would give scores the model was never trained to give.
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a whole number >= 1, not {workers!r}")
        settings = self._clip_settings()
        items = _as_clips(clips, transcripts)
        names = self._names(emotions)
        ready: list[tuple[str, Clip, str | None, float, float]] = []
        for name, clip, source in items:
            start = time.perf_counter()
            try:
                info = probe(clip.path)
                if "vision" in self.modalities and not info.has_video:
                    raise MediaError(
                        f"{clip.path}: no video stream, but {self._where()} uses vision; give "
                        "a video with a face, or use a run trained without vision "
                        "(emotrans train --modalities ta)"
                    )
            except MediaError as exc:
                if on_error is None:
                    raise
                on_error(name, exc)
                continue
            duration = info.duration
            if clip.start is not None or clip.end is not None:
                end = duration if clip.end is None else min(clip.end, duration)
                duration = end - (clip.start or 0.0)
            ready.append((name, clip, source, duration, time.perf_counter() - start))
        if not ready:
            return []
        clip_of = [clip for _, clip, _, _, _ in ready]

        def failure(result: ClipResult) -> MediaError:
            path = clip_of[result.index].path
            error = result.error or ""
            return MediaError(
                f"{error if path in error else f'{path}: {error}'} (at {result.stage})"
            )

        def fail_fast(result: ClipResult) -> None:
            if result.error is not None and on_error is None:
                raise failure(result)  # stops the extraction of the others

        split, results = extract_clips(
            clip_of, settings, cache_dir=cache_dir, workers=workers, on_result=fail_fast
        )
        done: list[tuple[str, str | None, str | None, float, float]] = []
        for (name, clip, source, duration, probed), result in zip(ready, results, strict=True):
            if result.error is not None:
                assert on_error is not None
                on_error(name, failure(result))
                continue
            if result.timing is None:
                transcript, source = None, None
            elif result.timing == "aligned":
                transcript = clip.transcript
            else:
                transcript, source = " ".join(result.tokens), result.timing
            done.append((name, transcript, source, probed + result.seconds, duration))
        if not done:
            return []
        start = time.perf_counter()
        logits, scores, weights = self._explain(split, names)
        share = (time.perf_counter() - start) / len(done)
        trained = set(self.info.get("trained_emotions") or self.trained_emotions)
        out = []
        for i, (name, transcript, source, seconds, duration) in enumerate(done):
            row = logits[i].astype(np.float64)
            probs = probabilities(row[None, :], self.objective)[0]
            contributions = None
            if scores is not None and weights is not None:
                contributions = {
                    m: _named(names, weights[m] * scores[m][i]) for m in self.modalities
                }
            out.append(
                ClipPrediction(
                    clip=name,
                    emotions=list(names),
                    probabilities=_named(names, probs),
                    logits=_named(names, row),
                    ranking=[names[k] for k in np.argsort(-probs, kind="stable")],
                    modality_scores=None
                    if scores is None
                    else {m: _named(names, scores[m][i]) for m in self.modalities},
                    fusion_weights=None if weights is None else dict(weights),
                    contributions=contributions,
                    bias=0.0,
                    trained_emotions=[n for n in names if n in trained],
                    transcript=transcript,
                    transcript_source=source,
                    seconds=seconds + share,
                    duration=float(duration),
                )
            )
        return out

    def predict_clips(
        self,
        clips: str | Path | Clip | Iterable[str | Path | Clip],
        emotions: Sequence[str] | None = None,
        transcripts: str | Sequence[str | None] | Mapping[str, str] | None = None,
        *,
        on_error: OnClipError | None = None,
        workers: int = 1,
        cache_dir: str | Path | None = None,
    ) -> pd.DataFrame:
        """:meth:`explain_clips` as a table, one row per clip: ``clip``, one probability column
        per emotion, then (transferable model) ``<emotion>@<modality>`` with each modality's
        score s_m and ``weight@<modality>`` with its fusion weight w_m (the logit is
        ``sum_m w_m s_m``), then ``transcript``, ``transcript_source``, ``duration`` and
        ``seconds``."""
        preds = self.explain_clips(
            clips, emotions, transcripts, on_error=on_error, workers=workers, cache_dir=cache_dir
        )
        return clip_frame(preds, self._names(emotions), self.modalities)

    def _names(self, emotions: Sequence[str] | None) -> list[str]:
        names = [str(e).strip() for e in emotions] if emotions else self.trained_emotions
        if not all(names):
            raise ConfigError("an empty emotion name")
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate emotion names in {names}")
        return names

    def _explain(
        self, split: Split, names: list[str]
    ) -> tuple[np.ndarray, dict[str, np.ndarray] | None, dict[str, float] | None]:
        """Logits (N, K), the per-modality scores s_m (modality -> (N, K)) and the fusion
        weights w_m of ``split`` (the last two None for models without them)."""
        import torch

        from emotrans.training.inference import autocast_context

        self._check_dims(split)
        with self._lock:
            if not self.model.uses_embeddings:
                new = [n for n in names if n not in self.trained_emotions]
                if new:
                    log.warning(
                        "%s has no embeddings: %s get untrained output units",
                        self.config.model,
                        ", ".join(new),
                    )
            vectors, _ = emotion_vectors(self.config, names, False, cache=self._vectors)
            self.model.set_emotions(names, vectors)
            device = resolve_device(self.config.device)
            data = TensorSplit.from_split(split, self.modalities)
            was_training = self.model.training
            self.model.eval()
            logits, scores = [], []
            try:
                with torch.no_grad(), autocast_context(self.config.precision, device):
                    for feats, lens, _ in data.batches(PREDICT_BATCH_SIZE, device=device):
                        logits.append(self.model(feats, lens).float().cpu())  # (B, K)
                        s = self.model.modality_scores(feats, lens)  # modality -> (B, K)
                        scores.append(
                            None if s is None else {m: x.float().cpu() for m, x in s.items()}
                        )
            finally:
                self.model.train(was_training)
            weights_of = getattr(self.model, "fusion_weights", None)
            weights = weights_of() if callable(weights_of) and scores[0] is not None else None
        out = torch.cat(logits).numpy()
        if weights is None:
            return out, None, None
        per = {m: torch.cat([b[m] for b in scores]).numpy() for m in self.modalities}
        return out, per, weights


def clip_frame(
    preds: Sequence[ClipPrediction], emotions: Sequence[str], modalities: Sequence[str]
) -> pd.DataFrame:
    """The table of :meth:`Recognizer.predict_clips` from its predictions."""
    rows = []
    for p in preds:
        row: dict[str, Any] = {"clip": p.clip}
        row.update({n: p.probabilities[n] for n in emotions})
        if p.modality_scores is not None and p.fusion_weights is not None:
            for m in modalities:
                row.update({f"{n}@{m}": p.modality_scores[m][n] for n in emotions})
            row.update({f"weight@{m}": p.fusion_weights[m] for m in modalities})
        row.update(
            transcript=p.transcript,
            transcript_source=p.transcript_source,
            duration=p.duration,
            seconds=p.seconds,
        )
        rows.append(row)
    columns = ["clip", *emotions]
    if rows and any("@" in k for k in rows[0]):
        columns += [f"{n}@{m}" for m in modalities for n in emotions]
        columns += [f"weight@{m}" for m in modalities]
    columns += ["transcript", "transcript_source", "duration", "seconds"]
    return pd.DataFrame(rows, columns=columns)


def _named(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values)}


def _as_clips(
    clips: Any, transcripts: str | Sequence[str | None] | Mapping[str, str] | None
) -> list[tuple[str, Clip, str | None]]:
    """(name, clip, transcript source) per clip, the transcripts attached."""
    items = [clips] if isinstance(clips, str | Path | Clip) else list(clips)
    if not items:
        raise ConfigError("no clips given")
    given: list[str | None]
    if transcripts is None:
        given = [None] * len(items)
    elif isinstance(transcripts, str):
        if len(items) != 1:
            raise ConfigError(
                f"one transcript for {len(items)} clips: give one per clip (a list or mapping)"
            )
        given = [transcripts]
    elif isinstance(transcripts, Mapping):
        given = []
        for c in items:
            path = Path(c.path if isinstance(c, Clip) else c)
            keys = (str(c.path if isinstance(c, Clip) else c), path.name, path.stem)
            given.append(next((transcripts[k] for k in keys if k in transcripts), None))
    else:
        given = list(transcripts)
        if len(given) != len(items):
            raise ConfigError(f"{len(given)} transcripts for {len(items)} clips")
    out = []
    for c, text in zip(items, given):
        text = text.strip() if isinstance(text, str) and text.strip() else None
        if isinstance(c, Clip):
            name = str(c.path)
            if text is not None:
                out.append((name, replace(c, transcript=text, words=None), "given"))
            else:
                out.append((name, c, "aligned"))  # its own transcript, if any, is aligned
        else:
            out.append((str(c), Clip(str(c), transcript=text), "given"))
    return out


def load_input(path: str | Path, fmt: str = "auto") -> Dataset | dict[str, Any]:
    """A dataset (any supported format) or an ``.npz`` of arrays text/audio/vision[/ids]."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return read_npz(path)  # checked against the model by check_arrays when scored
    return load(str(path), format=fmt)


def _number(text: str) -> Any:
    """A history.csv cell as an int or float when it is one."""
    for kind in (int, float):
        try:
            return kind(text)
        except (TypeError, ValueError):
            pass
    return text

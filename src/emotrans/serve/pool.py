"""The scoring workers: a bounded pool of processes, each holding its own recogniser.

**Why processes, not threads.** Scoring a clip is CPU-bound (decoding, openSMILE, the face
landmarker, speech recognition, the sentence model, the network). Most of it runs in native
code that would release the GIL, but the extractors keep one instance of each native model per
process (a MediaPipe landmarker, a LiteRT interpreter, a pocketsphinx decoder), which must not
be called from two threads at once; and the recogniser sets the emotion names on its model for
each request. Separate processes score in parallel with no shared state, and a crash in native
code on a strange file takes down one worker, not the service. The price is memory (each
worker loads the run and the extractors' models) and a start-up of a few seconds per worker,
paid once: workers are started with ``spawn`` (forking after models are loaded can hang) and
warmed up before the service answers.

**Admission.** At most ``workers`` requests are scored and ``queue`` more wait; a request past
that is refused at once (503 with a Retry-After estimate) before its upload is read, so an
overloaded service sheds load cheaply.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emotrans.errors import EmotransError, MediaError
from emotrans.media.io import probe
from emotrans.recognizer import Recognizer
from emotrans.serve.problems import ClipTooLong, RequestError

log = logging.getLogger(__name__)

_REC: Recognizer | None = None  # the recogniser of this worker process


def example_clip() -> Path:
    """The example clip shipped with the package (see ``static/EXAMPLE.md``)."""
    return Path(str(resources.files("emotrans.serve") / "static" / "example.mp4"))


def _init_worker(run_dir: str, threads: int, warm_up: bool) -> None:
    """A worker's start: load the run once; optionally score the example clip, which loads
    every extractor's models."""
    global _REC
    import torch

    torch.set_num_threads(max(1, threads))
    _REC = Recognizer.load(run_dir)
    if warm_up and _REC.can_extract:
        try:
            _REC.explain_clips([example_clip()])
        except EmotransError as exc:  # the run may need what the example lacks
            log.warning("warm-up on the example clip failed: %s", exc)


def _ready() -> int:
    return os.getpid()


def _recognizer() -> Recognizer:
    if _REC is None:
        raise RuntimeError("the worker has no recogniser (its initialiser did not run)")
    return _REC


def score_clip(
    path: str, name: str, emotions: list[str] | None, transcript: str | None, max_seconds: float
) -> dict[str, Any]:
    """In a worker: a clip's :class:`~emotrans.recognizer.ClipPrediction` as a dict, its
    ``clip`` the client's ``name``; every error message names ``name``, not the private path.

    Raises
    ------
    ClipTooLong : past ``max_seconds``, or of a length the container does not state
    MediaError, EmotransError : what the recogniser refuses
    """
    rec = _recognizer()
    try:
        info = probe(path)
        if not math.isfinite(info.duration):
            raise ClipTooLong(
                f"{name}: the container does not state the clip's length, so the limit of "
                f"{max_seconds:g} s cannot be checked (remux it: ffmpeg -i IN -c copy OUT.mp4)"
            )
        if info.duration > max_seconds:
            raise ClipTooLong(
                f"{name}: clip of {info.duration:.1f} s is longer than the limit of "
                f"{max_seconds:g} s"
            )
        [pred] = rec.explain_clips([path], emotions, transcript)
    except EmotransError as exc:
        raise _renamed(exc, path, name) from None
    out = pred.to_dict()
    out["clip"] = name
    return out


def _renamed(exc: EmotransError, path: str, name: str) -> EmotransError:
    message = str(exc).replace(path, name)
    if isinstance(exc, RequestError):
        return RequestError(exc.status, message.replace(path, name), exc.headers)
    try:
        return type(exc)(message)
    except TypeError:
        return MediaError(message)


def score_features(
    features: Mapping[str, list[list[float]]], emotions: list[str] | None
) -> dict[str, Any]:
    """In a worker: the probabilities of one sample of pre-extracted features.

    ``features`` maps each of the model's modalities to its (T_m, D_m) rows (all-zero rows
    are padding, as in the datasets); returns ``emotions``, ``probabilities`` (name ->
    probability) and ``ranking``.
    """
    rec = _recognizer()
    arrays: dict[str, Any] = {}
    for m, rows in features.items():
        x = np.asarray(rows, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] == 0:
            raise RequestError(
                422, f"features[{m!r}] must be a non-empty list of rows (T, D), got shape {x.shape}"
            )
        arrays[m] = x[None]  # (1, T, D)
    probs, names, _ = rec.predict_proba(arrays, emotions or None)
    row = [float(p) for p in probs[0]]
    order = sorted(range(len(names)), key=lambda k: -row[k])
    return {
        "emotions": list(names),
        "probabilities": dict(zip(names, row)),
        "ranking": [names[k] for k in order],
    }


class WorkerPool:
    """``workers`` scoring processes with an admission limit of ``workers + queue`` requests.

    Use :meth:`slot` around a whole request (before reading its body) and :meth:`call` to run
    :func:`score_clip` or :func:`score_features` in a worker. Admission bookkeeping lives on the
    event loop's thread (no lock is needed).
    """

    def __init__(
        self,
        run_dir: str | Path,
        workers: int = 1,
        queue: int = 8,
        threads: int = 0,
        warm_up: bool = True,
    ) -> None:
        self.run_dir = str(run_dir)
        self.workers = workers
        self.queue = queue
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.warm_up = warm_up
        self.admitted = 0  # requests inside a slot (being received, waiting or scored)
        self.running = 0  # requests whose job a worker is on (or queued in the executor)
        self._mean_seconds = 1.0
        self._executor: ProcessPoolExecutor | None = None

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.run_dir, self.threads, self.warm_up),
        )

    async def start(self) -> None:
        """Start every worker and wait until each has loaded the run (and warmed up)."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        pids = await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ready) for _ in range(self.workers))
        )
        log.info("%d scoring workers ready (pids %s)", self.workers, sorted(set(pids)))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the mean request time times the requests
        ahead per worker (at least 1)."""
        ahead = max(1, self.admitted - self.workers + 1)
        return max(1, math.ceil(self._mean_seconds * ahead / self.workers))

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Admit one request, or refuse it with 503 and Retry-After when the pool is full."""
        if self.admitted >= self.capacity:
            raise RequestError(
                503,
                f"busy: {self.workers} worker(s) and a queue of {self.queue} are full; retry later",
                {"Retry-After": str(self.retry_after())},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def call(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a worker; a crashed worker restarts the pool and answers 500."""
        if self._executor is None:
            raise RuntimeError("the worker pool is not started")
        start = time.perf_counter()
        self.running += 1
        try:
            return await asyncio.wrap_future(self._executor.submit(fn, *args))
        except BrokenProcessPool:
            log.error("a scoring worker died; restarting the pool")
            broken, self._executor = self._executor, self._new_executor()
            broken.shutdown(wait=False, cancel_futures=True)
            raise RequestError(500, "the scoring worker crashed on this request") from None
        finally:
            self.running -= 1
            took = time.perf_counter() - start
            self._mean_seconds = 0.8 * self._mean_seconds + 0.2 * took

    def status(self) -> dict[str, int]:
        return {
            "workers": self.workers,
            "queue": self.queue,
            "admitted": self.admitted,
            "running": min(self.running, self.workers),
            "waiting": max(0, self.admitted - min(self.running, self.workers)),
        }


def as_names(spec: str | Sequence[str] | None, limit: int) -> list[str] | None:
    """Emotion names from a comma-separated string or a list (None or empty: the trained
    ones); 422 for an empty or repeated name, or more than ``limit`` names."""
    if spec is None:
        return None
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(n).strip() for n in items]
    if isinstance(spec, str) and not spec.strip():
        return None
    if not names:
        return None
    if not all(names):
        raise RequestError(422, f"an empty emotion name in {spec!r}")
    long = [n for n in names if len(n) > 64]
    if long:
        raise RequestError(422, f"emotion name {long[0][:64]!r}... is longer than 64 characters")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RequestError(422, f"emotion names given twice: {', '.join(repeated)}")
    if len(names) > limit:
        raise RequestError(422, f"{len(names)} emotion names: at most {limit} per request")
    return names

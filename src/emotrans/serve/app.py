"""The ASGI application of ``emotrans serve``: a JSON API over a trained run and its one page.

=================================  =========================================================
``GET /``                          the page (upload a clip or take the example, type names)
``GET /api/health``                liveness and the pool's load
``GET /api/info``                  the run: model, modalities, trained emotions, extractors,
                                   the service's limits
``POST /api/predict``              multipart: ``clip`` (a file), ``emotions`` (comma-separated,
                                   default the trained ones), ``transcript`` (optional): the
                                   clip's scores with each modality's contribution
``POST /api/predict/features``     JSON: one sample of pre-extracted features per modality
                                   and the names: their probabilities
``GET /docs``, ``/openapi.json``   the OpenAPI description
=================================  =========================================================

Every refusal is a 4xx (or 503 when busy) with ``{"detail": "<one line>"}``. Request bodies
are read here as streams with a size limit (so they are documented through ``openapi_extra``
rather than parsed by the framework): an upload goes to disk in chunks inside a private
folder (mode 0700) that is removed when the request ends, whatever happened.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError

from emotrans.errors import ConfigError, DataFormatError, EmbeddingError, EmotransError
from emotrans.recognizer import TRANSCRIPT_SOURCES, Recognizer
from emotrans.serve.pool import WorkerPool, as_names, score_clip, score_features
from emotrans.serve.problems import ClipTooLong, RequestError
from emotrans.serve.settings import ServeSettings
from emotrans.serve.uploads import CONTAINERS, check_clip, receive_form
from emotrans.version import __version__

log = logging.getLogger(__name__)

STATIC = ("index.html", "app.js", "style.css", "example.mp4")
"""The page's files, package data in ``emotrans/serve/static``."""

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".mp4": "video/mp4",
}


class Problem(BaseModel):
    """A refusal: one line saying what is wrong and what to do."""

    detail: str


class Health(BaseModel):
    status: str = Field(description="'ok' while the service answers")
    workers: int = Field(description="scoring processes")
    queue: int = Field(description="requests that may wait beyond the workers")
    admitted: int = Field(description="requests being received, waiting or scored now")
    running: int = Field(description="requests a worker is scoring now")
    waiting: int = Field(description="admitted requests not yet with a worker")


class Limits(BaseModel):
    max_upload_mb: float = Field(description="largest request body, MiB (413 past it)")
    max_seconds: float = Field(description="longest clip, seconds (413 past it)")
    max_emotions: int = Field(description="most emotion names in one request")
    workers: int
    queue: int
    containers: list[str] = Field(description="accepted media containers (sniffed bytes)")


class Info(BaseModel):
    version: str = Field(description="emotrans version")
    run: str = Field(description="the run directory served")
    model: str = Field(description="the model (transferable scores any emotion name)")
    task: str
    modalities: list[str]
    trained_emotions: list[str]
    embeddings: str = Field(description="the emotion-embedding source of new names")
    can_extract: bool = Field(description="whether raw clips can be scored (/api/predict)")
    explains: bool = Field(description="whether scores come with per-modality contributions")
    extractors: dict[str, str] = Field(description="modality -> extractor name and version")
    limits: Limits


class ClipResult(BaseModel):
    """A clip's scores: for the transferable model the logit of every name is exactly
    ``bias + sum_m contributions[m][name]`` with ``contributions[m][name] =
    fusion_weights[m] * modality_scores[m][name]``, and ``probabilities[name] =
    sigmoid(logit)``."""

    clip: str = Field(description="the uploaded file's name")
    emotions: list[str]
    probabilities: dict[str, float]
    logits: dict[str, float]
    ranking: list[str] = Field(description="the names by decreasing probability")
    modality_scores: dict[str, dict[str, float]] | None
    fusion_weights: dict[str, float] | None
    contributions: dict[str, dict[str, float]] | None
    bias: float
    trained_emotions: list[str] = Field(description="names that were training labels")
    new_emotions: list[str] = Field(description="names scored zero-shot by their embeddings")
    transcript: str | None
    transcript_source: str | None = Field(description=" | ".join(TRANSCRIPT_SOURCES))
    duration: float | None = Field(description="the clip's length, seconds")
    seconds: float = Field(description="extraction and scoring time of the clip, seconds")
    request_seconds: float = Field(description="the whole request on the server, seconds")


class FeaturesRequest(BaseModel):
    """One sample of pre-extracted features: each of the model's modalities as (T, D) rows
    (all-zero rows are padding), and the names to score (default: the trained ones)."""

    features: dict[str, list[list[float]]]
    emotions: list[str] | None = None


class FeaturesResult(BaseModel):
    emotions: list[str]
    probabilities: dict[str, float]
    ranking: list[str]
    trained_emotions: list[str]
    new_emotions: list[str]
    request_seconds: float


_ERRORS = {
    400: {"model": Problem, "description": "malformed request or empty file"},
    413: {"model": Problem, "description": "upload or clip past the limits"},
    415: {"model": Problem, "description": "not a media container / not multipart"},
    422: {"model": Problem, "description": "undecodable clip, unknown emotion name"},
    503: {"model": Problem, "description": "busy: retry after Retry-After seconds"},
}

_MULTIPART_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["clip"],
                "properties": {
                    "clip": {"type": "string", "format": "binary", "description": "the clip"},
                    "emotions": {
                        "type": "string",
                        "description": "comma-separated names (default: the trained ones)",
                        "example": "happy,sad,bored,proud",
                    },
                    "transcript": {
                        "type": "string",
                        "description": "what is said (default: speech recognition)",
                    },
                },
            }
        }
    },
}


def _status_of(exc: EmotransError) -> int:
    if isinstance(exc, RequestError):
        return exc.status
    if isinstance(exc, ClipTooLong):
        return 413
    if isinstance(exc, EmbeddingError | ConfigError | DataFormatError):
        return 422
    return 422  # MediaError and the rest: the input cannot be processed


def create_app(recognizer: Recognizer, settings: ServeSettings | None = None) -> FastAPI:
    """The service over ``recognizer`` (loaded from its run directory, which each worker
    loads again).

    The worker pool starts with the application (its lifespan) and stops with it; the private
    upload folder is made at start and removed at the end.
    """
    settings = settings or ServeSettings()
    if recognizer.run_dir is None:
        raise ConfigError("serve needs a recogniser saved to a run directory")
    pool = WorkerPool(
        recognizer.run_dir, settings.workers, settings.queue, settings.threads, settings.warm_up
    )
    state: dict[str, Path] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["uploads"] = Path(tempfile.mkdtemp(prefix="emotrans-serve-", dir=settings.tmp_dir))
        try:
            await pool.start()
            yield
        finally:
            pool.close()
            shutil.rmtree(state["uploads"], ignore_errors=True)

    app = FastAPI(
        title="emotrans",
        version=__version__,
        summary="Multimodal emotion recognition for any emotion name, with each modality's "
        "part in every score",
        lifespan=lifespan,
    )
    app.state.pool = pool
    app.state.settings = settings
    app.state.uploads = lambda: state.get("uploads")
    trained = set(recognizer.info.get("trained_emotions") or recognizer.trained_emotions)
    explains = callable(getattr(recognizer.model, "fusion_weights", None))

    @app.exception_handler(EmotransError)
    async def _refused(request: Request, exc: EmotransError) -> JSONResponse:
        status = _status_of(exc)
        message = " ".join(str(exc).split())
        if status >= 500 and status != 503:
            log.error("%s %s: %s", request.method, request.url.path, message)
        headers = exc.headers if isinstance(exc, RequestError) else None
        return JSONResponse({"detail": message}, status_code=status, headers=headers)

    @app.get("/api/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        """Liveness and the worker pool's load."""
        return Health(status="ok", **pool.status())

    @app.get("/api/info", response_model=Info, tags=["service"])
    async def info() -> Info:
        """The run served and the limits of this service."""
        record = recognizer.extraction or {}
        extractors = {
            m: f"{d.get('name')} {d.get('version')}"
            for m, d in (record.get("extractors") or {}).items()
            if m in recognizer.modalities
        }
        return Info(
            version=__version__,
            run=str(recognizer.run_dir),
            model=recognizer.config.model,
            task=recognizer.task,
            modalities=list(recognizer.modalities),
            trained_emotions=recognizer.trained_emotions,
            embeddings=str(recognizer.config.embeddings),
            can_extract=recognizer.can_extract,
            explains=explains,
            extractors=extractors,
            limits=Limits(
                max_upload_mb=settings.max_upload_mb,
                max_seconds=settings.max_seconds,
                max_emotions=settings.max_emotions,
                workers=settings.workers,
                queue=settings.queue,
                containers=list(CONTAINERS),
            ),
        )

    @app.post(
        "/api/predict",
        response_model=ClipResult,
        responses=_ERRORS,
        tags=["predict"],
        openapi_extra={"requestBody": _MULTIPART_BODY},
    )
    async def predict(request: Request) -> ClipResult:
        """Score an uploaded clip (mp4, webm, mkv, avi, mov, wav, flac, mp3, ogg) for any
        emotion names, with each modality's contribution.

        `curl -F clip=@talk.mp4 -F emotions=happy,bored,proud http://127.0.0.1:8000/api/predict`
        """
        start = time.perf_counter()
        with pool.slot():
            _check_length(request, settings)
            folder = Path(tempfile.mkdtemp(prefix="req-", dir=state["uploads"]))
            try:
                form = await receive_form(
                    request.stream(),
                    request.headers.get("content-type", ""),
                    folder,
                    settings.max_upload_bytes,
                )
                upload = form.files.get("clip")
                if upload is None:
                    raise RequestError(400, "the form has no file field 'clip'")
                check_clip(upload)
                names = as_names(form.fields.get("emotions"), settings.max_emotions)
                transcript = (form.fields.get("transcript") or "").strip() or None
                result = await pool.call(
                    score_clip,
                    str(upload.path),
                    upload.filename,
                    names,
                    transcript,
                    settings.max_seconds,
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        return ClipResult(
            **result,
            new_emotions=[n for n in result["emotions"] if n not in trained],
            request_seconds=time.perf_counter() - start,
        )

    @app.post(
        "/api/predict/features",
        response_model=FeaturesResult,
        responses=_ERRORS,
        tags=["predict"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": FeaturesRequest.model_json_schema()}},
            }
        },
    )
    async def predict_features(request: Request) -> FeaturesResult:
        """Score one sample of pre-extracted features (as in the run's training data) for any
        emotion names."""
        start = time.perf_counter()
        with pool.slot():
            _check_length(request, settings)
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > settings.max_upload_bytes:
                    raise RequestError(
                        413, f"the body is larger than the limit of {settings.max_upload_mb:g} MiB"
                    )
            try:
                req = FeaturesRequest.model_validate_json(bytes(body))
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "body"
                raise RequestError(422, f"{where}: {first.get('msg')}") from None
            missing = [m for m in recognizer.modalities if m not in req.features]
            if missing:
                raise RequestError(
                    422,
                    f"features: no {', '.join(missing)} (the model uses "
                    f"{', '.join(recognizer.modalities)})",
                )
            names = as_names(req.emotions, settings.max_emotions)
            features = {m: req.features[m] for m in recognizer.modalities}
            result = await pool.call(score_features, features, names)
        return FeaturesResult(
            **result,
            trained_emotions=[n for n in result["emotions"] if n in trained],
            new_emotions=[n for n in result["emotions"] if n not in trained],
            request_seconds=time.perf_counter() - start,
        )

    def _static(name: str) -> FileResponse:
        path = Path(str(resources.files("emotrans.serve") / "static" / name))
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES[path.suffix],
            headers={"Cache-Control": "no-cache"},
        )

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return _static("index.html")

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in STATIC:
            raise RequestError(404, f"no static file {name!r}")
        return _static(name)

    return app


def _check_length(request: Request, settings: ServeSettings) -> None:
    """413 at once when the declared body is past the limit (before reading it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise RequestError(
            413,
            f"the upload ({int(declared) / 2**20:.1f} MiB) is larger than the limit of "
            f"{settings.max_upload_mb:g} MiB",
        )


def run_server(recognizer: Recognizer, settings: ServeSettings) -> None:
    """Serve until interrupted (uvicorn, one event loop; the scoring runs in the workers)."""
    import uvicorn

    app = create_app(recognizer, settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

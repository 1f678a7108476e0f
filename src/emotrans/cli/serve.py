"""``emotrans serve``: the HTTP service and web page over a trained run (emotrans.serve)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

from emotrans.errors import ConfigError
from emotrans.serve.settings import ServeSettings, is_loopback

log = logging.getLogger(__name__)

_DEFAULTS = ServeSettings()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a trained run over HTTP: a JSON API and a web page",
        description="Serve RUN over HTTP: a JSON API (score an uploaded clip or pre-extracted "
        "features for any emotion names, with each modality's contribution), OpenAPI docs at "
        "/docs and a web page at /. Listens on loopback only unless --host says otherwise. "
        'Needs the serve extra: pip install "emotrans[serve]" (and "emotrans[media]" to '
        "score clips).",
    )
    p.add_argument("run_dir", metavar="RUN", help="a finished run directory")
    p.add_argument(
        "--host",
        default=_DEFAULTS.host,
        help=f"address to listen on (default {_DEFAULTS.host}: this machine only)",
    )
    p.add_argument(
        "--port", type=int, default=_DEFAULTS.port, help="TCP port (default %(default)s)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=_DEFAULTS.workers,
        metavar="N",
        help="scoring processes, each with its own copy of the models (default %(default)s)",
    )
    p.add_argument(
        "--queue",
        type=int,
        default=_DEFAULTS.queue,
        metavar="N",
        help="requests that may wait for a worker; more are answered 503 (default %(default)s)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=_DEFAULTS.max_upload_mb,
        metavar="MB",
        help="largest upload in MiB (default %(default)s)",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=_DEFAULTS.max_seconds,
        metavar="S",
        help="longest clip in seconds (default %(default)s)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=_DEFAULTS.threads,
        metavar="N",
        help="CPU threads per worker (default 0: the cores divided among the workers)",
    )
    p.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    missing = [m for m in ("fastapi", "uvicorn", "python_multipart") if not _installed(m)]
    if missing:
        raise ConfigError(f'serve needs {", ".join(missing)}: pip install "emotrans[serve]"')
    settings = ServeSettings(
        host=args.host,
        port=args.port,
        workers=args.workers,
        queue=args.queue,
        max_upload_mb=args.max_upload_mb,
        max_seconds=args.max_seconds,
        threads=args.threads,
    )
    from emotrans.recognizer import Recognizer  # deferred: imports torch
    from emotrans.serve.app import run_server  # deferred: imports fastapi and uvicorn

    rec = Recognizer.load(args.run_dir)
    if not is_loopback(settings.host):
        log.warning(
            "listening on %s: the service is reachable from other machines, without "
            "authentication or encryption",
            settings.host,
        )
    if not rec.can_extract:
        log.warning(
            "%s cannot extract new clips (trained on benchmark features): only "
            "/api/predict/features will score",
            args.run_dir,
        )
    where = f"http://{settings.host}:{settings.port}/"
    print(f"emotrans: serving {args.run_dir} at {where} (API docs: {where}docs)", file=sys.stderr)
    run_server(rec, settings)
    return 0


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None

"""What the serve tests share: a tiny run trained on real extracted clips (espeak-ng voices
over the astronaut's face, tests/media_fixtures.py), new clips to score, and a real uvicorn
server of that run on 127.0.0.1 in a background thread.

The run's emotion embeddings are a small word -> vector file, so a word outside it is an
unknown emotion name (the default sentence model embeds any text).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import media_fixtures
from emotrans.cli import main

needs_serve = pytest.mark.skipif(
    media_fixtures.ESPEAK is None
    or any(
        importlib.util.find_spec(m) is None
        for m in (
            "opensmile",
            "mediapipe",
            "pocketsphinx",
            "fastapi",
            "uvicorn",
            "python_multipart",
        )
    ),
    reason='needs the media and serve extras (pip install "emotrans[media,serve]") and espeak-ng',
)

WORDS = ["high", "low", "bored", "proud", "anger", "happy", "sad", "calm", "joy", "surprise"]
"""The emotion names the test run's embedding file knows."""

_CACHE: dict[str, dict[str, Path]] = {}


def tiny_world(factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built once per test session: ``run`` (transferable, text+audio+vision, trained on
    ``high``/``low`` voices), ``data`` (its extracted h5), ``new`` (clips ``a.mp4``, ``b.mp4``),
    ``long`` (an 8 s clip), ``embeddings`` (the word file)."""
    if "world" in _CACHE:
        return _CACHE["world"]
    root = factory.mktemp("serve_world")
    data = media_fixtures.voice_dataset(root)
    rng = np.random.default_rng(0)
    words = root / "emotions.json"
    words.write_text(json.dumps({w: rng.normal(size=16).round(5).tolist() for w in WORDS}))
    run = root / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--modalities", "tav",
                 "--epochs", "3", "--batch-size", "4", "--hidden-audio", "8",
                 "--hidden-vision", "4", "--layers", "1", "--embeddings", f"dict:{words}",
                 "--seed", "0", "--quiet"]) == 0  # fmt: skip
    new = root / "new"
    new.mkdir()
    media_fixtures.speech_clip(new / "a.mp4", "we walked along the river", pitch=90, speed=230)
    media_fixtures.speech_clip(new / "b.mp4", "they painted the fence green", pitch=10)
    long = media_fixtures.video_only_clip(new / "long.mp4", seconds=8.0)
    for f in new.glob("*.*.*"):  # the fixtures' intermediate wavs and videos
        f.unlink()
    _CACHE["world"] = {"root": root, "run": run, "data": data, "new": new, "long": long,
                       "embeddings": words}  # fmt: skip
    return _CACHE["world"]


class LiveServer:
    """A real uvicorn server of ``create_app(...)`` on 127.0.0.1, on a free port, in a
    background thread; ``url`` is its base address and ``uploads_root`` the folder holding
    its private upload folder."""

    def __init__(self, run: Path, uploads_root: Path, **settings: Any) -> None:
        import uvicorn

        from emotrans.recognizer import Recognizer
        from emotrans.serve.app import create_app
        from emotrans.serve.settings import ServeSettings

        self.uploads_root = uploads_root
        self.settings = ServeSettings(tmp_dir=str(uploads_root), port=0, **settings)
        self.app = create_app(Recognizer.load(run), self.settings)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 240  # workers load the run and warm up on the example
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.sock.close()

    def upload_folders(self) -> list[Path]:
        """Everything inside the server's private upload folder (empty between requests)."""
        return [p for d in self.uploads_root.iterdir() for p in d.rglob("*")]


def get(url: str, timeout: float = 30) -> tuple[int, dict[str, str], Any]:
    """``(status, headers, JSON body or text)`` of a GET."""
    return request("GET", url, timeout=timeout)


def request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, str], Any]:
    """``(status, headers with lower-case names, JSON body or text)`` of one request.

    A server may answer (413) before the body is sent and close the connection: the send's
    broken pipe is then ignored and the answer read, as a browser does.
    """
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, parts.path or "/")
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            for i in range(0, len(body or b""), 65536):
                conn.send(body[i : i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        res = conn.getresponse()
        status, head, raw = res.status, _lower(res.headers), res.read()
    finally:
        conn.close()
    text = raw.decode("utf-8", "replace")
    try:
        return status, head, json.loads(text)
    except ValueError:
        return status, head, text


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type; ``files`` maps a field to
    ``(filename, bytes, content type)``."""
    boundary = f"----emotrans{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, (filename, data, ctype) in files.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def predict(
    server_url: str,
    clip: Path | None = None,
    emotions: str | None = None,
    *,
    data: bytes | None = None,
    filename: str | None = None,
    content_type: str = "video/mp4",
    transcript: str | None = None,
) -> tuple[int, dict[str, str], Any]:
    """POST /api/predict with a clip (a path, or ``data`` named ``filename``)."""
    fields = {} if emotions is None else {"emotions": emotions}
    if transcript is not None:
        fields["transcript"] = transcript
    payload = data if data is not None else Path(clip).read_bytes()
    name = filename or (Path(clip).name if clip is not None else "clip.mp4")
    body, ctype = multipart(fields, {"clip": (name, payload, content_type)})
    return request("POST", f"{server_url}/api/predict", body, {"Content-Type": ctype})


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}

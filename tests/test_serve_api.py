"""`emotrans serve`'s JSON API against a real uvicorn server on 127.0.0.1 (a free port, a
background thread) over a tiny run trained on real extracted clips: health, info, OpenAPI,
a real clip scored exactly as the library scores it, pre-extracted features, every bad upload
refused with its 4xx and a message (and nothing left in the private upload folder), the queue
limit answered 503 with Retry-After, and the command itself in a subprocess."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

media_fixtures = pytest.importorskip("media_fixtures")
serve_fixtures = pytest.importorskip("serve_fixtures")

from emotrans.data.formats.native import load_native  # noqa: E402
from emotrans.recognizer import Recognizer  # noqa: E402
from emotrans.serve.settings import ServeSettings, is_loopback  # noqa: E402
from serve_fixtures import LiveServer, get, predict, request  # noqa: E402

pytestmark = [pytest.mark.slow, serve_fixtures.needs_serve]

NAMES = "high,low,bored,proud"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return serve_fixtures.tiny_world(tmp_path_factory)


@pytest.fixture(scope="module")
def server(world, tmp_path_factory):
    uploads = tmp_path_factory.mktemp("serve_uploads")
    with LiveServer(world["run"], uploads, workers=1, queue=1, max_upload_mb=1,
                    max_seconds=6) as live:  # fmt: skip
        yield live


def _nothing_left(server: LiveServer) -> None:
    [folder] = list(server.uploads_root.iterdir())  # the server's one private folder
    assert folder.stat().st_mode & 0o777 == 0o700
    assert server.upload_folders() == []


def test_health_and_info_describe_the_run_and_the_limits(server, world):
    status, _, health = get(f"{server.url}/api/health")
    assert status == 200 and health["status"] == "ok" and health["workers"] == 1
    status, _, info = get(f"{server.url}/api/info")
    assert status == 200
    assert info["model"] == "transferable" and info["modalities"] == ["text", "audio", "vision"]
    assert info["trained_emotions"] == ["high", "low"] and info["can_extract"]
    assert info["explains"] and set(info["extractors"]) == {"text", "audio", "vision"}
    assert info["limits"]["max_upload_mb"] == 1 and info["limits"]["max_seconds"] == 6
    assert info["limits"]["queue"] == 1 and "WAV" in info["limits"]["containers"]


def test_openapi_documents_the_typed_endpoints(server):
    status, _, spec = get(f"{server.url}/openapi.json")
    assert status == 200
    paths = spec["paths"]
    assert {"/api/health", "/api/info", "/api/predict", "/api/predict/features"} <= set(paths)
    body = paths["/api/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert body["schema"]["properties"]["clip"]["format"] == "binary"
    assert "application/json" in paths["/api/predict/features"]["post"]["requestBody"]["content"]
    assert {"ClipResult", "Info", "Health", "Problem"} <= set(spec["components"]["schemas"])
    status, _, page = get(f"{server.url}/docs")
    assert status == 200 and "swagger" in page.lower()


def test_a_real_clip_is_scored_as_the_library_scores_it(server, world):
    clip = world["new"] / "a.mp4"
    status, _, got = predict(server.url, clip, NAMES)
    assert status == 200, got
    [want] = Recognizer.load(world["run"]).explain_clips([clip], NAMES.split(","))
    assert got["clip"] == "a.mp4" and got["emotions"] == NAMES.split(",")
    assert got["trained_emotions"] == ["high", "low"] and got["new_emotions"] == ["bored", "proud"]
    for n in got["emotions"]:
        assert got["probabilities"][n] == pytest.approx(want.probabilities[n], abs=1e-5)
        explained = got["bias"] + sum(got["contributions"][m][n] for m in got["contributions"])
        assert explained == pytest.approx(got["logits"][n], abs=1e-5)
    assert sorted(got["ranking"]) == sorted(got["emotions"])
    assert got["transcript_source"] == "automatic" and got["transcript"]
    assert 1.0 < got["duration"] < 5.0 and got["request_seconds"] >= got["seconds"] > 0
    _nothing_left(server)


def test_a_given_transcript_is_used_and_default_names_are_the_trained_ones(server, world):
    text = "they painted the fence green"
    status, _, got = predict(server.url, world["new"] / "b.mp4", transcript=text)
    assert status == 200, got
    assert got["emotions"] == ["high", "low"] and got["new_emotions"] == []
    assert got["transcript"] == text and got["transcript_source"] == "given"


def test_features_are_scored_as_predict_proba_scores_them(server, world):
    split = load_native(world["data"])["valid"]
    features = {m: split.features[m][0].tolist() for m in ("text", "audio", "vision")}
    body = serve_fixtures.json.dumps({"features": features, "emotions": ["happy", "high"]})
    status, _, got = request("POST", f"{server.url}/api/predict/features", body.encode(),
                             {"Content-Type": "application/json"})  # fmt: skip
    assert status == 200, got
    probs, names, _ = Recognizer.load(world["run"]).predict_proba(
        {m: np.asarray(x, np.float32)[None] for m, x in features.items()}, ["happy", "high"]
    )
    assert got["emotions"] == names and got["new_emotions"] == ["happy"]
    for k, n in enumerate(names):
        assert got["probabilities"][n] == pytest.approx(float(probs[0, k]), abs=1e-5)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"text": [[0.0] * 3]}, 422, "no audio, vision"),
        ({"text": [], "audio": [], "vision": []}, 422, "non-empty list of rows"),
        ("dims", 422, "trained on"),
        ("unknown", 422, "feelingblue"),
        ("not json", 422, "body"),
    ],
)
def test_bad_features_are_refused_with_a_message(server, world, payload, status, message):
    split = load_native(world["data"])["valid"]
    good = {m: split.features[m][0].tolist() for m in ("text", "audio", "vision")}
    emotions = ["high"]
    if payload == "dims":
        payload = {**good, "audio": [[1.0, 2.0]]}
    elif payload == "unknown":
        payload, emotions = good, ["high", "feelingblue"]
    body = (
        payload.encode()
        if isinstance(payload, str)
        else serve_fixtures.json.dumps({"features": payload, "emotions": emotions}).encode()
    )
    got_status, _, got = request("POST", f"{server.url}/api/predict/features", body,
                                 {"Content-Type": "application/json"})  # fmt: skip
    assert got_status == status and message in got["detail"], got


def _bad_uploads(world, tmp: Path) -> dict[str, tuple[dict, int, str]]:
    good = world["new"] / "a.mp4"
    truncated = media_fixtures.corrupt_clip(tmp / "cut.mp4", good, keep=0.3).read_bytes()
    text = media_fixtures.text_named_mp4(tmp / "text.mp4").read_bytes()
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    return {
        "empty": (dict(data=b"", filename="empty.mp4"), 400, "empty.mp4: empty file"),
        "truncated": (dict(data=truncated, filename="cut.mp4"), 422, "cut.mp4: "),
        "text named .mp4": (
            dict(data=text, filename="text.mp4"),
            415,
            "text.mp4: the file is plain text despite its .mp4 name",
        ),
        "wrong type": (
            dict(data=png, filename="face.png", content_type="image/png"),
            415,
            "content type image/png is not audio or video",
        ),  # fmt: skip
        "not media": (dict(data=png, filename="face.mp4"), 415, "no known media container"),
        "too long": (dict(clip=world["long"]), 413, "longer than the limit of 6 s"),
        "unknown emotion": (dict(clip=good, emotions="high,feelingblue"), 422, "feelingblue"),
        "repeated emotion": (dict(clip=good, emotions="high,high"), 422, "given twice: high"),
        "too large": (dict(data=bytes(1_200_000), filename="big.mp4"), 413, "limit of 1 MiB"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "truncated",
        "text named .mp4",
        "wrong type",
        "not media",
        "too long",
        "unknown emotion",
        "repeated emotion",
        "too large",
    ],  # fmt: skip
)
def test_a_bad_upload_gets_its_4xx_with_a_message_and_leaves_nothing(server, world, tmp_path,
                                                                      case):  # fmt: skip
    kwargs, status, message = _bad_uploads(world, tmp_path)[case]
    emotions = kwargs.pop("emotions", "high,low")
    got_status, _, got = predict(server.url, emotions=emotions, **kwargs)
    assert got_status == status, got
    assert message in got["detail"] and "\n" not in got["detail"], got
    assert str(server.uploads_root) not in got["detail"]  # never the private path
    _nothing_left(server)


def test_truncated_clips_give_the_decoders_reason(server, world, tmp_path):
    data = media_fixtures.corrupt_clip(tmp_path / "cut.mp4", world["new"] / "a.mp4").read_bytes()
    status, _, got = predict(server.url, emotions="high", data=data, filename="cut.mp4")
    assert status == 422
    assert got["detail"].startswith("cut.mp4: ") and len(got["detail"]) > len("cut.mp4: ") + 5


def test_an_upload_past_the_limit_is_refused_while_it_streams(server):
    """Without Content-Length (chunked), the limit is checked as the body arrives."""
    body, ctype = serve_fixtures.multipart({"emotions": "high"},
                                           {"clip": ("big.mp4", bytes(1_300_000), "video/mp4")})  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        conn.request("POST", "/api/predict", body=chunks, headers={"Content-Type": ctype},
                     encode_chunked=True)  # fmt: skip
        res = conn.getresponse()
        detail = serve_fixtures.json.loads(res.read())["detail"]
    finally:
        conn.close()
    assert res.status == 413 and "limit of 1 MiB" in detail
    _nothing_left(server)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "message"),
    [
        ("application/json", b"{}", 415, "send the clip as multipart/form-data"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; "
         b'name="emotions"\r\n\r\nhigh\r\n--xyz--\r\n', 400, "no file field 'clip'"),
    ],
)  # fmt: skip
def test_a_request_that_is_not_a_clip_form_is_refused(server, content_type, body, status, message):
    got_status, _, got = request("POST", f"{server.url}/api/predict", body,
                                 {"Content-Type": content_type})  # fmt: skip
    assert got_status == status and message in got["detail"], got
    _nothing_left(server)


def test_past_the_queue_limit_a_request_gets_503_with_retry_after(server, world):
    """1 worker and a queue of 1: with two clips in, a third request is refused at once;
    the two are answered."""
    clip = world["new"] / "a.mp4"
    for _attempt in range(3):
        results: list[int] = []
        threads = [
            threading.Thread(
                target=lambda out=results: out.append(predict(server.url, clip, "high")[0])
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while get(f"{server.url}/api/health")[2]["admitted"] < 2 and len(results) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        status, headers, got = get(f"{server.url}/api/info")
        assert status == 200  # reading the run is never queued
        status, headers, got = predict(server.url, clip, "high")
        for t in threads:
            t.join(timeout=120)
        if len(results) == 2 and status == 503:
            break
    assert status == 503 and "busy" in got["detail"], got
    assert int(headers["retry-after"]) >= 1
    assert results == [200, 200]
    _nothing_left(server)


def test_settings_refuse_bad_limits_and_know_loopback():
    from emotrans.errors import ConfigError

    for bad in (dict(workers=0), dict(queue=-1), dict(max_upload_mb=0), dict(port=70000)):
        with pytest.raises(ConfigError):
            ServeSettings(**bad)
    assert ServeSettings().host == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


def test_the_command_serves_on_loopback_and_stops_on_sigint(world, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emotrans",
            "serve",
            str(world["run"]),
            "--port",
            str(port),
            "--max-seconds",
            "10",
        ],  # fmt: skip
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                status, _, info = get(f"http://127.0.0.1:{port}/api/info", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.5)
        assert status == 200 and info["limits"]["max_seconds"] == 10
        status, _, got = predict(f"http://127.0.0.1:{port}", world["new"] / "b.mp4", "calm,low")
        assert status == 200 and got["new_emotions"] == ["calm"]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert "serving" in err and f"127.0.0.1:{port}" in err
    assert list(tmp_path.iterdir()) == []  # its private folder went with it


def test_a_public_host_is_warned_about(world, tmp_path, capsys, monkeypatch):
    import emotrans.serve.app as app_module
    from emotrans.cli import main

    seen = {}
    monkeypatch.setattr(app_module, "run_server", lambda rec, settings: seen.update(s=settings))
    assert main(["serve", str(world["run"]), "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert seen["s"].host == "0.0.0.0" and seen["s"].port == 8123
    assert "reachable from other machines" in capsys.readouterr().err

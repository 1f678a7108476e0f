"""Load on ``emotrans serve``: N concurrent clients for T seconds on loopback, bounded in count
and time, for a 5-second clip (``POST /api/predict``) and for pre-extracted features
(``POST /api/predict/features``).

Every request must be answered: the only refusal allowed is the declared 503 (busy, with
Retry-After) past the queue limit; anything else (a lost connection, a timeout, another 5xx)
is counted and makes the script exit 1. Reports p50/p95 latency of the answered requests and
requests per second. The server is a real uvicorn on 127.0.0.1 in this process (the scoring
runs in its ``--workers`` processes); the clients are threads with their own connections.

Without ``--run``, a tiny run is trained first on real clips made offline (espeak-ng voices over
the astronaut's face, ``tests/media_fixtures.py``), as the serve tests do; its extraction,
training and the server's start are timed apart.

    .venv/bin/python benchmarks/bench_serve.py [--run RUN] [--workers 2] [--clients 4]
        [--seconds 20] [--max-requests 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from emotrans.data.formats.native import load_native  # noqa: E402
from emotrans.media.io import probe  # noqa: E402
from media_fixtures import speech_clip  # noqa: E402
from serve_fixtures import LiveServer, multipart, request, tiny_world  # noqa: E402

FIVE_SECONDS = "I really did not expect the results to come back so quickly, I am thrilled"
EMOTIONS = "high,low,happy,sad,bored,proud"


class _Temp:
    """``mktemp`` like pytest's factory, under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.root))


def _load(url: str, body: bytes, ctype: str, clients: int, seconds: float, cap: int) -> dict:
    """``clients`` threads POST ``body`` back to back for ``seconds`` (at most ``cap``
    requests in all); a 503 is retried after its client waits 50 ms."""
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"ok": 0, "busy": 0, "other": 0}
    others: list[str] = []
    sent = [0]
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= cap:
                    return
                sent[0] += 1
            start = time.perf_counter()
            try:
                status, _, answer = request("POST", url, body, {"Content-Type": ctype}, timeout=120)
            except OSError as exc:  # lost: never allowed
                status, answer = -1, str(exc)
            took = time.perf_counter() - start
            with lock:
                if status == 200:
                    counts["ok"] += 1
                    latencies.append(took)
                elif status == 503:
                    counts["busy"] += 1
                else:
                    counts["other"] += 1
                    others.append(f"{status}: {str(answer)[:200]}")
            if status == 503:
                time.sleep(0.05)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 300)
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=20, method="inclusive") if len(latencies) > 1 else None
    return {
        "clients": clients,
        "wall_s": round(wall, 2),
        **counts,
        "p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "p95_s": round(q[18], 4) if q else None,
        "requests_per_s": round(counts["ok"] / wall, 2),
        "not_answered_or_5xx": others[:5],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", help="a run trained on extracted clips (default: train a tiny one)")
    ap.add_argument("--workers", type=int, default=2, help="scoring processes (default 2)")
    ap.add_argument("--queue", type=int, default=8, help="the queue limit (default 8)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients (default 4)")
    ap.add_argument("--seconds", type=float, default=20.0, help="per scenario (at most 120)")
    ap.add_argument("--max-requests", type=int, default=400, help="per scenario (at most 5000)")
    ap.add_argument("--overload", type=int, default=24, help="clients of the overload run")
    args = ap.parse_args()
    seconds = min(max(args.seconds, 1.0), 120.0)
    cap = min(max(args.max_requests, 1), 5000)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        world = tiny_world(_Temp(root)) if args.run is None else None
        run = Path(args.run) if args.run else world["run"]
        made = time.perf_counter() - t0
        clip = speech_clip(root / "five.mp4", FIVE_SECONDS, speed=150)
        duration = probe(clip).duration
        data = json.loads((run / "config.json").read_text())["data"]
        split = load_native(data)["valid"]
        mods = json.loads((run / "model.json").read_text())["modalities"]
        sample = {m: np.asarray(split.features[m][0]).tolist() for m in mods}
        features = json.dumps({"features": sample, "emotions": EMOTIONS.split(",")}).encode()
        clip_body, clip_type = multipart({"emotions": EMOTIONS},
                                         {"clip": ("five.mp4", clip.read_bytes(), "video/mp4")})  # fmt: skip
        (root / "uploads").mkdir()
        t0 = time.perf_counter()
        with LiveServer(run, root / "uploads", workers=args.workers, queue=args.queue,
                        max_seconds=30) as server:  # fmt: skip
            started = time.perf_counter() - t0
            results = {
                "clip": _load(
                    f"{server.url}/api/predict", clip_body, clip_type, args.clients, seconds, cap
                ),  # fmt: skip
                "features": _load(
                    f"{server.url}/api/predict/features",
                    features,
                    "application/json",
                    args.clients,
                    seconds,
                    cap,
                ),  # fmt: skip
                "features_overload": _load(
                    f"{server.url}/api/predict/features",
                    features,
                    "application/json",
                    args.overload,
                    min(seconds, 10),
                    cap,
                ),  # fmt: skip
            }
            left = server.upload_folders()
    report = {
        "run": "tiny (trained here)" if args.run is None else str(run),
        "train_world_s": round(made, 1),
        "server_start_s": round(started, 1),
        "clip_seconds": round(duration, 2),
        "workers": args.workers,
        "queue": args.queue,
        "uploads_left": len(left),
        **results,
    }
    print(json.dumps(report, indent=2))
    bad = sum(r["other"] for r in results.values()) + len(left)
    if bad:
        print(f"bench_serve: {bad} requests not answered or answered 5xx", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

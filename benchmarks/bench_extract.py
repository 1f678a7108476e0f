"""Extraction throughput from raw clips: seconds of media per second of wall time.

Clips are real media made offline (espeak-ng speech over a video of the astronaut's face, see
``tests/media_fixtures.py``), each with its transcript. Per modality, one process extracts every
clip after a warm-up clip (model loading is timed apart):

- audio: ``egemaps+compare`` (openSMILE, 90-d at 100 Hz);
- vision: ``face`` (MediaPipe landmarker + face-emotion classifier, 65-d at 5 fps);
- text: forced alignment of the transcript (pocketsphinx) + ``minilm-words`` (384-d per word).

Then all three together on ``--workers`` processes (default 2, the target machine's cores),
one clip per task, which is how an extraction job runs. Peak memory is the largest resident
set of any process. Target: all three together at least 2x real time on 2 cores.

    .venv/bin/python benchmarks/bench_extract.py [--clips 8] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from emotrans.media.extractors.base import Clip  # noqa: E402
from emotrans.media.extractors.registry import get_extractor  # noqa: E402
from emotrans.media.io import probe  # noqa: E402
from emotrans.media.timing import word_timing  # noqa: E402
from media_fixtures import speech_clip  # noqa: E402

SENTENCES = [
    "I cannot believe you did this to me after everything we went through together",
    "what a wonderful surprise it is to see all of you here tonight my friends",
    "please leave me alone I do not want to talk about it any more today",
    "the weather was fine and we walked along the river until the sun went down",
]
MODALITIES = {"audio": ("egemaps+compare",), "vision": ("face",), "text": ("minilm-words",)}


def _run(clip: Clip, names: tuple[str, ...]) -> None:
    if "minilm-words" in names and clip.words is None:
        clip = Clip(clip.path, clip.start, clip.end, clip.transcript, word_timing(clip))
    for name in names:
        get_extractor(name).extract(clip)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _task(args: tuple[Clip, tuple[str, ...]]) -> float:
    _run(*args)
    return _maxrss_mb()


def _make_clips(folder: Path, n: int) -> tuple[list[Clip], float]:
    clips = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        path = speech_clip(folder / f"clip{i}.mp4", text, pitch=30 + 10 * (i % 4), fps=25)
        clips.append(Clip(str(path), transcript=text))
    return clips, sum(probe(c.path).duration for c in clips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clips, seconds = _make_clips(Path(tmp), args.clips)
        print(f"{len(clips)} clips, {seconds:.1f} s of media (25 fps video, speech)")
        print(f"{'what':<28}{'load s':>8}{'wall s':>8}{'x real time':>13}{'peak MB':>9}")
        for modality, names in MODALITIES.items():
            t0 = time.perf_counter()
            _run(clips[0], names)  # warm-up: loads the models
            load = time.perf_counter() - t0
            t0 = time.perf_counter()
            for clip in clips:
                _run(clip, names)
            wall = time.perf_counter() - t0
            print(
                f"{modality + ' (1 process)':<28}{load:>8.1f}{wall:>8.1f}"
                f"{seconds / wall:>13.1f}{_maxrss_mb():>9.0f}"
            )
        names = tuple(n for group in MODALITIES.values() for n in group)
        t0 = time.perf_counter()
        spawn = multiprocessing.get_context("spawn")  # forking a process with model threads hangs
        with ProcessPoolExecutor(args.workers, mp_context=spawn) as pool:
            list(pool.map(_task, [(clips[0], names)] * args.workers))  # warm every worker
            load = time.perf_counter() - t0
            t0 = time.perf_counter()
            peaks = list(pool.map(_task, [(c, names) for c in clips]))
            wall = time.perf_counter() - t0
        label = f"all three ({args.workers} processes)"
        print(f"{label:<28}{load:>8.1f}{wall:>8.1f}{seconds / wall:>13.1f}{max(peaks):>9.0f}")
        print(f"ratio (media s / wall s), all three: {seconds / wall:.2f} (target >= 2)")


if __name__ == "__main__":
    main()

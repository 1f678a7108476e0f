"""Real test media made offline: speech, a real face on video, clips, broken files.

Shared by every media test (import it: ``from media_fixtures import speech_clip``). Sources:

- speech: ``espeak-ng`` (Debian package; ``make test`` installs it), whose voice pitch and
  rate are settings, so labels can be made audible;
- a real face: ``skimage.data.astronaut()`` (a public-domain NASA photograph shipped in the
  scikit-image wheel), turned into video with small moves and zooms;
- real recorded speech: ``amfm_decompy/sample.wav`` from the ``amfm-decompy`` wheel (MIT
  licence; 0.89 s of a male voice at 16 kHz), see :func:`real_speech_wav`;
- the ffmpeg binary of ``imageio-ffmpeg`` (or the PATH) encodes and muxes.

Every function writes a file and returns its path. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from emotrans.media.io import ffmpeg_exe

Transform = Callable[[int, float], tuple[float, float, float]]
"""(frame index, time in s) -> (dx, dy, zoom): shift in pixels and scale of the face crop."""

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng; make test does)"
)


def _ffmpeg(*args: str, stdin: bytes | None = None) -> None:
    res = subprocess.run(
        [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)}: {res.stderr.decode()[-500:]}")


def speech_wav(
    text: str, path: str | Path, *, pitch: int = 50, speed: int = 175, voice: str = "en-us"
) -> Path:
    """espeak-ng speech of ``text`` as a 22.05 kHz mono wav.

    ``pitch`` 0-99 (50 is the voice's normal pitch; higher is a higher voice), ``speed`` in
    words per minute.
    """
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng; make test does)")
    path = Path(path)
    subprocess.run(
        [ESPEAK, "-v", voice, "-p", str(pitch), "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


def silent_wav(path: str | Path, seconds: float, rate: int = 16_000) -> Path:
    """``seconds`` of digital silence."""
    path = Path(path)
    _ffmpeg("-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono", "-t", f"{seconds}", str(path))
    return path


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    """The astronaut photograph, uint8 (512, 512, 3) RGB (Eileen Collins, NASA, public domain)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def gentle_motion(i: int, t: float) -> tuple[float, float, float]:
    """The default transform: a slow sway of a few pixels and a zoom within 5 %."""
    return (
        6 * math.sin(2 * math.pi * 0.5 * t),
        4 * math.cos(2 * math.pi * 0.3 * t),
        (1 + 0.05 * math.sin(2 * math.pi * 0.2 * t)),
    )


def _face_frame(size: int, dx: float, dy: float, zoom: float) -> np.ndarray:
    img = astronaut()
    cx, cy, half = 230 + dx, 160 + dy, 150 / zoom  # the face is around (230, 130)
    ys = np.clip(np.linspace(cy - half, cy + half, size).astype(int), 0, img.shape[0] - 1)
    xs = np.clip(np.linspace(cx - half, cx + half, size).astype(int), 0, img.shape[1] - 1)
    return img[ys][:, xs]


def _write_video(path: Path, frames: np.ndarray, fps: float) -> Path:
    n, h, w, _ = frames.shape
    _ffmpeg(
        *("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "-"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)),
        stdin=frames.tobytes(),
    )
    return path


def face_video(
    path: str | Path,
    seconds: float = 2.0,
    fps: float = 10.0,
    *,
    size: int = 256,
    transform: Transform | None = gentle_motion,
) -> Path:
    """An H.264 mp4 (no audio) of the astronaut's face, ``size`` x ``size`` pixels.

    ``transform(i, t)`` gives each frame's shift and zoom (None: a still face).
    """
    n = max(1, round(seconds * fps))
    frames = np.stack(
        [
            _face_frame(size, *(transform(i, i / fps) if transform else (0.0, 0.0, 1.0)))
            for i in range(n)
        ]
    )
    return _write_video(Path(path), frames, fps)


def gradient_video(
    path: str | Path, seconds: float = 2.0, fps: float = 10.0, *, size: int = 128
) -> Path:
    """An mp4 (no audio) of a moving colour gradient: video without any face."""
    n = max(1, round(seconds * fps))
    y, x = np.mgrid[0:size, 0:size]
    frames = np.stack(
        [np.stack([(x + 3 * i) % 256, (y + 2 * i) % 256, (x + y) // 2 % 256], -1) for i in range(n)]
    ).astype(np.uint8)
    return _write_video(Path(path), frames, fps)


def mux(video: str | Path, audio: str | Path, out: str | Path) -> Path:
    """``out`` (mp4): the video stream of ``video`` and ``audio`` encoded as AAC, cut to the
    shorter of the two."""
    out = Path(out)
    _ffmpeg(
        *("-i", str(video), "-i", str(audio), "-map", "0:v:0", "-map", "1:a:0"),
        *("-c:v", "copy", "-c:a", "aac", "-shortest", str(out)),
    )
    return out


def wav_seconds(path: str | Path) -> float:
    import soundfile

    return soundfile.info(str(path)).duration


def speech_clip(
    path: str | Path,
    text: str,
    *,
    pitch: int = 50,
    speed: int = 175,
    fps: float = 10.0,
    transform: Transform | None = gentle_motion,
) -> Path:
    """An mp4 of the astronaut's face saying ``text`` (espeak-ng voice)."""
    path = Path(path)
    wav = speech_wav(text, path.with_suffix(".speech.wav"), pitch=pitch, speed=speed)
    video = face_video(
        path.with_suffix(".face.mp4"), wav_seconds(wav) + 0.2, fps, transform=transform
    )
    return mux(video, wav, path)


def silent_clip(path: str | Path, seconds: float = 1.5) -> Path:
    """An mp4 of the face with an audio track of digital silence."""
    path = Path(path)
    video = face_video(path.with_suffix(".face.mp4"), seconds)
    return mux(video, silent_wav(path.with_suffix(".silence.wav"), seconds), path)


def video_only_clip(path: str | Path, seconds: float = 1.0) -> Path:
    """An mp4 of the face with no audio stream at all."""
    return face_video(path, seconds)


def faceless_clip(path: str | Path, text: str = "there is nobody here") -> Path:
    """An mp4 of a moving gradient (no face) with espeak-ng speech."""
    path = Path(path)
    wav = speech_wav(text, path.with_suffix(".speech.wav"))
    video = gradient_video(path.with_suffix(".grad.mp4"), wav_seconds(wav) + 0.2)
    return mux(video, wav, path)


def corrupt_clip(path: str | Path, source: str | Path, keep: float = 0.3) -> Path:
    """The first ``keep`` fraction of the bytes of the mp4 ``source`` (a truncated download)."""
    data = Path(source).read_bytes()
    path = Path(path)
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


def empty_clip(path: str | Path) -> Path:
    """A zero-byte file."""
    path = Path(path)
    path.write_bytes(b"")
    return path


def text_named_mp4(path: str | Path) -> Path:
    """A text file with an .mp4 name."""
    path = Path(path)
    path.write_text("this is not a video\n" * 20)
    return path


def real_speech_wav() -> Path | None:
    """Real recorded English speech shipped in the ``amfm-decompy`` wheel (MIT licence), or
    None when that package is not installed. 16 kHz mono, 0.89 s, one male speaker.

    The package is located without importing it (only the file is used).
    """
    spec = importlib.util.find_spec("amfm_decompy")
    if spec is None or not spec.submodule_search_locations:
        return None
    wav = Path(list(spec.submodule_search_locations)[0]) / "sample.wav"
    return wav if wav.is_file() else None


# -- a small labelled set of voices, extracted -------------------------------------------------

SENTENCES = ["please open the window", "the train was late again", "she bought a new coat"]
VOICES = {"low": (5, 120), "high": (95, 240)}  # pitch 0-99, words/min
VOICE_SPLITS = ["train", "train", "valid"]


def write_manifest(path: Path, rows: list[list[str]]) -> Path:
    """A clip manifest with the columns path, transcript, label, split."""
    import csv

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "transcript", "label", "split"])
        w.writerows(rows)
    return path


def voice_dataset(root: Path) -> Path:
    """Clips of two espeak-ng voices (``low``, ``high``) over the astronaut face, extracted with
    the real extractors into ``root/data.h5`` (returned); the manifest is ``root/train.csv``."""
    from emotrans.cli import main

    (root / "clips").mkdir(exist_ok=True)
    rows = []
    for label, (pitch, speed) in VOICES.items():
        for i, split in enumerate(VOICE_SPLITS):
            name = f"clips/{label}{i}.mp4"
            speech_clip(root / name, SENTENCES[i], pitch=pitch, speed=speed)
            rows.append([name, SENTENCES[i], label, split])
    data = root / "data.h5"
    manifest = write_manifest(root / "train.csv", rows)
    assert main(["extract", str(manifest), "--out", str(data), "--workers", "2", "--quiet"]) == 0
    return data

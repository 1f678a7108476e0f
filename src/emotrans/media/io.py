"""Decoding media with the ffmpeg binary: probing, audio at 16 kHz, video frames at a fixed rate.

The binary is the one bundled with ``imageio-ffmpeg`` (part of the ``media`` extra), else an
``ffmpeg`` on the PATH. Every call runs ffmpeg in a subprocess with a time limit, so a broken
file can never hang an extraction; frames are streamed (one frame in memory at a time, at the
requested rate, never the whole video at its own rate). Every failure is a one-line
:class:`~emotrans.errors.MediaError` naming the file and the problem.

Times are seconds. A clip is ``[start, end]`` within its file (None: from the beginning / to
the end of the file); returned times are relative to the clip's start.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotrans.errors import MediaError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""Audio is always decoded to mono float32 at this rate (what openSMILE and pocketsphinx use)."""
MAX_SECONDS = 1_800.0
"""Default limit on a clip's length: longer clips are refused (a wrong start/end, or a whole
recording where a segment was meant)."""
TIMEOUT_S = 600.0
"""Default wall-clock limit of one ffmpeg call."""

_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: (.*)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: (.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)\b")


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` finds in a file.

    Attributes
    ----------
    path : str
    duration : float, seconds (nan when the container does not say)
    has_audio, has_video : bool (a still image such as a cover picture does not count as video)
    width, height : int, the first video stream's frame size (0 without video)
    fps : float, its frame rate (nan when unknown)
    """

    path: str
    duration: float
    has_audio: bool
    has_video: bool
    width: int = 0
    height: int = 0
    fps: float = float("nan")


def ffmpeg_exe() -> str:
    """The ffmpeg binary: imageio-ffmpeg's bundled one, else ``ffmpeg`` on the PATH."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        found = shutil.which("ffmpeg")
        if found:
            return found
    raise MediaError(
        'no ffmpeg: pip install "emotrans[media]" (bundles one) or install ffmpeg on the PATH'
    )


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    if not lines:
        return "ffmpeg failed without a message"
    line = lines[-1]
    # ffmpeg prefixes messages with the file name or a context tag: keep the problem only
    line = re.sub(r"^\[[^\]]*\]\s*", "", line)
    return line.split(": ", 1)[1] if line.startswith(("/", ".")) and ": " in line else line


def _run(path: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [ffmpeg_exe(), "-nostdin", "-hide_banner", *args],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise MediaError(f"{path}: decoding took longer than {timeout:g} s (timeout)") from None


def _check_file(path: str | Path) -> str:
    p = Path(path)
    if not p.exists():
        raise MediaError(f"{p}: no such file")
    if not p.is_file():
        raise MediaError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise MediaError(f"{p}: empty file (0 bytes)")
    return str(p)


def probe(path: str | Path, *, timeout: float = 60.0) -> MediaInfo:
    """Duration and streams of ``path``; :class:`MediaError` when ffmpeg cannot read it."""
    name = _check_file(path)
    res = _run(name, ["-i", name], timeout)  # no output file: ffmpeg prints the info, exits 1
    text = res.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        raise MediaError(f"{name}: not readable media ({_last_line(res.stderr)})")
    m = _DURATION.search(text)
    duration = (
        int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else float("nan")
    )
    videos = [v for v in _VIDEO.findall(text) if "attached pic" not in v]
    width = height = 0
    fps = float("nan")
    if videos:
        size = _SIZE.search(videos[0])
        if size:
            width, height = int(size.group(1)), int(size.group(2))
        rate = _FPS.search(videos[0])
        if rate:
            fps = float(rate.group(1))
    return MediaInfo(name, duration, bool(_AUDIO.search(text)), bool(videos), width, height, fps)


def _span(
    info: MediaInfo, start: float | None, end: float | None, max_seconds: float
) -> tuple[float, float | None]:
    """``(start, seconds)`` of the clip within its file, checked against the file."""
    s = 0.0 if start is None else float(start)
    if s < 0 or (end is not None and end <= s):
        raise MediaError(f"{info.path}: bad clip interval [{start}, {end}]")
    if np.isfinite(info.duration) and s >= info.duration:
        raise MediaError(
            f"{info.path}: clip starts at {s:g} s, after the end ({info.duration:g} s)"
        )
    stop = end
    if np.isfinite(info.duration):
        stop = info.duration if end is None else min(float(end), info.duration)
    if stop is not None and stop - s > max_seconds:
        raise MediaError(
            f"{info.path}: clip of {stop - s:.1f} s is longer than the limit of {max_seconds:g} s"
        )
    return s, (None if stop is None else stop - s)


def _seek_args(start: float, seconds: float | None) -> list[str]:
    args = ["-ss", f"{start:.6f}"] if start > 0 else []
    return args + (["-t", f"{seconds:.6f}"] if seconds is not None else [])


def load_audio(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    *,
    max_seconds: float = MAX_SECONDS,
    timeout: float = TIMEOUT_S,
) -> np.ndarray:
    """The clip's audio as mono float32 in [-1, 1] at :data:`SAMPLE_RATE`.

    Returns
    -------
    float32 array of shape (n_samples,), n_samples > 0

    Raises
    ------
    MediaError : no such file, no audio stream, undecodable, empty, longer than ``max_seconds``
    """
    info = probe(path, timeout=min(timeout, 60.0))
    if not info.has_audio:
        raise MediaError(f"{info.path}: no audio stream")
    s, seconds = _span(info, start, end, max_seconds)
    limit = max_seconds if seconds is None else seconds
    res = _run(
        info.path,
        ["-v", "error", *_seek_args(s, seconds), "-i", info.path, "-vn", "-sn", "-dn"]
        + ["-t", f"{limit:.6f}", "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "f32le", "-"],
        timeout,
    )
    if res.returncode != 0:
        raise MediaError(f"{info.path}: cannot decode the audio ({_last_line(res.stderr)})")
    audio = np.frombuffer(res.stdout, dtype="<f4").astype(np.float32)
    if audio.size == 0:
        raise MediaError(f"{info.path}: no audio samples in [{s:g}, {end}] s (zero length)")
    return np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)


def _even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def iter_frames(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    *,
    fps: float = 5.0,
    max_side: int = 640,
    max_seconds: float = MAX_SECONDS,
    timeout: float = TIMEOUT_S,
) -> Iterator[tuple[float, np.ndarray]]:
    """Stream the clip's frames at ``fps`` frames per second, one at a time.

    Frames larger than ``max_side`` pixels on their longer side are scaled down (aspect kept;
    0 keeps the original size).

    Yields
    ------
    (t, frame) : t float, seconds from the clip's start of the frame's interval
        [t, t + 1/fps); frame uint8 array of shape (H, W, 3), RGB

    Raises
    ------
    MediaError : no such file, no video stream, undecodable, no frame at all, longer than
        ``max_seconds``, or slower than ``timeout`` seconds in total
    """
    if not fps > 0:
        raise MediaError(f"{path}: frame rate must be positive, not {fps}")
    info = probe(path, timeout=min(timeout, 60.0))
    if not info.has_video or not info.width:
        raise MediaError(f"{info.path}: no video stream")
    s, seconds = _span(info, start, end, max_seconds)
    w, h = info.width, info.height
    if max_side and max(w, h) > max_side:
        scale = max_side / max(w, h)
        w, h = _even(w * scale), _even(h * scale)
    limit = max_seconds if seconds is None else seconds
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error", *_seek_args(s, seconds)]
    cmd += ["-i", info.path, "-an", "-sn", "-dn", "-t", f"{limit:.6f}"]
    # fps first (drops frames before scaling them); the size is forced so every frame has w x h
    cmd += ["-vf", f"fps={fps:g},scale={w}:{h}", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    yield from _stream(info.path, cmd, (h, w, 3), fps, timeout)


def _stream(
    name: str, cmd: list[str], shape: tuple[int, int, int], fps: float, timeout: float
) -> Iterator[tuple[float, np.ndarray]]:
    size = shape[0] * shape[1] * shape[2]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
    reader.start()  # drained in the background: a chatty ffmpeg must not block on stderr
    count = 0
    try:
        while True:
            buf = proc.stdout.read(size)
            if len(buf) < size:
                break
            yield count / fps, np.frombuffer(buf, np.uint8).reshape(shape)
            count += 1
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        reader.join(timeout=5)
    if timed_out.is_set():
        raise MediaError(f"{name}: decoding took longer than {timeout:g} s (timeout)")
    if proc.returncode != 0:
        raise MediaError(f"{name}: cannot decode the video ({_last_line(b''.join(stderr))})")
    if count == 0:
        raise MediaError(f"{name}: no video frame in the clip (zero length)")

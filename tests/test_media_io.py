"""Decoding real media made offline: durations, sample rate, frame counts, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("imageio_ffmpeg", reason='needs the media extra: pip install "emotrans[media]"')

from emotrans.errors import MediaError  # noqa: E402
from emotrans.media.io import SAMPLE_RATE, iter_frames, load_audio, probe  # noqa: E402
from media_fixtures import (  # noqa: E402
    corrupt_clip,
    empty_clip,
    face_video,
    needs_espeak,
    speech_clip,
    speech_wav,
    text_named_mp4,
    video_only_clip,
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return speech_clip(tmp_path_factory.mktemp("io") / "hello.mp4", "hello there, how are you")


@needs_espeak
def test_probe_finds_both_streams_and_the_duration(clip):
    info = probe(clip)
    assert info.has_audio and info.has_video
    assert (info.width, info.height) == (256, 256)
    assert 1.0 < info.duration < 3.0


@needs_espeak
def test_audio_is_mono_float32_at_16_khz_for_the_whole_clip(clip):
    audio = load_audio(clip)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size / SAMPLE_RATE - probe(clip).duration) < 0.1
    assert 0 < np.abs(audio).max() <= 1


@needs_espeak
def test_audio_of_an_interval_has_its_length(clip):
    audio = load_audio(clip, 0.25, 1.0)
    assert abs(audio.size - 0.75 * SAMPLE_RATE) < 0.02 * SAMPLE_RATE


def test_frames_come_at_the_requested_rate_and_size(tmp_path):
    video = face_video(tmp_path / "f.mp4", seconds=2.0, fps=10, size=256)
    frames = list(iter_frames(video, 0.5, 1.5, fps=4, max_side=128))
    assert len(frames) == 4
    assert [t for t, _ in frames] == [0.0, 0.25, 0.5, 0.75]
    assert all(f.shape == (128, 128, 3) and f.dtype == np.uint8 for _, f in frames)


@needs_espeak
def test_a_wav_has_no_video_stream(tmp_path):
    wav = speech_wav("hi", tmp_path / "hi.wav")
    with pytest.raises(MediaError, match=r"hi\.wav: no video stream"):
        list(iter_frames(wav))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: empty_clip(d / "empty.mp4"), "empty file"),
        (lambda d: text_named_mp4(d / "text.mp4"), "not readable media"),
        (lambda d: corrupt_clip(d / "cut.mp4", face_video(d / "src.mp4", 1.0)), "not readable"),
        (lambda d: video_only_clip(d / "mute.mp4"), "no audio stream"),
    ],
)
def test_bad_media_is_a_one_line_error_naming_the_file(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(MediaError) as err:
        load_audio(path)
    message = str(err.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_a_clip_longer_than_the_limit_is_refused(tmp_path):
    video = face_video(tmp_path / "long.mp4", seconds=2.0)
    with pytest.raises(MediaError, match="longer than the limit of 1 s"):
        list(iter_frames(video, max_seconds=1.0))


def test_an_interval_after_the_end_is_refused(tmp_path):
    video = face_video(tmp_path / "short.mp4", seconds=1.0)
    with pytest.raises(MediaError, match="after the end"):
        list(iter_frames(video, 5.0, 6.0))

"""Word timing: the dataset's own, forced alignment of a transcript, speech recognition."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pocketsphinx", reason='needs the media extra: pip install "emotrans[media]"')

from emotrans.errors import MediaError  # noqa: E402
from emotrans.media.extractors.base import Clip, Words  # noqa: E402
from emotrans.media.io import SAMPLE_RATE, load_audio  # noqa: E402
from emotrans.media.timing import tokenize, word_timing  # noqa: E402
from media_fixtures import needs_espeak, real_speech_wav, speech_wav  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog."


def _check(words: Words, duration: float) -> None:
    iv = words.intervals
    assert iv.shape == (len(words.tokens), 2)
    assert (iv[:, 0] >= 0).all() and (iv[:, 1] <= duration + 1e-6).all()
    assert (iv[:, 1] >= iv[:, 0]).all() and (np.diff(iv[:, 0]) >= 0).all()


def test_tokenize_strips_punctuation_but_keeps_apostrophes():
    assert tokenize("Well, I don't know... (really)!") == ["Well", "I", "don't", "know", "really"]


def test_the_datasets_own_timing_is_kept():
    words = Words(("hi",), np.array([[0.1, 0.4]]), "dataset")
    assert word_timing(Clip("nowhere.mp4", words=words)) is words


@needs_espeak
def test_forced_alignment_gives_ordered_intervals_inside_the_clip(tmp_path):
    wav = speech_wav(TEXT, tmp_path / "fox.wav", speed=150)
    words = word_timing(Clip(str(wav), transcript=TEXT))
    duration = load_audio(wav).size / SAMPLE_RATE
    assert words.source == "aligned" and words.tokens == tuple(tokenize(TEXT))
    _check(words, duration)
    assert words.intervals[0, 0] < 0.5 and words.intervals[-1, 1] > duration - 0.6


@needs_espeak
def test_words_missing_from_the_dictionary_still_get_a_time(tmp_path):
    text = "my zorblaxian friend smiled"
    wav = speech_wav(text, tmp_path / "oov.wav")
    words = word_timing(Clip(str(wav), transcript=text))
    _check(words, load_audio(wav).size / SAMPLE_RATE)
    assert words.tokens[1] == "zorblaxian" and words.intervals[1, 1] > words.intervals[1, 0]


@needs_espeak
def test_without_transcript_speech_recognition_is_marked_automatic(tmp_path):
    wav = speech_wav("hello, how are you today", tmp_path / "asr.wav")
    words = word_timing(Clip(str(wav)))
    assert words.source == "automatic" and len(words.tokens) > 0
    _check(words, load_audio(wav).size / SAMPLE_RATE)


def test_real_recorded_speech_is_recognised_and_aligned():
    wav = real_speech_wav()
    if wav is None:
        pytest.skip("amfm-decompy (real recorded speech) is not installed")
    duration = load_audio(wav).size / SAMPLE_RATE
    heard = word_timing(Clip(str(wav)))
    assert heard.source == "automatic" and heard.tokens
    _check(heard, duration)
    aligned = word_timing(Clip(str(wav), transcript=" ".join(heard.tokens)))
    _check(aligned, duration)
    assert aligned.tokens == heard.tokens


def test_timing_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(MediaError, match=r"gone\.wav: no such file"):
        word_timing(Clip(str(tmp_path / "gone.wav"), transcript="hello"))

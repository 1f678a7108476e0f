"""Prediction on raw clips (`emotrans predict RUN CLIP`, `Recognizer.explain_clips`), on real
media made offline (tests/media_fixtures.py: espeak-ng voices over a real face): a tiny run
trained on extracted clips keeps its data's extraction record, scores new clips for any names
with an exact per-modality explanation, agrees with the dataset path (`extract --like` then
`predict --input`), and refuses what it cannot extract in one line."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

media_fixtures = pytest.importorskip("media_fixtures")

from emotrans.cli import main  # noqa: E402
from emotrans.data.formats.native import load_native  # noqa: E402
from emotrans.errors import MediaError, RunDirError  # noqa: E402
from emotrans.recognizer import ClipPrediction, Recognizer  # noqa: E402
from emotrans.training.runs import extraction_record  # noqa: E402
from helpers import EMB, TINY, write_mosei  # noqa: E402

needs_media = pytest.mark.skipif(
    media_fixtures.ESPEAK is None
    or any(importlib.util.find_spec(m) is None for m in ("opensmile", "mediapipe", "pocketsphinx")),
    reason='needs the media extra (pip install "emotrans[media]") and espeak-ng',
)
pytestmark = [pytest.mark.slow, needs_media]

NAMES = ["high", "low", "bored", "proud"]  # two trained, two never seen
TRAIN = ["--epochs", "3", "--batch-size", "4", "--hidden-audio", "8", "--hidden-vision", "4",
         "--layers", "1", "--embeddings", EMB, "--seed", "0", "--quiet"]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Labelled clips extracted to data.h5, a tiny transferable run on all three modalities
    (tav) and one on text and audio (ta), and two new clips with their own manifest."""
    root = tmp_path_factory.mktemp("predict_clips")
    data = media_fixtures.voice_dataset(root)
    for run, mods in (("tav", "tav"), ("ta", "ta")):
        assert main(["train", "--data", str(data), "--out", str(root / run),
                     "--modalities", mods, *TRAIN]) == 0  # fmt: skip
    new = root / "new"
    new.mkdir()
    media_fixtures.speech_clip(new / "a.mp4", "we walked along the river", pitch=90, speed=230)
    media_fixtures.speech_clip(new / "b.mp4", "they painted the fence green", pitch=10)
    for f in new.glob("*.*.*"):  # the fixtures' intermediate wavs and videos
        f.unlink()
    return {"root": root, "data": data, "tav": root / "tav", "ta": root / "ta", "new": new}


def _logit_explained(p: ClipPrediction) -> None:
    """contributions + bias reproduce every logit, and sigmoid(logit) the probability."""
    assert p.contributions is not None and p.fusion_weights is not None
    for n in p.emotions:
        total = p.bias + sum(p.contributions[m][n] for m in p.contributions)
        assert total == pytest.approx(p.logits[n], abs=1e-5)
        for m in p.contributions:
            assert p.contributions[m][n] == pytest.approx(
                p.fusion_weights[m] * p.modality_scores[m][n], abs=1e-6
            )
        assert p.probabilities[n] == pytest.approx(1 / (1 + np.exp(-p.logits[n])), abs=1e-6)
        assert 0.0 < p.probabilities[n] < 1.0


def test_a_run_keeps_its_data_extraction_record(world):
    rec = Recognizer.load(world["tav"])
    assert (world["tav"] / "extraction.json").is_file()
    assert rec.extraction == extraction_record(load_native(world["data"]).extraction)
    assert "by_clip" not in rec.extraction["timing"] and "skipped" not in rec.extraction
    assert rec.can_extract
    moved = world["root"] / "data.h5"  # the data file is not needed any more
    moved.rename(moved.with_suffix(".moved"))
    try:
        assert Recognizer.load(world["tav"]).can_extract
    finally:
        moved.with_suffix(".moved").rename(moved)


def test_python_scores_new_clips_for_any_names_with_an_exact_explanation(world):
    rec = Recognizer.load(world["tav"])
    clips = sorted(world["new"].glob("*.mp4"))
    preds = rec.explain_clips(clips, emotions=NAMES)
    assert [p.clip for p in preds] == [str(c) for c in clips]
    for p in preds:
        assert p.emotions == NAMES and sorted(p.ranking) == sorted(NAMES)
        assert p.trained_emotions == ["high", "low"]
        assert set(p.modality_scores) == {"text", "audio", "vision"}
        _logit_explained(p)
        assert p.transcript_source == "automatic" and p.transcript
        assert 1.0 < p.duration < 5.0 and p.seconds > 0
        json.dumps(p.to_dict())
    frame = rec.predict_clips(clips, emotions=NAMES)
    assert list(frame.columns[:5]) == ["clip", *NAMES]
    assert {"bored@audio", "proud@vision", "weight@text", "transcript_source"} <= set(frame)
    assert np.allclose(frame["proud"], [p.probabilities["proud"] for p in preds], atol=1e-6)


def test_a_clip_scores_as_through_extract_like_and_predict_input(world, tmp_path):
    clip = world["new"] / "a.mp4"
    text = "we walked along the river"
    manifest = media_fixtures.write_manifest(
        tmp_path / "new.csv", [[str(clip), text, "high", "test"]]
    )
    like = tmp_path / "like.h5"
    assert main(["extract", str(manifest), "--like", str(world["data"]), "--out", str(like),
                 "--cache", "off", "--quiet"]) == 0  # fmt: skip
    via_data = tmp_path / "via_data.csv"
    assert main(["predict", str(world["tav"]), "--input", str(like), "--emotions",
                 ",".join(NAMES), "--out", str(via_data)]) == 0  # fmt: skip
    out = tmp_path / "clip.csv"
    assert main(["predict", str(world["tav"]), str(clip), "--transcript", text,
                 "--emotions", ",".join(NAMES), "--out", str(out)]) == 0  # fmt: skip
    with via_data.open() as f, out.open() as g:
        want, got = next(csv.DictReader(f)), next(csv.DictReader(g))
    assert got["transcript_source"] == "given" and got["transcript"] == text
    for n in NAMES:
        assert float(got[n]) == pytest.approx(float(want[n]), abs=1e-5)


def test_cli_writes_json_and_shows_a_table(world, tmp_path, capsys):
    out = tmp_path / "preds.json"
    assert main(["predict", str(world["tav"]), str(world["new"]), "--emotions",
                 "bored,proud,anger", "--out", str(out), "--threads", "1"]) == 0  # fmt: skip
    preds = json.loads(out.read_text())
    assert [Path(p["clip"]).name for p in preds] == ["a.mp4", "b.mp4"]
    for p in preds:
        assert p["trained_emotions"] == [] and set(p["contributions"]) == {"text", "audio",
                                                                            "vision"}  # fmt: skip
        _logit_explained(ClipPrediction(**p))
    capsys.readouterr()
    assert main(["predict", str(world["tav"]), str(world["new"] / "b.mp4"), "--emotions",
                 "bored,low"]) == 0  # fmt: skip
    shown = capsys.readouterr().out
    assert "b.mp4" in shown and "bored *" in shown and "vision" in shown and "weights:" in shown


def test_wav_with_transcript_for_a_text_audio_run_and_refused_for_vision(world, tmp_path):
    wav = media_fixtures.speech_wav("please open the window", tmp_path / "w.wav", pitch=90)
    [p] = Recognizer.load(world["ta"]).explain_clips(
        [wav], ["high", "joy"], transcripts="please open the window"
    )
    assert set(p.fusion_weights) == {"text", "audio"} and p.transcript_source == "given"
    _logit_explained(p)
    with pytest.raises(MediaError, match=r"w\.wav: no video stream.*uses vision") as info:
        Recognizer.load(world["tav"]).explain_clips([wav])
    assert "\n" not in str(info.value)


def test_bad_media_are_one_line_errors_naming_the_file(world, tmp_path, capsys):
    bad = media_fixtures.text_named_mp4(tmp_path / "text.mp4")
    empty = media_fixtures.empty_clip(tmp_path / "empty.mp4")
    good = world["new"] / "b.mp4"
    for clip in (bad, empty, tmp_path / "missing.mp4"):
        assert main(["predict", str(world["tav"]), str(clip)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("emotrans: error: ") and str(clip) in err and "\n" not in err
    out = tmp_path / "p.csv"
    assert main(["predict", str(world["tav"]), str(bad), str(good), "--skip-failed",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert f"skipped: {bad}" in err and "1 of 2 clips failed" in err
    with out.open() as f:
        assert [r["clip"] for r in csv.DictReader(f)] == [str(good)]


def test_a_benchmark_feature_run_is_refused_in_one_line(world, tmp_path, capsys):
    import emotrans

    data = write_mosei(tmp_path / "mosei", scale=0.01)
    run = emotrans.train(data, **TINY).save(tmp_path / "bench")
    rec = Recognizer.load(run)
    assert rec.extraction is None and not rec.can_extract
    with pytest.raises(RunDirError, match="benchmark features"):
        rec.explain_clips([world["new"] / "a.mp4"])
    assert main(["predict", str(run), str(world["new"] / "a.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"emotrans: error: {run} was trained on benchmark features (COVAREP/FACET) that cannot "
        "be extracted from new clips; train on data made by `emotrans extract`"
    )


def test_workers_and_a_cache_score_as_one_process_does(world, tmp_path, monkeypatch, capsys):
    from emotrans.media import pipeline

    rec = Recognizer.load(world["tav"])
    clips = sorted(world["new"].glob("*.mp4"))
    plain = rec.explain_clips(clips, NAMES)
    cache = tmp_path / "cache"
    pooled = rec.explain_clips(clips, NAMES, workers=2, cache_dir=cache)
    assert any(cache.iterdir())

    def extracted_again(*args, **kwargs):
        raise RuntimeError("extracted again")

    monkeypatch.setattr(pipeline, "_words", extracted_again)
    for extractor in pipeline._WORKER_EXTRACTORS.values():  # this process's, loaded by `plain`
        monkeypatch.setattr(extractor, "extract", extracted_again)
    cached = rec.explain_clips(clips, NAMES, cache_dir=cache)  # read back, not extracted
    for a, b, c in zip(plain, pooled, cached, strict=True):
        assert a.clip == b.clip == c.clip and a.transcript == b.transcript == c.transcript
        for n in NAMES:
            assert b.probabilities[n] == pytest.approx(a.probabilities[n], abs=1e-5)
            assert c.probabilities[n] == pytest.approx(a.probabilities[n], abs=1e-5)
    out = tmp_path / "p.csv"
    assert main(["predict", str(world["tav"]), str(world["new"]), "--emotions", ",".join(NAMES),
                 "--cache", str(cache), "--out", str(out)]) == 0  # fmt: skip
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["clip"] for r in rows] == [str(c) for c in clips]
    assert [float(r["proud"]) for r in rows] == pytest.approx(
        [p.probabilities["proud"] for p in plain], abs=1e-5
    )
    capsys.readouterr()
    assert main(["predict", str(world["tav"]), "--input", str(world["data"]), "--workers", "2",
                 "--out", str(tmp_path / "x.csv")]) == 2  # fmt: skip
    assert capsys.readouterr().err.strip() == (
        "emotrans: error: --workers and --cache are for clips; --input is read as it is"
    )
    with pytest.raises(Exception, match="workers must be a whole number"):
        rec.explain_clips(clips, NAMES, workers=0)


def test_a_bad_clip_among_workers_stops_in_one_line_naming_it(world, tmp_path, capsys):
    bad = media_fixtures.faceless_clip(tmp_path / "faceless.mp4")  # fails in a worker
    good = world["new"] / "a.mp4"
    assert main(["predict", str(world["tav"]), str(good), str(bad), "--workers", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emotrans: error: ") and str(bad) in err and "\n" not in err
    assert "no face" in err and "(at vision:" in err
    out = tmp_path / "p.csv"
    assert main(["predict", str(world["tav"]), str(bad), str(good), "--workers", "2",
                 "--skip-failed", "--out", str(out)]) == 2  # fmt: skip
    assert "1 of 2 clips failed" in capsys.readouterr().err
    with out.open() as f:
        assert [r["clip"] for r in csv.DictReader(f)] == [str(good)]

"""End to end on real media made offline (tests/media_fixtures.py): clips whose labels are
audible (espeak-ng voices of different pitch and rate saying the same sentences, over a real
face on video) are extracted with the real extractors, trained on and scored through the CLI,
clearly above chance on held-out clips, and new emotion names are predicted; broken clips
are reported, never dropped silently."""

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

needs_media = pytest.mark.skipif(
    media_fixtures.ESPEAK is None
    or any(importlib.util.find_spec(m) is None for m in ("opensmile", "mediapipe", "pocketsphinx")),
    reason='needs the media extra (pip install "emotrans[media]") and espeak-ng',
)
pytestmark = [pytest.mark.slow, needs_media]

SENTENCES = [
    "the meeting starts at noon",
    "please open the window",
    "we walked along the river",
    "she bought a new coat",
    "the train was late again",
    "they painted the fence green",
]
VOICES = {"low": (5, 110), "mid": (50, 170), "high": (95, 260)}  # pitch 0-99, words/min
SPLITS = ["train"] * 7 + ["valid"] * 2 + ["test"] * 3


@pytest.fixture(scope="module")
def voices(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voices")
    (root / "clips").mkdir()
    rows = []
    for label, (pitch, speed) in VOICES.items():
        for i, split in enumerate(SPLITS):
            text = SENTENCES[i % len(SENTENCES)]
            name = f"{label}{i}.mp4"
            media_fixtures.speech_clip(root / "clips" / name, text, pitch=pitch, speed=speed)
            rows.append([f"clips/{name}", text, label, split])
    with (root / "clips.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "transcript", "label", "split"])
        w.writerows(rows)
    return root


def test_extract_train_predict_scores_audible_labels_above_chance(voices, tmp_path):
    data = tmp_path / "voices.h5"
    assert main(["extract", str(voices / "clips.csv"), "--out", str(data), "--workers", "2",
                 "--quiet"]) == 0  # fmt: skip
    ds = load_native(data)
    assert ds.emotions == ["high", "low", "mid"] and ds["test"].n == 9
    assert set(ds.extraction["extractors"]) == {"text", "audio", "vision"}
    assert set(ds.extraction["timing"]["by_clip"].values()) == {"aligned"}
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--epochs", "25",
                 "--embeddings", "random:0:16", "--batch-size", "8",
                 "--hidden-audio", "8", "--hidden-vision", "4", "--lr", "3e-3",
                 "--seed", "0"]) == 0  # fmt: skip
    test = json.loads((run / "metrics.json").read_text())["splits"]["test"]["average"]
    assert test["auc"] > 0.75, test  # chance is 0.5
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(run), "--input", str(data), "--emotions", "high,low,mid",
                 "--out", str(preds)]) == 0  # fmt: skip
    with preds.open() as f:
        rows = list(csv.DictReader(f))
    truth = dict(zip(ds["test"].ids, ds["test"].labels.argmax(1)))
    right = sum(
        int(np.argmax([float(r[e]) for e in ("high", "low", "mid")]) == truth[r["id"]])
        for r in rows
    )
    assert right / len(rows) >= 2 / 3, rows  # chance is 1/3
    unseen = tmp_path / "unseen.csv"
    assert main(["predict", str(run), "--input", str(data), "--emotions", "bored,proud,anger",
                 "--out", str(unseen)]) == 0  # fmt: skip
    with unseen.open() as f:
        first = next(csv.DictReader(f))
    assert all(0.0 <= float(first[e]) <= 1.0 for e in ("bored", "proud", "anger"))


def test_broken_clips_are_reported_fatal_without_skip_failed_and_listed(voices, tmp_path, capsys):
    root = tmp_path
    clips = root / "clips"
    clips.mkdir()
    good = media_fixtures.speech_clip(clips / "good.mp4", "the train was late again")
    media_fixtures.speech_clip(clips / "good2.mp4", "please open the window", pitch=80)
    media_fixtures.corrupt_clip(clips / "corrupt.mp4", good)
    media_fixtures.silent_clip(clips / "silent.mp4")
    media_fixtures.faceless_clip(clips / "faceless.mp4")
    media_fixtures.empty_clip(clips / "empty.mp4")
    media_fixtures.text_named_mp4(clips / "text.mp4")
    names = ["good", "good2", "corrupt", "silent", "faceless", "empty", "text"]
    with (root / "m.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split"])
        for i, n in enumerate(names):
            w.writerow([f"clips/{n}.mp4", "ab"[i % 2], "train"])
    out = root / "d.h5"
    args = ["extract", str(root / "m.csv"), "--out", str(out), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "emotrans: error: 5 of 7 clips failed" in err
    assert len([ln for ln in err.splitlines() if ln.startswith("emotrans: error")]) == 1
    report = json.loads((root / "d.h5.failures.json").read_text())
    reasons = {f["id"]: f for f in report["failures"]}
    assert set(reasons) == {"clips/corrupt", "clips/silent", "clips/faceless", "clips/empty",
                            "clips/text"}  # fmt: skip
    assert "no face" in reasons["clips/faceless"]["reason"]
    assert "no words" in reasons["clips/silent"]["reason"]
    assert "empty file" in reasons["clips/empty"]["reason"]
    assert all(f["reason"] and f["stage"] for f in report["failures"])
    assert not out.exists()
    assert main([*args, "--skip-failed"]) == 0
    ds = load_native(out)
    assert sorted(ds["train"].ids) == ["clips/good", "clips/good2"]
    assert {s["id"] for s in ds.extraction["skipped"]} == set(reasons)

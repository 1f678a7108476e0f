"""The extraction pipeline with fake extractors (tests/fake_media.py, registered with one line
each): alignment semantics, unaligned rates, the per-clip cache, failures, records, workers,
and the `emotrans extract` command."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data import load
from emotrans.data.csd_align import collapse_to_reference
from emotrans.data.formats.native import load_native
from emotrans.media.extractors.base import Words
from emotrans.media.layouts.registry import read_layout
from emotrans.media.pipeline import extract_dataset, make_settings
from fake_media import CALLS_ENV, TIMING, register, write_clip

FAKE = ["--audio", "fake-audio", "--vision", "fake-vision", "--text", "fake-text"]


@pytest.fixture(autouse=True)
def fakes():
    register()


def _manifest(root: Path, rows: list[dict], name: str = "clips.csv") -> Path:
    header = list(dict.fromkeys(k for r in rows for k in r))
    with (root / name).open("w", newline="") as f:
        w = csv.DictWriter(f, header)
        w.writeheader()
        w.writerows(rows)
    return root / name


def _labelled(root: Path, n: int = 12) -> Path:
    rows = []
    for i in range(n):
        write_clip(root / f"c{i}.mp4", duration=2.0 + 0.1 * i, value=float(i % 2))
        rows.append({"path": f"c{i}.mp4", "transcript": "one two three", "label": "ab"[i % 2]})
    return _manifest(root, rows)


def _settings(standardize=False, **kw):
    s = make_settings("fake-audio", "fake-vision", "fake-text", timing=TIMING, **kw)
    return dataclasses.replace(s, standardize=standardize)


def test_aligned_rows_are_the_csd_collapse_onto_each_word_with_the_last_t_words(tmp_path):
    write_clip(tmp_path / "a.mp4", duration=3.0, value=0.5)
    raw = read_layout(
        _manifest(
            tmp_path,
            [{"path": "a.mp4", "transcript": "w x y z", "label": "calm", "split": "train"}],
        )  # fmt: skip
    )
    res = extract_dataset(raw, _settings(seq_len=3))
    s = res.dataset["train"]
    assert {m: x.shape for m, x in s.features.items()} == {
        "text": (1, 3, 2), "audio": (1, 3, 2), "vision": (1, 3, 3)
    }  # fmt: skip
    assert all(int(x[0]) == 3 for x in s.lengths.values())  # 4 words, the last 3 kept
    edges = np.linspace(0, 3.0, 5)
    words = np.stack([edges[:-1], edges[1:]], 1)
    t = np.arange(300) / 100.0
    audio = np.stack([np.full(300, 0.5), t], 1)
    expected = collapse_to_reference(words, np.stack([t, t + 0.01], 1), audio).features[-3:]
    np.testing.assert_allclose(s.features["audio"][0], expected, rtol=1e-6)
    np.testing.assert_array_equal(s.features["text"][0, :, 1], [1, 2, 3])  # words 1..3 of 0..3
    record = res.dataset.extraction
    assert record["alignment"] == "words" and record["seq_len"]["audio"] == 3
    assert record["timing"]["by_clip"] == {"a": "aligned"}
    assert record["extractors"]["audio"]["name"] == "fake-audio"


def test_short_clips_are_left_padded_and_the_dataset_words_are_used_as_given(tmp_path):
    write_clip(tmp_path / "a.mp4", duration=2.0)
    raw = read_layout(_manifest(tmp_path, [{"path": "a.mp4", "label": "x", "split": "test"}]))
    raw.clips[0].clip.words = Words(("hi", "there"), np.array([[0.0, 0.5], [0.5, 1.0]]))
    res = extract_dataset(raw, _settings(seq_len=5))
    x = res.dataset["test"].features["text"][0]
    assert np.all(x[:3] == 0) and x[3:, 0].tolist() == [2, 5]
    assert res.record["timing"]["counts"] == {"dataset": 1, "aligned": 0, "automatic": 0}


def test_unaligned_audio_is_averaged_to_ten_per_second_vision_per_frame_each_with_its_t(tmp_path):
    write_clip(tmp_path / "a.mp4", duration=2.0, value=1.0)
    raw = read_layout(_manifest(tmp_path, [{"path": "a.mp4", "label": "x", "split": "test"}]))
    s = make_settings("fake-audio", "fake-vision", None, aligned=False, seq_len={"vision": 15})
    s = dataclasses.replace(s, standardize=False)
    res = extract_dataset(raw, s)
    split = res.dataset["test"]
    assert not res.dataset.aligned
    assert split.lengths["audio"][0] == 20 and split.lengths["vision"][0] == 15
    assert split.features["audio"].shape == (1, 200, 2)
    np.testing.assert_allclose(split.features["audio"][0, -20:, 1], np.arange(20) / 10 + 0.045)
    assert res.record["rates"] == {"audio": 10.0, "vision": None}
    assert res.record["timing"]["by_clip"] == {}  # no text, unaligned: no word timing needed


def test_each_failure_is_reported_with_its_stage_and_reason_and_listed_in_the_record(tmp_path):
    root = tmp_path
    write_clip(root / "ok.mp4")
    write_clip(root / "noface.mp4", face=False)
    write_clip(root / "silent.mp4", speech=False)
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("not a video\n")
    rows = [{"path": p, "label": "x", "split": "train"}
            for p in ("ok.mp4", "noface.mp4", "silent.mp4", "empty.mp4", "text.mp4", "gone.mp4")]  # fmt: skip
    raw = read_layout(_manifest(root, rows))
    res = extract_dataset(raw, _settings())
    reasons = {f.id: (f.stage, f.reason) for f in res.failures}
    assert set(reasons) == {"noface", "silent", "empty", "text", "gone"}
    assert reasons["noface"] == (
        "vision:fake-vision",
        f"{root / 'noface.mp4'}: no face in any frame",
    )
    assert reasons["silent"][0] == "timing" and "no words" in reasons["silent"][1]
    assert "empty file" in reasons["empty"][1] and "cannot decode" in reasons["text"][1]
    assert "no such file" in reasons["gone"][1]
    assert res.dataset["train"].ids.tolist() == ["ok"]
    assert {s["id"] for s in res.record["skipped"]} == set(reasons)
    assert res.record["clips"] == {"total": 6, "extracted": 1, "failed": 5, "from_cache": 0}


def test_the_cache_resumes_and_a_changed_file_is_extracted_again(tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv(CALLS_ENV, str(calls))
    raw = read_layout(_labelled(tmp_path, 4))
    first = extract_dataset(raw, _settings(), cache_dir=tmp_path / "cache")
    n_first = len(calls.read_text().splitlines())
    again = extract_dataset(raw, _settings(seq_len=2), cache_dir=tmp_path / "cache")
    assert len(calls.read_text().splitlines()) == n_first  # nothing extracted again
    assert again.record["clips"]["from_cache"] == 4
    assert again.dataset["train"].features["audio"].shape[1] == 2  # new T from cached rows
    write_clip(tmp_path / "c0.mp4", duration=3.0, value=0.0)  # content changed
    extract_dataset(raw, _settings(), cache_dir=tmp_path / "cache")
    assert {ln for ln in calls.read_text().splitlines()[n_first:]} == {"c0.mp4"}
    assert first.record["clips"]["from_cache"] == 0


def test_two_workers_give_the_same_dataset_as_one(tmp_path):
    raw = read_layout(_labelled(tmp_path, 8))
    one = extract_dataset(raw, _settings()).dataset
    two = extract_dataset(raw, _settings(), workers=2).dataset
    for split in one.splits:
        for m in one.modalities:
            np.testing.assert_array_equal(one[split].features[m], two[split].features[m])
        np.testing.assert_array_equal(one[split].ids, two[split].ids)


def test_the_record_round_trips_through_the_native_file(tmp_path):
    raw = read_layout(_labelled(tmp_path, 6))
    out = tmp_path / "d.h5"
    main(["extract", str(tmp_path / "clips.csv"), "--out", str(out), *FAKE,
          "--timing", TIMING, "--quiet"])  # fmt: skip
    back = load_native(out)
    assert back.extraction["extractors"]["vision"]["name"] == "fake-vision"
    assert back.extraction["split"]["kind"] == "stratified"
    assert back.emotions == raw.emotions and back.meta["layout"] == "manifest"
    assert load(out).extraction == back.extraction


def test_extract_exits_2_naming_the_count_unless_skip_failed(tmp_path, capsys):
    _labelled(tmp_path, 6)
    (tmp_path / "c3.mp4").write_text("garbage")
    out = tmp_path / "d.h5"
    args = ["extract", str(tmp_path / "clips.csv"), "--out", str(out), *FAKE, "--timing", TIMING]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "emotrans: error: 1 of 6 clips failed" in err and "c3" in err and "\r" not in err
    assert not out.exists()
    report = json.loads((tmp_path / "d.h5.failures.json").read_text())
    assert [f["id"] for f in report["failures"]] == ["c3"]
    assert main([*args, "--skip-failed"]) == 0
    data = load_native(out)
    assert data.extraction["skipped"][0]["id"] == "c3"
    assert "c3" not in [i for s in data.splits.values() for i in s.ids]
    assert data.extraction["clips"]["from_cache"] == 5  # the first run's work was kept


def test_like_extracts_new_unlabelled_clips_identically(tmp_path):
    _labelled(tmp_path, 6)
    out = tmp_path / "d.h5"
    main(["extract", str(tmp_path / "clips.csv"), "--out", str(out), *FAKE, "--timing", TIMING,
          "--seq-len", "4", "--quiet"])  # fmt: skip
    new = tmp_path / "new"
    new.mkdir()
    write_clip(new / "n.mp4", value=1.0)
    _manifest(new, [{"path": "n.mp4", "transcript": "a b"}], "new.csv")
    assert main(["extract", str(new / "new.csv"), "--out", str(new / "n.h5"), "--like", str(out),
                 "--quiet"]) == 0  # fmt: skip
    data = load_native(new / "n.h5")
    assert data.emotions == [] and data["test"].ids.tolist() == ["n"]
    assert data.extraction["extractors"] == load_native(out).extraction["extractors"]
    assert data["test"].features["audio"].shape == (1, 4, 2)


def test_bad_flags_are_one_line_errors(tmp_path, capsys):
    _labelled(tmp_path, 2)
    base = ["extract", str(tmp_path / "clips.csv"), "--out", str(tmp_path / "d.h5")]
    assert main([*base, "--audio", "nope"]) == 2
    assert "unknown extractor 'nope'" in capsys.readouterr().err
    assert main([*base, "--audio", "fake-vision"]) == 2
    assert "is a vision extractor, not audio" in capsys.readouterr().err
    assert main([*base, *FAKE, "--seq-len", "sound=3"]) == 2
    assert "unknown modality 'sound'" in capsys.readouterr().err
    assert main([*base, *FAKE, "--option", "colour=red"]) == 2
    assert "unknown option(s) colour" in capsys.readouterr().err


def test_audio_and_vision_are_z_scored_with_train_statistics_that_like_reuses(tmp_path):
    raw = read_layout(_labelled(tmp_path, 12))
    res = extract_dataset(raw, _settings(standardize=True))
    train = res.dataset["train"]
    x, n = train.features["audio"], train.lengths["audio"]
    rows = np.concatenate([x[i, -n[i] :] for i in range(train.n)])
    np.testing.assert_allclose(rows.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(rows.std(0), 1, atol=1e-4)
    assert np.all(x[0, : -n[0]] == 0)  # padding stays zero
    assert res.dataset["train"].features["text"][0, -1, 0] == 5  # text untouched ("three")
    stats = res.record["standardized"]
    assert set(stats) == {"audio", "vision"}
    again = extract_dataset(raw, dataclasses.replace(_settings(), standardize=stats))
    np.testing.assert_allclose(again.dataset["test"].features["audio"],
                               res.dataset["test"].features["audio"], rtol=1e-6)  # fmt: skip

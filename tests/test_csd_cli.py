"""``emotrans data from-csd`` and ``emotrans data inspect X.csd``, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data.csd import write_csd
from emotrans.data.formats.native import load_native


def _words(n):
    starts = np.arange(n, dtype=np.float64)
    return np.stack([starts, starts + 1], axis=1), np.arange(n * 3, dtype=np.float32).reshape(n, 3)


@pytest.fixture
def csd_set(tmp_path):
    """Four tiny .csd files (videos a, b, c; c lacks audio) and a folds file."""
    w, f = _words(4)
    frames = np.stack([np.arange(40) / 10, np.arange(1, 41) / 10], axis=1)
    audio_ft = np.ones((40, 2), np.float32)
    audio_ft[0, 0] = -np.inf
    seg = (np.array([[0.0, 2.0], [2.0, 4.0]]), np.array([[1, 1, 0, 0, 0, 0, 2]] * 2, np.float32))
    paths = {
        "text": write_csd(tmp_path / "words.csd", "glove_vectors", {v: (w, f) for v in "abc"}),
        "audio": write_csd(
            tmp_path / "covarep.csd", "COVAREP", {v: (frames, audio_ft) for v in "ab"}
        ),
        "vision": write_csd(
            tmp_path / "facet.csd",
            "FACET 4.2",
            {v: (frames, np.ones((40, 1), np.float32)) for v in "abc"},
        ),
        "labels": write_csd(tmp_path / "labels.csd", "All Labels", dict.fromkeys("abc", seg)),
    }
    folds = tmp_path / "folds.txt"
    folds.write_text("train a\nvalid b\ntest c\n")
    paths["folds"] = folds
    return paths


def _argv(paths, out, *extra):
    return [
        "data",
        "from-csd",
        "--text",
        str(paths["text"]),
        "--audio",
        str(paths["audio"]),
        "--vision",
        str(paths["vision"]),
        "--labels",
        str(paths["labels"]),
        "--folds",
        str(paths["folds"]),
        "--seq-len",
        "3",
        "--out",
        str(out),
        *extra,
    ]


def test_from_csd_writes_a_native_file_and_reports(csd_set, tmp_path, capsys):
    out = tmp_path / "mosei.h5"
    assert main(_argv(csd_set, out, "--report", str(tmp_path / "report.json"))) == 0
    printed = capsys.readouterr().out
    assert "dropped 1 video(s) not present in every file (1 not in audio" in printed
    assert "non-finite feature values replaced by 0: 2 (train/audio 1, valid/audio 1)" in printed
    ds = load_native(out)
    assert ds.emotions == ["anger", "disgust", "fear", "happy", "sad", "surprise"]
    assert {s: ds[s].ids.tolist() for s in ds.splits} == {
        "train": ["a[0]", "a[1]"],
        "valid": ["b[0]", "b[1]"],
        "test": [],
    }
    assert ds["train"].features["text"].shape == (2, 3, 3)
    assert ds["train"].labels[0].tolist() == [0, 0, 1, 1, 0, 0]
    assert ds.nonfinite["train/audio"] == 1
    assert ds.meta["format"] == "csd" and ds.meta["sdk_compat"] is False
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["dropped_missing"] == {"count": 1, "first": ["c"]}


def test_from_csd_sdk_compat_is_recorded(csd_set, tmp_path):
    out = tmp_path / "compat.h5"
    assert main(_argv(csd_set, out, "--sdk-compat")) == 0
    assert load_native(out).meta["sdk_compat"] is True


def test_from_csd_bad_input_is_one_line_and_writes_nothing(csd_set, tmp_path, capsys):
    bad = tmp_path / "bad.csd"
    write_csd(bad, "COVAREP", {"a": (np.array([[0.0, 1.0]]), np.zeros((2, 2), np.float32))})
    csd_set["audio"] = bad
    out = tmp_path / "never.h5"
    assert main(_argv(csd_set, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("emotrans: error: ") and "bad.csd: video 'a' has 2 feature rows" in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".never")]


def test_from_csd_rejects_a_non_csd_hdf5_file(csd_set, tmp_path, capsys):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    csd_set["labels"] = other
    assert main(_argv(csd_set, tmp_path / "x.h5")) == 2
    assert "other.h5: HDF5 file but not a CMU-MultimodalSDK" in capsys.readouterr().err


def test_inspect_csd_table_and_json(csd_set, capsys):
    assert main(["data", "inspect", str(csd_set["audio"])]) == 0
    table = capsys.readouterr().out
    assert "computational sequence 'COVAREP'" in table
    assert "videos           2" in table and "rows             80" in table
    assert "interval sanity" in table
    assert main(["data", "inspect", str(csd_set["labels"]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["videos"], report["rows"], report["dim"]) == (3, 6, 7)
    assert report["problems"]["overlapping"] == 0


def test_inspect_a_broken_csd_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "x.csd"
    path.write_bytes(b"\x89HDF garbage")
    assert main(["data", "inspect", str(path)]) == 2
    assert "x.csd: not a readable HDF5 file" in capsys.readouterr().err

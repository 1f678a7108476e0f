"""MulT pickles (IEMOCAP aligned/unaligned, CMU-MOSEI sentiment), on tiny files written here."""

from __future__ import annotations

import os
from functools import partial

import numpy as np
import pytest

from emotrans.data import load
from emotrans.data.formats.mult_pickle import IEMOCAP_EMOTIONS, load_mult
from emotrans.errors import DataFormatError
from helpers import load_error, write_pickle

DIMS = {"text": 300, "audio": 74, "vision": 35}
SIZES = {"train": 5, "valid": 3, "test": 4}


def features(rng, n, steps, pad):
    """(N, T, D) per modality, row i left padded by pad[i] steps (scaled to T)."""
    out = {}
    for m, d in DIMS.items():
        t = steps[m]
        x = rng.standard_normal((n, t, d)).astype(np.float32)
        for i, p in enumerate(pad):
            x[i, : p * t // 20] = 0
        out[m] = x
    return out


def onehot(classes, k=4):
    """(N, 4, 2) [absent, present] per emotion."""
    y = np.zeros((len(classes), k, 2), np.float32)
    y[:, :, 0] = 1
    for i, c in enumerate(classes):
        y[i, c] = [0, 1]
    return y


def iemocap_content(steps, seed=0):
    rng = np.random.default_rng(seed)
    content = {}
    for split, n in SIZES.items():
        pad = [i % 4 for i in range(n)]
        entry = features(rng, n, steps, pad)
        entry["labels"] = onehot([i % 4 for i in range(n)])
        content[split] = entry
    return content


ALIGNED = {"text": 20, "audio": 20, "vision": 20}
UNALIGNED = {"text": 20, "audio": 40, "vision": 60}


def test_aligned_iemocap_labels_are_the_present_entries_in_order(tmp_path):
    content = iemocap_content(ALIGNED)
    ds = load_mult(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert ds.name == "iemocap"
    assert ds.emotions == ["neutral", "happy", "sad", "angry"] == list(IEMOCAP_EMOTIONS)
    assert ds.aligned
    for split, entry in content.items():
        s = ds[split]
        expected = np.zeros((SIZES[split], 4), np.uint8)
        expected[np.arange(SIZES[split]), np.arange(SIZES[split]) % 4] = 1
        assert np.array_equal(s.labels, expected)
        assert s.intensities is None
        for m in DIMS:
            assert np.array_equal(s.features[m], entry[m])
        assert s.lengths["text"].tolist() == [20 - i % 4 for i in range(SIZES[split])]
        assert s.ids.tolist() == [f"{split}_{i}" for i in range(SIZES[split])]


def test_unaligned_pickle_has_lengths_per_modality(tmp_path):
    content = iemocap_content(UNALIGNED)
    ds = load_mult(write_pickle(tmp_path / "iemocap_data_noalign.pkl", content))
    assert not ds.aligned
    s = ds["train"]
    assert {m: x.shape[1] for m, x in s.features.items()} == UNALIGNED
    assert s.lengths["text"].tolist() == [20, 19, 18, 17, 20]
    assert s.lengths["audio"].tolist() == [40, 38, 36, 34, 40]
    assert s.lengths["vision"].tolist() == [60, 57, 54, 51, 60]


def test_sentiment_pickle_keeps_the_score_and_joins_ids(tmp_path):
    rng = np.random.default_rng(0)
    content = {}
    for split, n in SIZES.items():
        entry = features(rng, n, {m: 50 for m in DIMS}, [0] * n)
        score = np.linspace(-3, 3, n).astype(np.float32)
        entry["labels"] = score.reshape(n, 1, 1)
        entry["id"] = np.array([[f"vid{i}".encode(), b"1.5", b"4.0"] for i in range(n)])
        content[split] = entry
    ds = load_mult(write_pickle(tmp_path / "mosei_senti_data.pkl", content))
    assert ds.name == "mosei-senti"
    assert ds.emotions == ["sentiment"]
    s = ds["valid"]
    assert s.intensities[:, 0].tolist() == [-3.0, 0.0, 3.0]
    assert s.labels[:, 0].tolist() == [0, 0, 1]
    assert s.ids.tolist() == ["vid0_1.5_4.0", "vid1_1.5_4.0", "vid2_1.5_4.0"]


def test_non_finite_audio_is_replaced_and_counted(tmp_path):
    content = iemocap_content(ALIGNED)
    content["test"]["audio"][1, 5, 0] = -np.inf
    content["test"]["audio"][2, 7, 0] = -np.inf
    ds = load_mult(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert ds.nonfinite["test/audio"] == 2
    assert np.isfinite(ds["test"].features["audio"]).all()


def test_float64_arrays_become_float32(tmp_path):
    content = iemocap_content(ALIGNED)
    content["train"]["text"] = content["train"]["text"].astype(np.float64)
    ds = load_mult(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert ds["train"].features["text"].dtype == np.float32


def test_directory_with_both_pickles_needs_the_file_or_format(tmp_path):
    write_pickle(tmp_path / "iemocap_data.pkl", iemocap_content(ALIGNED))
    write_pickle(tmp_path / "iemocap_data_noalign.pkl", iemocap_content(UNALIGNED))
    with pytest.raises(DataFormatError, match="several MulT pickles"):
        load_mult(tmp_path)
    assert not load(tmp_path, format="mult-noalign").aligned
    assert load(tmp_path, format="mult").aligned


# -- bad input ----------------------------------------------------------------------------------


error_of = partial(load_error, load)


def test_missing_file_is_named(tmp_path):
    message = error_of(tmp_path / "iemocap_data.pkl")
    assert "iemocap_data.pkl" in message and "no such file" in message


def test_missing_split_is_named(tmp_path):
    content = iemocap_content(ALIGNED)
    del content["valid"]
    message = error_of(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "iemocap_data.pkl" in message and "'valid'" in message


def test_missing_labels_key_is_named(tmp_path):
    content = iemocap_content(ALIGNED)
    del content["test"]["labels"]
    message = error_of(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "iemocap_data.pkl [test]" in message and "'labels'" in message


def test_sample_count_disagreeing_with_labels_is_reported(tmp_path):
    content = iemocap_content(ALIGNED)
    content["train"]["vision"] = content["train"]["vision"][:4]
    message = error_of(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "[train]" in message and "4 vision samples but 5 label rows" in message


def test_dims_differing_between_splits_are_reported(tmp_path):
    content = iemocap_content(ALIGNED)
    content["test"]["audio"] = content["test"]["audio"][:, :, :70]
    message = error_of(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "[test]" in message and "70 audio features" in message and "74" in message


def test_labels_of_the_wrong_shape_are_reported(tmp_path):
    content = iemocap_content(ALIGNED)
    content["train"]["labels"] = np.zeros((5, 3, 2), np.float32)
    message = error_of(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "iemocap_data.pkl" in message and "(5, 3, 2)" in message


@pytest.mark.parametrize("keep", [0.5, 0.01])
def test_truncated_pickle_is_reported(tmp_path, keep):
    path = write_pickle(tmp_path / "iemocap_data.pkl", iemocap_content(ALIGNED))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    message = error_of(path)
    assert "iemocap_data.pkl" in message and "pickle" in message


def test_file_that_is_not_a_pickle_is_reported(tmp_path):
    path = tmp_path / "iemocap_data.pkl"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(200))
    message = error_of(path)
    assert "iemocap_data.pkl" in message and "not a readable pickle" in message


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write_pickle(tmp_path / "iemocap_data.pkl", {"train": _Exploit()})
    message = error_of(path)
    assert "refusing to load" in message and "system" in message
    assert not (tmp_path / "pwned.txt").exists()

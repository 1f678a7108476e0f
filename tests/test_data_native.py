"""The native emotrans format: one HDF5 file that round-trips a Dataset exactly."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from emotrans.data import Dataset, Split, load, load_native, save_native
from emotrans.data.formats.native import read_manifest
from emotrans.errors import DataFormatError
from helpers import load_error


def hand_made(intensities=True, aligned=False) -> Dataset:
    rng = np.random.default_rng(0)
    steps = {"text": 20, "audio": 20, "vision": 20} if aligned else {"text": 5, "audio": 9}
    splits = {}
    for name, n in (("train", 4), ("valid", 2), ("test", 3)):
        feats = {
            m: rng.standard_normal((n, t, 3 + i)).astype(np.float32)
            for i, (m, t) in enumerate(steps.items())
        }
        lengths = {m: rng.integers(1, steps[m] + 1, n).astype(np.int64) for m in steps}
        labels = rng.integers(0, 2, (n, 2)).astype(np.uint8)
        splits[name] = Split(
            features=feats,
            lengths=lengths,
            labels=labels,
            ids=np.array([f"ü-{name}-{i}" if i else f"日本_{name}" for i in range(n)]),
            intensities=(labels * rng.uniform(0.3, 3, (n, 2))).astype(np.float32)
            if intensities
            else None,
        )
    return Dataset(
        name="toy",
        emotions=["joy", "not sure"],
        splits=splits,
        aligned=aligned,
        source="/somewhere/original",
        nonfinite={"train/audio": 3, "valid/audio": 0},
        meta={"format": "mosei-h5", "note": [1, 2.5, "x"]},
    )


def assert_same(a: Dataset, b: Dataset) -> None:
    assert (a.name, a.emotions, a.aligned, a.meta, a.nonfinite) == (
        b.name,
        b.emotions,
        b.aligned,
        b.meta,
        b.nonfinite,
    )
    assert list(a.splits) == list(b.splits)
    for name in a.splits:
        x, y = a[name], b[name]
        assert list(x.features) == list(y.features)
        for m in x.features:
            assert y.features[m].dtype == x.features[m].dtype
            assert np.array_equal(x.features[m], y.features[m])
            assert y.lengths[m].dtype == np.int64
            assert np.array_equal(x.lengths[m], y.lengths[m])
        assert y.labels.dtype == np.uint8
        assert np.array_equal(x.labels, y.labels)
        assert np.array_equal(x.ids, y.ids)
        if x.intensities is None:
            assert y.intensities is None
        else:
            assert np.array_equal(x.intensities, y.intensities)


@pytest.mark.parametrize("intensities", [True, False])
@pytest.mark.parametrize("aligned", [True, False])
def test_round_trip_is_exact(tmp_path, intensities, aligned):
    original = hand_made(intensities, aligned)
    path = save_native(original, tmp_path / "toy.h5")
    loaded = load_native(path)
    assert_same(original, loaded)
    assert loaded.source == str(path)


def test_load_detects_the_native_file_and_its_directory(tmp_path):
    original = hand_made()
    save_native(original, tmp_path / "toy.h5")
    assert_same(original, load(tmp_path / "toy.h5"))
    assert_same(original, load(tmp_path))


def test_file_is_hdf5_with_a_json_manifest(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    manifest = read_manifest(path)
    assert manifest["format"] == "emotrans" and manifest["version"] == 1
    assert manifest["source"] == "/somewhere/original"
    assert manifest["splits"] == ["train", "valid", "test"]
    with h5py.File(path, "r") as f:
        assert f["train/features/text"].shape == (4, 5, 3)
        assert f["train/ids"].asstr()[0] == "日本_train"


def test_failed_save_leaves_the_previous_file_untouched(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    before = path.read_bytes()
    bad = hand_made()
    bad.meta = {"not json": object()}
    with pytest.raises(DataFormatError, match="JSON"):
        save_native(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["toy.h5"]


def test_non_finite_features_are_refused(tmp_path):
    ds = hand_made()
    ds["valid"].features["audio"][0, 0, 0] = np.nan
    with pytest.raises(DataFormatError, match="non-finite"):
        save_native(ds, tmp_path / "toy.h5")
    assert not (tmp_path / "toy.h5").exists()


def error_of(path):
    message = load_error(load_native, path)
    assert str(path) in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "none.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "toy.h5"
    path.write_text("hello")
    assert "HDF5" in error_of(path)


def test_truncated(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    path.write_bytes(path.read_bytes()[:3000])
    error_of(path)


def test_hdf5_without_manifest(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("d1", data=np.zeros(3))
    assert "not native" in error_of(path)


def test_newer_version_is_refused(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        manifest = json.loads(f.attrs["manifest"])
        manifest["version"] = 99
        f.attrs["manifest"] = json.dumps(manifest)
    assert "version 99" in error_of(path)


def test_missing_array_is_named(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        del f["valid/labels"]
    assert "'labels'" in error_of(path)


def test_labels_of_the_wrong_shape(tmp_path):
    path = save_native(hand_made(), tmp_path / "toy.h5")
    with h5py.File(path, "r+") as f:
        del f["test/labels"]
        f["test/labels"] = np.zeros((3, 5), np.uint8)
    assert "labels have shape (3, 5)" in error_of(path)

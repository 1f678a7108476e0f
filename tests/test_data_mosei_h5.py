"""CMU-MOSEI emotion in the reference h5 layout, on tiny files written here."""

from __future__ import annotations

from functools import partial

import h5py
import numpy as np
import pytest

from emotrans.data import load
from emotrans.data.formats.mosei_h5 import EMOTIONS, load_mosei_h5
from helpers import load_error

DIMS = {"text": 300, "audio": 74, "vision": 35}
FILES = {"text": "text_{}_emb.h5", "audio": "audio_{}.h5", "vision": "video_{}.h5"}
SIZES = {"train": 6, "valid": 3, "test": 4}
T = 20


def write_h5(path, array, key="d1"):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=array)


def make_split(rng, n, pad):
    """Features (N, T, D) left padded by ``pad[i]`` steps and intensities (N, 6)."""
    feats = {}
    for m, d in DIMS.items():
        x = rng.standard_normal((n, T, d)).astype(np.float32)
        for i, p in enumerate(pad):
            x[i, :p] = 0
        feats[m] = x
    intensities = rng.choice([0.0, 0.0, 1 / 3, 2 / 3, 1.0, 3.0], size=(n, 6)).astype(np.float32)
    return feats, intensities


@pytest.fixture
def mosei_dir(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in SIZES.items():
        pad = [i % 5 for i in range(n)]
        feats, intensities = make_split(rng, n, pad)
        for m, x in feats.items():
            write_h5(tmp_path / FILES[m].format(split), x)
        write_h5(tmp_path / f"ey_{split}.h5", intensities)
        arrays[split] = (feats, intensities, np.array([T - p for p in pad]))
    return tmp_path, arrays


def test_reads_every_split_with_reference_shapes_and_label_order(mosei_dir):
    path, arrays = mosei_dir
    ds = load_mosei_h5(path)
    assert ds.name == "mosei"
    assert ds.emotions == ["anger", "disgust", "fear", "happy", "sad", "surprise"] == list(EMOTIONS)
    assert list(ds.splits) == ["train", "valid", "test"]
    assert ds.modalities == ("text", "audio", "vision")
    assert ds.aligned
    for split, (feats, _, _) in arrays.items():
        s = ds[split]
        for m, x in feats.items():
            assert s.features[m].dtype == np.float32
            assert np.array_equal(s.features[m], x)
        assert s.ids.shape == (SIZES[split],)


def test_labels_are_intensity_above_zero_and_intensities_are_kept(mosei_dir):
    path, arrays = mosei_dir
    ds = load_mosei_h5(path)
    for split, (_, intensities, _) in arrays.items():
        assert np.array_equal(ds[split].labels, (intensities > 0).astype(np.uint8))
        assert np.array_equal(ds[split].intensities, intensities)


def test_lengths_come_from_left_padding_shared_by_all_modalities(mosei_dir):
    path, arrays = mosei_dir
    ds = load_mosei_h5(path)
    for split, (_, _, lengths) in arrays.items():
        for m in DIMS:
            assert np.array_equal(ds[split].lengths[m], lengths)


def test_one_modality_starting_earlier_sets_the_shared_length(tmp_path):
    rng = np.random.default_rng(1)
    for split in SIZES:
        feats, intensities = make_split(rng, 2, [10, 10])
        feats["audio"][0, 5:10] = 1.0  # audio starts at step 5 in row 0
        for m, x in feats.items():
            write_h5(tmp_path / FILES[m].format(split), x)
        write_h5(tmp_path / f"ey_{split}.h5", intensities)
    ds = load_mosei_h5(tmp_path)
    assert ds["train"].lengths["text"].tolist() == [15, 10]
    assert ds["train"].lengths["vision"].tolist() == [15, 10]


def test_minus_infinity_in_audio_is_replaced_by_zero_and_counted(mosei_dir):
    path, arrays = mosei_dir
    audio = arrays["valid"][0]["audio"].copy()
    audio[0, 10, 0] = -np.inf
    audio[2, 19, 0] = -np.inf
    audio[1, 15, 3] = np.nan
    write_h5(path / "audio_valid.h5", audio)
    ds = load_mosei_h5(path)
    assert ds.nonfinite["valid/audio"] == 3
    assert ds.nonfinite["train/audio"] == 0
    x = ds["valid"].features["audio"]
    assert np.isfinite(x).all()
    assert x[0, 10, 0] == 0 and x[2, 19, 0] == 0 and x[1, 15, 3] == 0


def test_float64_files_are_read_as_float32(mosei_dir):
    path, arrays = mosei_dir
    write_h5(path / "video_test.h5", arrays["test"][0]["vision"].astype(np.float64))
    ds = load_mosei_h5(path)
    assert ds["test"].features["vision"].dtype == np.float32
    assert np.array_equal(ds["test"].features["vision"], arrays["test"][0]["vision"])


def test_chunked_compressed_files_read_the_same(mosei_dir):
    path, arrays = mosei_dir
    audio = arrays["train"][0]["audio"]
    with h5py.File(path / "audio_train.h5", "w") as f:
        f.create_dataset("d1", data=audio, chunks=(2, 20, 74), compression="gzip")
    ds = load_mosei_h5(path)
    assert np.array_equal(ds["train"].features["audio"], audio)
    assert np.array_equal(ds["train"].lengths["audio"], arrays["train"][2])


def test_modalities_option_reads_only_those(mosei_dir):
    path, _ = mosei_dir
    (path / "text_valid_emb.h5").unlink()  # not needed when text is not asked for
    ds = load(path, modalities=("audio", "vision"))
    assert ds.modalities == ("audio", "vision")


# -- bad input: one-line DataFormatError naming the file ---------------------------------------


error_of = partial(load_error, load)


def test_missing_file_is_named(mosei_dir):
    path, _ = mosei_dir
    (path / "audio_valid.h5").unlink()
    message = error_of(path)
    assert "audio_valid.h5" in message and "no such file" in message


def test_missing_key_is_named(mosei_dir):
    path, arrays = mosei_dir
    write_h5(path / "ey_test.h5", arrays["test"][1], key="d2")
    message = error_of(path)
    assert "ey_test.h5" in message and "'d1'" in message and "d2" in message


def test_sample_count_disagreeing_with_labels_is_reported(mosei_dir):
    path, arrays = mosei_dir
    write_h5(path / "ey_valid.h5", arrays["valid"][1][:2])
    message = error_of(path)
    assert "text_valid_emb.h5" in message and "3 samples" in message
    assert "2 label rows" in message and "ey_valid.h5" in message


def test_dims_differing_between_splits_are_reported(mosei_dir):
    path, arrays = mosei_dir
    write_h5(path / "video_test.h5", arrays["test"][0]["vision"][:, :, :30])
    message = error_of(path)
    assert "video_test.h5" in message and "30" in message and "35" in message


@pytest.mark.parametrize("keep", [0.5, 0.05])
def test_truncated_file_is_reported(mosei_dir, keep):
    path, _ = mosei_dir
    target = path / "text_train_emb.h5"
    data = target.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    message = error_of(path)
    assert "text_train_emb.h5" in message


def test_non_hdf5_file_is_reported(mosei_dir):
    path, _ = mosei_dir
    (path / "ey_train.h5").write_text("anger,disgust\n1,0\n")
    message = error_of(path)
    assert "ey_train.h5" in message and "HDF5" in message


def test_labels_of_the_wrong_shape_are_reported(mosei_dir):
    path, arrays = mosei_dir
    write_h5(path / "ey_train.h5", np.zeros((SIZES["train"], 7), np.float32))
    message = error_of(path)
    assert "ey_train.h5" in message and "(6, 7)" in message

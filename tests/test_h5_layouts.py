"""H5 layouts of other public repositories, read through the format registry; modalities
passed to every loader; rows with no valid step and Git LFS pointers named.

Each fixture writes tiny files in exactly the layout its repository distributes (float64
arrays, the key that repository's code reads, ``y_`` label files).
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from emotrans.cli import main
from emotrans.cli.data_csd import resolve_folds
from emotrans.data import detect_format, load
from emotrans.data.csd import write_csd
from emotrans.data.folds import standard_folds
from emotrans.errors import DataFormatError
from helpers import EMB, load_error, write_mosei

SIZES = {"train": 12, "valid": 5, "test": 6}
LFS_POINTER = (
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 1234567890\n"
)


def _h5(path, key, array):
    with h5py.File(path, "w") as f:
        f.create_dataset(key, data=array)


@pytest.fixture
def mfn_mosi(tmp_path):
    """pliang279/MFN data/: X_{split}.h5 (N, 20, 300+5+20) and y_{split}.h5 (N,), key data."""
    rng = np.random.default_rng(0)
    out = tmp_path / "mfn"
    out.mkdir()
    for split, n in SIZES.items():
        x = rng.normal(size=(n, 20, 325))  # float64, as stored
        x[:, :12] = 0  # left padding
        x[0] = 0  # a row with no valid step in any modality
        _h5(out / f"X_{split}.h5", "data", x)
        _h5(out / f"y_{split}.h5", "data", rng.uniform(-3, 3, size=n))
    return out


@pytest.fixture
def per_modality_y(tmp_path):
    """pliang279/MFN new_data/<set>/: {text_*_emb,audio_*,video_*,y_*}.h5, key d1, float64;
    y one-hot over 3 classes (N, 3)."""
    rng = np.random.default_rng(1)
    out = tmp_path / "youtube"
    out.mkdir()
    for split, n in SIZES.items():
        for name, dim in (("text_{}_emb", 300), ("audio_{}", 74), ("video_{}", 36)):
            x = rng.normal(size=(n, 20, dim))
            if name == "audio_{}":
                x[: n // 2] = 0  # half of the audio rows missing
            _h5(out / f"{name.format(split)}.h5", "d1", x)
        _h5(out / f"y_{split}.h5", "d1", np.eye(3)[rng.integers(0, 3, size=n)])
    return out


def test_mfn_xy_splits_the_concatenated_features_and_reads_sentiment(mfn_mosi):
    assert detect_format(mfn_mosi) == "mfn-xy"
    ds = load(mfn_mosi)
    assert ds.task == "sentiment" and ds.emotions == ["sentiment"]
    assert ds.dims == {"text": 300, "audio": 5, "vision": 20}
    train = ds["train"]
    assert train.features["audio"].dtype == np.float32
    with h5py.File(mfn_mosi / "X_train.h5") as f:
        x = f["data"][:]
    np.testing.assert_allclose(train.features["vision"], x[:, :, 305:325], rtol=1e-6)
    with h5py.File(mfn_mosi / "y_train.h5") as f:
        np.testing.assert_allclose(train.intensities[:, 0], f["data"][:], rtol=1e-6)
    assert train.lengths["text"][0] == 0 and train.lengths["text"][1] == 8


def test_mfn_xy_reads_only_the_asked_modalities_and_other_widths(mfn_mosi):
    ds = load(mfn_mosi, modalities=("audio",))
    assert ds.modalities == ("audio",)
    wide = load(mfn_mosi, dims=(300, 20, 5))
    assert wide.dims == {"text": 300, "audio": 20, "vision": 5}
    message = load_error(load, mfn_mosi, dims=(300, 74, 35))
    assert "X_train.h5" in message and "dims=(text, audio, vision)" in message


def test_y_h5_reads_d1_or_data_and_one_hot_classes(per_modality_y):
    assert detect_format(per_modality_y) == "y-h5"
    ds = load(per_modality_y)
    assert ds.task == "emotion" and ds.emotions == ["negative", "neutral", "positive"]
    assert ds["train"].labels.sum(axis=1).tolist() == [1] * SIZES["train"]
    assert ds.dims == {"text": 300, "audio": 74, "vision": 36}
    renamed = load(per_modality_y, classes=("neg", "neu", "pos"))
    assert renamed.emotions == ["neg", "neu", "pos"]


def test_y_h5_reads_sentiment_scores_under_the_key_data(per_modality_y):
    for split, n in SIZES.items():
        _h5(per_modality_y / f"y_{split}.h5", "data", np.linspace(-3, 3, n).reshape(n, 1))
    ds = load(per_modality_y)
    assert ds.task == "sentiment" and ds["valid"].intensities[:, 0].tolist()[0] == -3.0
    assert ds["valid"].labels[:, 0].tolist() == [0, 0, 0, 1, 1]


def test_y_h5_skips_the_files_of_modalities_not_asked_for(per_modality_y):
    for split in SIZES:
        (per_modality_y / f"text_{split}_emb.h5").unlink()
    ds = load(per_modality_y, modalities=("audio", "vision"))
    assert ds.modalities == ("audio", "vision")
    assert "text_train_emb.h5: no such file" in load_error(
        load, per_modality_y, modalities=("text",)
    )


def test_labels_that_are_neither_kind_are_a_one_line_error(per_modality_y):
    _h5(per_modality_y / "y_train.h5", "d1", np.zeros((SIZES["train"], 7)))
    message = load_error(load, per_modality_y)
    assert "y_train.h5" in message and "(N, 3) one-hot" in message


def test_a_folder_with_ey_files_stays_mosei_h5(tmp_path):
    out = write_mosei(tmp_path / "m", scale=0.002)
    _h5(out / "y_train.h5", "d1", np.zeros(3))
    assert detect_format(out) == "mosei-h5"


# -- modalities through the CLI -----------------------------------------------------------------


TRAIN = ["--epochs", "1", "--batch-size", "16", "--hidden-audio", "8", "--hidden-vision", "4"]


def test_train_on_audio_and_vision_of_a_folder_without_text_files(tmp_path, capsys):
    data = write_mosei(tmp_path / "mosei", scale=0.01)
    for split in SIZES:
        (data / f"text_{split}_emb.h5").unlink()
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--modalities", "av", "--out", str(out), "--quiet"]
    assert main([*argv, *TRAIN, "--layers", "1", "--embeddings", EMB]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["modalities"] in ("av", ["audio", "vision"], "audio,vision")


# -- inspect: rows with no valid step ------------------------------------------------------------


def test_inspect_counts_rows_with_no_valid_step_and_warns(per_modality_y, capsys):
    assert main(["data", "inspect", str(per_modality_y)]) == 0
    printed = capsys.readouterr().out
    assert "no valid step" in printed
    assert "warning: 6 of 12 train rows have no valid audio step" in printed
    assert main(["data", "inspect", str(per_modality_y), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["empty_rows"]["train"]["audio"] == {"rows": 6, "of": 12, "fraction": 0.5}
    assert report["empty_rows"]["train"]["text"]["rows"] == 0


# -- Git LFS pointers ---------------------------------------------------------------------------


def test_an_lfs_pointer_in_place_of_an_h5_file_is_named(per_modality_y):
    (per_modality_y / "audio_valid.h5").write_text(LFS_POINTER)
    message = load_error(load, per_modality_y)
    assert "audio_valid.h5 is a Git LFS pointer" in message
    assert "sha256:4d7a214614ab" in message and "1.2 GB" in message and "git lfs pull" in message


@pytest.mark.parametrize("name", ["mosei_senti_data.pkl", "dataset.h5"])
def test_an_lfs_pointer_given_as_the_dataset_file_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_text(LFS_POINTER)
    assert "Git LFS pointer" in load_error(load, path)
    assert "Git LFS pointer" in load_error(load, path, format="mult" if "pkl" in name else "native")


def test_inspect_of_an_lfs_pointer_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / "X_train.h5"
    path.write_text(LFS_POINTER)
    assert main(["data", "inspect", str(path)]) == 2
    assert "is a Git LFS pointer" in capsys.readouterr().err


# -- --folds sdk picks the dataset from the label file ------------------------------------------


def test_folds_sdk_is_the_dataset_of_the_label_file(tmp_path):
    assert resolve_folds("sdk", "data/CMU_MOSI_Opinion_Labels.csd") == standard_folds("mosi")
    assert resolve_folds("sdk", "data/CMU_MOSEI_Labels.csd") == standard_folds("mosei")
    labels = tmp_path / "labels.csd"  # no dataset in the name: told by the video ids
    videos = {
        v: (np.array([[0.0, 1.0]]), np.array([[0.5]], dtype=np.float32))
        for v in standard_folds("mosi")["test"][:3]
    }
    write_csd(labels, "Opinion Segment Labels", videos)
    assert resolve_folds("sdk", str(labels)) == standard_folds("mosi")
    assert resolve_folds("mosei", str(labels)) == standard_folds("mosei")


def test_folds_sdk_with_an_unknown_label_file_names_the_replacements(tmp_path, capsys):
    labels = tmp_path / "labels.csd"
    write_csd(labels, "x", {"v1": (np.array([[0.0, 1.0]]), np.ones((1, 1), np.float32))})
    with pytest.raises(Exception, match="--folds mosi, --folds mosei"):
        resolve_folds("sdk", str(labels))


def test_a_folds_path_that_does_not_exist_is_an_error_not_a_name(tmp_path):
    with pytest.raises(DataFormatError, match="no such folds file"):
        resolve_folds(str(tmp_path / "mosi.json"), "CMU_MOSI_Opinion_Labels.csd")


def test_an_lfs_pointer_given_as_a_csd_file_is_named(tmp_path, capsys):
    path = tmp_path / "CMU_MOSEI_COVAREP.csd"
    path.write_text(LFS_POINTER)
    assert main(["data", "inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert "CMU_MOSEI_COVAREP.csd is a Git LFS pointer" in err and "git lfs pull" in err

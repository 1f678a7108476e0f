"""Corrupt and hostile HDF5 and ``.csd`` files (issue #17): one explicit regression per class.

Each file is a small valid one written here and then damaged the way the issue's examples
were: an overwritten object header, shapes declared without data, gzip chunks that inflate
far past their size, complex features, sequences without steps or features. Every case is
one :class:`DataFormatError` line naming the file and the problem, before anything large is
allocated; through the CLI it is status 2, one line on stderr, and no output file.
"""

from __future__ import annotations

import shutil
import struct
import zlib

import h5py
import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data import _io, load
from emotrans.data.csd import ComputationalSequence, inspect_csd, write_csd
from emotrans.errors import ConfigError, DataFormatError
from helpers import TINY_FLAGS, load_error, one_line_error, write_mosei

SPLITS = ("train", "valid", "test")
FEATURES = {"text": "text_{}_emb.h5", "audio": "audio_{}.h5", "vision": "video_{}.h5"}


@pytest.fixture(scope="module")
def mosei_template(tmp_path_factory):
    return write_mosei(tmp_path_factory.mktemp("template") / "mosei", scale=0.002)


@pytest.fixture
def mosei(mosei_template, tmp_path):
    """A fresh copy of a tiny generated CMU-MOSEI h5 folder, to damage."""
    return shutil.copytree(mosei_template, tmp_path / "mosei")


@pytest.fixture
def small_bounds(monkeypatch):
    """Shrink the allowance of small arrays to 1 MiB, so that a bomb of a few MB shows what
    a bomb of many GB would do, without writing one."""
    monkeypatch.setattr(_io, "SMALL_ARRAY_BYTES", 1 << 20)


def rows(path):
    with h5py.File(path, "r") as f:
        return f["d1"].shape


def rewrite(path, **dataset):
    """Replace ``d1`` of ``path`` by ``create_dataset("d1", **dataset)``."""
    with h5py.File(path, "w") as f:
        return f.create_dataset("d1", **dataset).shape


def overwrite_header(path, name):
    """Overwrite the object header of ``name`` with 0xff bytes."""
    with h5py.File(path, "r") as f:
        address = h5py.h5o.get_info(f[name].id).addr
    data = bytearray(path.read_bytes())
    data[address : address + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


# -- the per-modality h5 layouts -------------------------------------------------------------


def test_an_overwritten_object_header_is_one_line_naming_file_and_dataset(mosei, capsys):
    overwrite_header(mosei / "ey_train.h5", "d1")
    err = one_line_error(capsys, ["data", "inspect", str(mosei)])
    assert "ey_train.h5: cannot open d1 (corrupt or truncated file?" in err


def test_a_label_array_declared_without_data_is_refused_before_allocating(mosei):
    rewrite(mosei / "ey_train.h5", shape=(2**40, 6), dtype="f4")  # 24 TiB, nothing written
    message = load_error(load, mosei)
    assert "ey_train.h5: d1 declares shape (1099511627776, 6)" in message
    assert "stores no data for it" in message


def test_a_chunked_array_declared_far_beyond_its_stored_bytes_is_refused(mosei):
    n = rows(mosei / "ey_train.h5")[0]
    with h5py.File(mosei / "audio_train.h5", "w") as f:
        d = f.create_dataset(
            "d1", shape=(n, 2**20, 74), dtype="f4", chunks=(1, 2**14, 74), compression="gzip"
        )
        d[0, -(2**14) :] = 1.0  # one chunk written: 4.8 MB inflating from a few KB
    message = load_error(load, mosei)
    assert "audio_train.h5: d1 declares shape" in message
    assert "more than 200x (corrupt file or decompression bomb" in message


def test_a_contiguous_array_declared_past_the_end_of_the_file_is_refused(mosei):
    path = mosei / "text_valid_emb.h5"
    data = bytearray(path.read_bytes())
    assert data[8] == 0  # superblock version 0: the end-of-file address at bytes 40..48
    half = len(data) // 2
    data = data[:half]
    data[40:48] = struct.pack("<Q", half)  # the header agrees: only the array is cut short
    path.write_bytes(bytes(data))
    message = load_error(load, mosei)
    assert message.startswith(f"{path}: ")
    # HDF5 2 notices the size itself; older versions reach our check of the declared bytes
    assert "invalid dataset size" in message or "past the end of the file" in message


def test_a_gzip_chunk_that_inflates_past_its_size_is_refused(mosei):
    shape = rows(mosei / "video_train.h5")
    with h5py.File(mosei / "video_train.h5", "w") as f:
        d = f.create_dataset("d1", shape=shape, dtype="f4", chunks=(1, 20, 35), compression="gzip")
        d[...] = 1.0
        d.id.write_direct_chunk((0, 0, 0), zlib.compress(bytes(32 << 20), 9))  # 32 MB of zeros
    message = load_error(load, mosei)
    assert "video_train.h5: d1: a chunk inflates past its 2,800 bytes" in message


def test_the_inflation_bound_can_be_raised_by_the_environment(mosei, monkeypatch, small_bounds):
    n = rows(mosei / "ey_train.h5")[0]
    with h5py.File(mosei / "audio_train.h5", "w") as f:  # zeros but one value: ~3000x
        d = f.create_dataset("d1", shape=(n, 20, 74 * 60), dtype="f4", compression="gzip")
        d[0, -1, 0] = 1.0
    for split in ("valid", "test"):  # the same dimension in every split
        m = rows(mosei / f"ey_{split}.h5")[0]
        rewrite(mosei / f"audio_{split}.h5", data=np.ones((m, 20, 74 * 60), np.float32))
    assert "more than 200x" in load_error(load, mosei)
    monkeypatch.setenv("EMOTRANS_MAX_INFLATION", "1e6")
    audio = load(mosei)["train"].features["audio"]
    assert audio.shape == (n, 20, 74 * 60) and audio.sum() == 1.0
    monkeypatch.setenv("EMOTRANS_MAX_INFLATION", "-3")
    with pytest.raises(ConfigError, match="EMOTRANS_MAX_INFLATION='-3': expected a positive"):
        load(mosei)


def test_an_array_above_the_memory_limit_is_refused(mosei, monkeypatch):
    monkeypatch.setenv("EMOTRANS_MAX_ARRAY_BYTES", "100000")
    message = load_error(load, mosei)
    assert "in memory, above the limit of 100.0 KB for one array" in message
    assert "EMOTRANS_MAX_ARRAY_BYTES raises it" in message


@pytest.mark.parametrize(
    ("dtype", "said"),
    [(np.complex64, "complex values (complex64)"), ("S8", "text or objects (|S8)")],
)
def test_features_that_are_not_real_numbers_are_refused(mosei, dtype, said):
    path = mosei / "audio_train.h5"
    with h5py.File(path, "r") as f:
        values = f["d1"][()]
    rewrite(path, data=values.astype(dtype))
    assert f"audio_train.h5: d1 holds {said}, not real numbers" in load_error(load, mosei)


def test_data_in_external_files_is_not_followed(mosei, tmp_path):
    (tmp_path / "elsewhere.bin").write_bytes(bytes(33 * 6 * 4))
    n = rows(mosei / "ey_train.h5")[0]
    with h5py.File(mosei / "ey_train.h5", "w") as f:
        f.create_dataset(
            "d1", shape=(n, 6), dtype="f4", external=[(tmp_path / "elsewhere.bin", 0, n * 24)]
        )
    assert "external or virtual storage" in load_error(load, mosei)


def test_no_time_step_in_every_modality_is_refused_at_load_time(mosei, capsys):
    for pattern in FEATURES.values():
        for split in SPLITS:
            n, _, d = rows(mosei / pattern.format(split))
            rewrite(mosei / pattern.format(split), shape=(n, 0, d), dtype="f4")
    assert "text features have shape" in load_error(load, mosei)
    assert "no time step (T = 0)" in load_error(load, mosei)
    err = one_line_error(
        capsys, ["train", "--data", str(mosei), "--out", str(mosei / "run"), *TINY_FLAGS, "--quiet"]
    )
    assert "no time step (T = 0)" in err
    assert not (mosei / "run").exists()


def test_no_feature_per_step_in_one_modality_is_refused_at_load_time(mosei, capsys):
    for split in SPLITS:
        n, t, _ = rows(mosei / f"audio_{split}.h5")
        rewrite(mosei / f"audio_{split}.h5", shape=(n, t, 0), dtype="f4")
    assert "audio features have shape" in load_error(load, mosei)
    err = one_line_error(
        capsys, ["train", "--data", str(mosei), "--out", str(mosei / "run"), *TINY_FLAGS, "--quiet"]
    )
    assert "no feature per step (D = 0)" in err


def test_y_h5_labels_declared_without_data_are_refused(tmp_path):
    for split in SPLITS:
        with h5py.File(tmp_path / f"text_{split}_emb.h5", "w") as f:
            f["d1"] = np.ones((4, 5, 3), np.float32)
        with h5py.File(tmp_path / f"y_{split}.h5", "w") as f:
            f.create_dataset("d1", shape=(2**40,), dtype="f8")
    message = load_error(load, tmp_path, format="y-h5")
    assert "y_train.h5: d1 declares shape (1099511627776,)" in message


def test_convert_of_a_hostile_folder_leaves_no_output(mosei, tmp_path, capsys):
    rewrite(mosei / "ey_test.h5", shape=(2**40, 6), dtype="f4")
    out = tmp_path / "out"
    out.mkdir()
    err = one_line_error(capsys, ["data", "convert", str(mosei), "--out", str(out / "x.h5")])
    assert "ey_test.h5: d1 declares shape" in err
    assert list(out.iterdir()) == []


# -- .csd files ------------------------------------------------------------------------------


def _words(n):
    starts = np.arange(n, dtype=np.float64)
    return np.stack([starts, starts + 1], axis=1), np.ones((n, 3), np.float32)


@pytest.fixture
def csd_set(tmp_path):
    """Tiny .csd files for videos a, b, c and a folds file (as in test_csd_cli)."""
    frames = np.stack([np.arange(40) / 10, np.arange(1, 41) / 10], axis=1)
    segments = (np.array([[0.0, 2.0], [2.0, 4.0]]), np.ones((2, 7), np.float32))
    paths = {
        "text": write_csd(tmp_path / "words.csd", "glove", {v: _words(4) for v in "abc"}),
        "audio": write_csd(
            tmp_path / "covarep.csd",
            "COVAREP",
            {v: (frames, np.ones((40, 2), "f4")) for v in "abc"},
        ),
        "labels": write_csd(tmp_path / "labels.csd", "All Labels", dict.fromkeys("abc", segments)),
    }
    folds = tmp_path / "folds.txt"
    folds.write_text("train a\nvalid b\ntest c\n")
    paths["folds"] = folds
    return paths


def from_csd(paths, out, *extra):
    return ["data", "from-csd", "--text", str(paths["text"]), "--audio", str(paths["audio"]),
            "--labels", str(paths["labels"]), "--folds", str(paths["folds"]), "--seq-len", "3",
            "--out", str(out), *extra]  # fmt: skip


def replace_video(path, video, **datasets):
    """Replace datasets of one video: name -> create_dataset keyword arguments."""
    with h5py.File(path, "a") as f:
        group = f[next(iter(f))]["data"][video]
        for name, options in datasets.items():
            del group[name]
            group.create_dataset(name, **options)


def test_the_csd_set_converts(csd_set, tmp_path, capsys):
    assert main(from_csd(csd_set, tmp_path / "ok.h5")) == 0
    assert (tmp_path / "ok.h5").is_file()


def test_an_overwritten_csd_root_header_is_one_line(csd_set, capsys):
    overwrite_header(csd_set["audio"], "COVAREP")
    err = one_line_error(capsys, ["data", "inspect", str(csd_set["audio"])])
    assert "covarep.csd: cannot read the groups of the computational sequence" in err


def test_a_csd_dataset_declared_2_36_rows_is_refused_without_allocating(csd_set, tmp_path, capsys):
    big = {"shape": (2**36, 74), "dtype": "f4", "chunks": (1024, 74), "compression": "gzip"}
    iv = {"shape": (2**36, 2), "dtype": "f8", "chunks": (1024, 2), "compression": "gzip"}
    replace_video(csd_set["audio"], "a", features=big, intervals=iv)
    out = tmp_path / "out.h5"
    err = one_line_error(capsys, from_csd(csd_set, out))
    assert "covarep.csd: /COVAREP/data/a/intervals declares shape (68719476736, 2)" in err
    assert not out.exists()
    with pytest.raises(DataFormatError, match="/COVAREP/data/a/intervals declares shape"):
        inspect_csd(csd_set["audio"])


def test_a_csd_chunk_that_inflates_past_its_size_is_refused(csd_set, tmp_path, capsys):
    with h5py.File(csd_set["audio"], "a") as f:
        d = f["COVAREP/data/b/features"]
        d.id.write_direct_chunk((0, 0), zlib.compress(bytes(64 << 20), 9))  # 64 MB of zeros
    out = tmp_path / "out.h5"
    err = one_line_error(capsys, from_csd(csd_set, out))
    assert "covarep.csd: /COVAREP/data/b/features: a chunk inflates past its" in err
    assert not out.exists()


def test_a_small_csd_chunk_declared_to_inflate_1000x_is_refused(csd_set, tmp_path, small_bounds):
    # the 1 MB chunk inflating to 1 GB, at 1/1000 of the size: 8 MB from ~8 KB
    features = np.zeros((2**15, 64), np.float32)
    features[0, 0] = 1
    intervals = np.zeros((2**15, 2))
    replace_video(
        csd_set["audio"],
        "a",
        features={"data": features, "chunks": features.shape, "compression": "gzip"},
        intervals={"data": intervals},
    )
    with ComputationalSequence(csd_set["audio"]) as seq, pytest.raises(DataFormatError) as info:
        seq.read("a")
    assert "/COVAREP/data/a/features declares shape (32768, 64) (8.4 MB)" in str(info.value)
    assert "more than 200x" in str(info.value)


def test_complex_csd_features_are_refused(csd_set, tmp_path, capsys):
    replace_video(csd_set["audio"], "a", features={"data": np.ones((40, 2), np.complex64)})
    err = one_line_error(capsys, from_csd(csd_set, tmp_path / "out.h5"))
    assert "/COVAREP/data/a/features holds complex values (complex64)" in err


def test_csd_features_with_no_dimension_are_refused_before_training(csd_set, tmp_path, capsys):
    frames = np.stack([np.arange(40) / 10, np.arange(1, 41) / 10], axis=1)
    write_csd(csd_set["audio"], "COVAREP", {v: (frames, np.ones((40, 0), "f4")) for v in "abc"})
    out = tmp_path / "out.h5"
    err = one_line_error(capsys, from_csd(csd_set, out))
    assert "audio features have shape" in err and "(D = 0)" in err
    assert not out.exists()


def test_huge_csd_metadata_is_read_one_element_at_a_time(csd_set):
    with h5py.File(csd_set["audio"], "a") as f:
        f["COVAREP/metadata"].create_dataset("huge", shape=(2**40,), dtype="f8")
    with ComputationalSequence(csd_set["audio"]) as seq:
        assert seq.metadata["huge"] == 0.0
        assert seq.metadata["root name"] == "COVAREP"


def test_label_rows_whose_buffers_exceed_the_limit_are_refused(
    csd_set, tmp_path, monkeypatch, capsys
):
    many = (np.stack([np.arange(300) / 100, np.arange(1, 301) / 100], 1), np.ones((300, 7), "f4"))
    write_csd(csd_set["labels"], "All Labels", dict.fromkeys("abc", many))
    monkeypatch.setenv("EMOTRANS_MAX_ARRAY_BYTES", "60000")
    err = one_line_error(capsys, from_csd(csd_set, tmp_path / "out.h5"))
    assert "labels.csd: 900 label rows would need" in err
    assert "EMOTRANS_MAX_ARRAY_BYTES raises it" in err


def test_the_declared_bytes_of_a_contiguous_array_must_lie_within_the_file(mosei):
    path = mosei / "audio_train.h5"
    with h5py.File(path, "r") as f:
        _io.check_h5_array(f["d1"], path, "d1")  # the real size: accepted
        short = f["d1"].id.get_offset() + 100  # as if the file ended 100 bytes into the array
        with pytest.raises(DataFormatError) as info:
            _io.check_h5_array(f["d1"], path, "d1", file_size=short)
    assert str(info.value).startswith(f"{path}: d1 ")
    assert "195.4 KB" in str(info.value) and "(corrupt or truncated file" in str(info.value)

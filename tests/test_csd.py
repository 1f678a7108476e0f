"""The computational-sequence reader, its inspection, folds files and the .csd generator."""

from __future__ import annotations

import json
import sys

import h5py
import numpy as np
import pytest

from emotrans.data import _io, csd
from emotrans.data.csd import ComputationalSequence, CsdWriter, inspect_csd, is_csd, write_csd
from emotrans.data.csd_align import convert_csd
from emotrans.data.folds import fold_of, load_folds
from emotrans.data.synthetic_csd import COVAREP_NAMES, FACET_NAMES, write_synthetic_csd
from emotrans.errors import ConfigError, DataFormatError


def two_videos(tmp_path, name="seq.csd", **meta):
    videos = {
        "b": (np.array([[0.0, 0.5], [0.5, 1.0]]), np.array([[1, 2], [3, 4]], np.float32)),
        "a": (np.array([[0.0, 1.0]]), np.array([[5, 6]], np.float64)),
    }
    return write_csd(tmp_path / name, "COVAREP", videos, {"dimension names": ["F0", "VUV"], **meta})


# -- reader -------------------------------------------------------------------------------------


def test_reader_lists_videos_in_name_order_and_reads_one_video(tmp_path):
    with ComputationalSequence(two_videos(tmp_path)) as seq:
        assert seq.root_name == "COVAREP"
        assert seq.video_ids == ["a", "b"]
        assert "b" in seq and "c" not in seq
        assert seq.shape("b") == (2, 2)
        rows = seq.read("b")
        assert rows.intervals.dtype == np.float64 and rows.features.dtype == np.float32
        assert rows.features.tolist() == [[1, 2], [3, 4]]
        assert seq.read("a", dtype=None).features.dtype == np.float64


def test_metadata_entries_are_json_decoded_and_give_dimension_names(tmp_path):
    with ComputationalSequence(two_videos(tmp_path, **{"alignment compatible": True})) as seq:
        assert seq.dimension_names == ["F0", "VUV"]
        assert seq.metadata["root name"] == "COVAREP"
        assert seq.metadata["alignment compatible"] is True


def test_metadata_that_is_not_json_is_kept_as_text(tmp_path):
    path = two_videos(tmp_path)
    with h5py.File(path, "a") as f:
        f["COVAREP/metadata"].create_dataset("creator", data=np.array([b"plain words"]))
    with ComputationalSequence(path) as seq:
        assert seq.metadata["creator"] == "plain words"


def test_opening_reads_no_feature_array(tmp_path, monkeypatch):
    path = two_videos(tmp_path)
    calls = []
    monkeypatch.setattr(csd, "_read_dataset", lambda *a: calls.append(a))
    with ComputationalSequence(path) as seq:
        seq.video_ids, seq.metadata, seq.shape("a")
    assert calls == []


def _one_video_file(path, values, **options):
    """A .csd file whose single video stores ``values`` with the given dataset options."""
    with h5py.File(path, "w") as f:
        g = f.create_group("X/data/v")
        g.create_dataset("features", data=values, **options)
        g.create_dataset("intervals", data=np.stack([np.arange(len(values))] * 2, axis=1) * 1.0)
        f.create_group("X/metadata")
    return path


@pytest.mark.parametrize(
    ("options", "fast"),
    [
        ({"compression": "gzip", "chunks": (7, 3)}, True),  # edge chunks partly outside the data
        ({"compression": "gzip", "chunks": (100, 5), "maxshape": (None, 5)}, True),  # chunk > data
        ({"compression": "gzip", "compression_opts": 9}, True),  # HDF5 picks the chunk shape
        ({"compression": "gzip", "shuffle": True, "chunks": (10, 5)}, True),
        ({"compression": "lzf", "chunks": (10, 5)}, False),
        ({}, False),  # contiguous, uncompressed
    ],
)
@pytest.mark.parametrize("stored", ["<f4", ">f8", "<i2"])
def test_fast_gzip_reading_equals_hdf5_reading(tmp_path, monkeypatch, options, fast, stored):
    values = np.random.default_rng(0).standard_normal((33, 5)) * 100
    if stored != "<i2":
        values[3, 1] = -np.inf
    values = values.astype(stored)
    path = _one_video_file(tmp_path / "x.csd", values, **options)
    used = []
    original = _io._read_deflate_chunks
    monkeypatch.setattr(_io, "_read_deflate_chunks", lambda *a: used.append(a) or original(*a))
    with ComputationalSequence(path) as seq:
        got32, got64 = seq.read("v").features, seq.read("v", dtype=np.float64).features
    np.testing.assert_array_equal(got32, values.astype(np.float32))
    np.testing.assert_array_equal(got64, values.astype(np.float64))
    assert len(used) == (2 if fast else 0)  # the intervals are not compressed


def test_chunks_never_written_read_as_zeros(tmp_path):
    path = tmp_path / "x.csd"
    with h5py.File(path, "w") as f:
        g = f.create_group("X/data/v")
        d = g.create_dataset(
            "features", shape=(40, 2), chunks=(10, 2), compression="gzip", dtype="f4"
        )
        d[10:20] = 1.5
        g.create_dataset("intervals", data=np.zeros((40, 2)))
    with ComputationalSequence(path) as seq:
        assert seq.read("v").features.sum() == 30.0


def test_non_hdf5_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "words.csd"
    path.write_text("not hdf5")
    with pytest.raises(DataFormatError, match="words.csd: not a readable HDF5 file"):
        ComputationalSequence(path)
    assert not is_csd(path)


def test_hdf5_file_without_the_csd_layout_is_rejected(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["d1"] = np.zeros((2, 3))
    with pytest.raises(DataFormatError, match="other.h5: HDF5 file but not a CMU-MultimodalSDK"):
        ComputationalSequence(path)


def test_missing_file_is_a_one_line_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        ComputationalSequence(tmp_path / "absent.csd")


def test_row_count_mismatch_names_file_and_video(tmp_path):
    path = write_csd(
        tmp_path / "bad.csd", "FACET", {"v": (np.array([[0.0, 1.0]]), np.zeros((2, 3), np.float32))}
    )
    with (
        ComputationalSequence(path) as seq,
        pytest.raises(
            DataFormatError, match="bad.csd: video 'v' has 2 feature rows but 1 interval rows"
        ),
    ):
        seq.read("v")


@pytest.mark.parametrize(
    ("interval", "message"),
    [([np.nan, 1.0], "NaN"), ([2.0, 1.0], "reversed interval")],
)
def test_nan_and_reversed_intervals_are_rejected(tmp_path, interval, message):
    path = write_csd(
        tmp_path / "bad.csd",
        "FACET",
        {"v": (np.array([[0.0, 1.0], interval]), np.zeros((2, 3), np.float32))},
    )
    with ComputationalSequence(path) as seq, pytest.raises(DataFormatError, match=message):
        seq.read("v")


def test_writer_leaves_no_file_when_interrupted(tmp_path):
    with pytest.raises(RuntimeError):
        with CsdWriter(tmp_path / "x.csd", "X") as w:
            w.add("v", np.zeros((1, 2)), np.zeros((1, 3)))
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


# -- inspection ---------------------------------------------------------------------------------


def test_inspect_counts_interval_problems_and_row_mismatches(tmp_path):
    path = tmp_path / "x.csd"
    with CsdWriter(path, "X", {"dimension names": ["a", "b", "c"]}) as w:
        w.add("ok", np.array([[0.0, 1.0], [1.0, 2.0]]), np.zeros((2, 3)))
        w.add(
            "odd",
            np.array([[2.0, 3.0], [0.0, 2.5], [-1.0, 0.5], [4.0, 3.9], [5.0, 5.0], [np.nan, 1]]),
            np.zeros((6, 3)),
        )
        w.add("short", np.array([[0.0, 1.0]]), np.zeros((2, 3)))
        w.add("wide", np.array([[0.0, 1.0]]), np.zeros((1, 4)))
    report = inspect_csd(path)
    assert (report["videos"], report["rows"], report["dim"]) == (4, 10, 3)
    assert report["dimension_names"] == ["a", "b", "c"]
    assert report["problems"] == {
        "row_count_mismatch": 1,
        "bad_shape": 0,
        "inconsistent_dim": 1,
        "nan": 1,
        "negative": 1,
        "reversed": 1,
        "shorter_than_eps": 1,
        "overlapping": 2,  # [0, 2.5] starts inside [-1, 0.5]; [2, 3] inside [0, 2.5]
        "out_of_order": 2,  # [0, 2.5] after [2, 3]; [-1, 0.5] after [0, 2.5]
    }
    assert any(e.startswith("short: 2 feature rows") for e in report["examples"])
    json.dumps(report)


# -- folds --------------------------------------------------------------------------------------


def test_folds_from_json_object_with_aliases(tmp_path):
    path = tmp_path / "folds.json"
    path.write_text(json.dumps({"train": ["a", "b", "a"], "dev": ["c"], "test": ["d"]}))
    assert load_folds(path) == {"train": ["a", "b"], "valid": ["c"], "test": ["d"]}


def test_folds_from_json_list_of_three(tmp_path):
    path = tmp_path / "folds.json"
    path.write_text(json.dumps([["a"], ["b"], ["c"]]))
    assert load_folds(path) == {"train": ["a"], "valid": ["b"], "test": ["c"]}


def test_folds_from_two_column_text(tmp_path):
    path = tmp_path / "folds.txt"
    path.write_text("# split video\ntrain a\nb,valid\ntest\tc\n\nTRAIN -d1\n")
    assert load_folds(path) == {"train": ["a", "-d1"], "valid": ["b"], "test": ["c"]}


def test_folds_from_text_sections(tmp_path):
    path = tmp_path / "folds.txt"
    path.write_text("[train]\na\nb\n[valid]\nc\ntest:\nd\n")
    assert load_folds(path) == {"train": ["a", "b"], "valid": ["c"], "test": ["d"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [("holdout a\n", "no split name"), ("a\n", "before any"), ("[extra]\na\n", "unknown split")],
)
def test_bad_folds_text_names_the_line(tmp_path, text, message):
    path = tmp_path / "folds.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message):
        load_folds(path)


def test_folds_sdk_needs_no_installed_sdk_and_names_the_replacements(monkeypatch):
    # The standard folds ship with emotrans (tests/test_folds.py); "sdk" is an alias that
    # from-csd resolves from the label file, so without a dataset it cannot choose.
    monkeypatch.setitem(sys.modules, "mmsdk", None)
    assert len(load_folds("sdk", dataset="mosei")["valid"]) == 300
    with pytest.raises(ConfigError, match="--folds mosi .* --folds mosei"):
        load_folds("sdk")


def test_a_video_in_two_folds_goes_to_the_first(tmp_path):
    owner, duplicates = fold_of({"train": ["a"], "valid": ["a", "b"], "test": []})
    assert owner == {"a": "train", "b": "valid"} and duplicates == 1


# -- generator ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return write_synthetic_csd(tmp_path_factory.mktemp("csd"), videos=60, seed=5, seconds=8)


def test_generator_writes_sdk_layout_with_dimensions_and_names(generated):
    dims = {"text": 300, "audio": 74, "vision": 35, "labels": 7}
    for m, d in dims.items():
        with ComputationalSequence(generated[m]) as seq:
            assert seq.dim() == d
            assert len(seq) > 50
            with h5py.File(generated[m]) as f:
                first = f[f"{seq.root_name}/data/{seq.video_ids[0]}/features"]
                assert first.compression == "gzip"
    with ComputationalSequence(generated["audio"]) as seq:
        assert seq.dimension_names == COVAREP_NAMES
        covarep = [seq.read(v).features for v in seq.video_ids[:5]]
        assert any(np.isneginf(x[:, 0]).any() for x in covarep)
        first = seq.read(seq.video_ids[0]).intervals
        assert np.allclose(np.diff(first[:, 0]), 0.01)  # 100 Hz
    with ComputationalSequence(generated["vision"]) as seq:
        assert seq.dimension_names == FACET_NAMES


def test_generator_is_deterministic(tmp_path, generated):
    again = write_synthetic_csd(tmp_path, videos=60, seed=5, seconds=8)
    with (
        ComputationalSequence(generated["labels"]) as a,
        ComputationalSequence(again["labels"]) as b,
    ):
        assert a.video_ids == b.video_ids
        v = a.video_ids[7]
        np.testing.assert_array_equal(a.read(v).features, b.read(v).features)


def test_generated_files_convert_with_every_kind_of_report_line(generated):
    result = convert_csd(
        generated["text"],
        generated["labels"],
        generated["folds"],
        audio=generated["audio"],
        vision=generated["vision"],
        sdk_compat=True,
    )
    report = result.report
    assert result.dataset.validate() is result.dataset
    assert sum(report.samples.values()) > 30
    assert report.imputed["vision"] > 0 and sum(report.nonfinite.values()) > 0
    assert report.no_fold_videos > 0 and report.fold_ids_in_no_file["train"] == 3
    assert report.dropped_missing and report.dropped_prefix  # id + "0" follows its prefix
    for split in result.dataset.splits.values():
        assert np.isfinite(split.features["audio"]).all()

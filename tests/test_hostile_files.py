"""Corrupt and hostile input files (issue #17): each gives one line naming the file and the
problem, before anything large is allocated, and the CLI exits 2 without a traceback.

One regression test per reported case; tests/test_properties_files.py mutates valid files at
random.
"""

from __future__ import annotations

import gzip
import json
import warnings

import h5py
import numpy as np
import pytest

from emotrans.cli import main
from emotrans.data import Dataset, Split, load, load_native, save_native
from emotrans.embeddings import word_vectors as wv
from emotrans.errors import EmbeddingError
from emotrans.unpickle import load_pickle
from helpers import load_error, mult_content, write_mosei, write_pickle


def embedding_error(path, names=("joy",)) -> str:
    """The one-line message of the EmbeddingError that reading ``names`` from ``path`` raises."""
    with pytest.raises(EmbeddingError) as info:
        wv.WordVectorSource(path, cache_dir=None).embed(list(names))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def cli_error(argv, capsys) -> str:
    """The one line that ``emotrans ARGV`` prints on stderr when it exits with status 2."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotrans") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


# -- word-vector files ----------------------------------------------------------------------------


def test_a_gzipped_glove_line_past_the_cap_is_refused_once_the_cap_is_passed(tmp_path):
    # the 1 GiB line hung past 5 minutes (quadratic joining); 3 MiB shows the cap
    path = tmp_path / "long.txt.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"the 0.5 0.25 1.0\n" + b"x" * (3 << 20) + b"\njoy 0.0 1.0 0.0\n")
    message = embedding_error(path)
    assert "line 2: longer than 1 MiB" in message


def test_a_line_up_to_the_cap_spanning_chunks_is_still_read(tmp_path, monkeypatch):
    monkeypatch.setattr(wv, "CHUNK_BYTES", 4096)
    word = "x" * (wv.MAX_LINE_BYTES - 20)  # a (silly) token, well over a chunk
    path = tmp_path / "glove.txt"
    path.write_text(f"the 0.5 0.25 1.0\n{word} 1 2 3\njoy 0.0 1.0 0.0\n")
    out = wv.WordVectorSource(path, cache_dir=None).embed(["joy", word])
    np.testing.assert_array_equal(out, [[0.0, 1.0, 0.0], [1, 2, 3]])


def test_a_first_line_past_the_cap_is_refused_when_sniffing(tmp_path):
    path = tmp_path / "one-line.txt"
    path.write_bytes(b"word" + b" 1" * (wv.MAX_LINE_BYTES // 2 + 8))
    assert "line 1: longer than 1 MiB" in embedding_error(path)


@pytest.mark.parametrize(
    "header, problem",
    [
        (b"3 1000000000\n", "header announces dimension 1000000000"),
        (b"3 0\n", "header announces dimension 0"),
        (b"3 " + b"9" * 5000 + b"\n", "implausible size"),
    ],
)
def test_a_header_announcing_an_impossible_dimension_is_refused(tmp_path, header, problem):
    path = tmp_path / "vectors.bin"
    path.write_bytes(header + b"joy \x00\x00\x80\x3f")
    assert problem in embedding_error(path)


def test_the_cli_reports_a_long_line_on_one_line_with_status_2(tmp_path, capsys):
    path = tmp_path / "long.txt.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b"the 0.5 0.25 1.0\n" + b"y" * (2 << 20) + b"\n")
    err = cli_error(["embed", "joy", "--source", f"glove:{path}"], capsys)
    assert "longer than 1 MiB" in err and str(path) in err


# -- pickles ----------------------------------------------------------------------------------------


def shared_list_bomb(path, n=300):
    """The issue's bomb, smaller: one row list shared by every step of every sample: 34 KB
    of pickle, 325 MB counted (the issue's 3.7 GiB one is the same with n = 7,000)."""
    row = [0.5] * 300
    sample = [row] * 50  # (T, D) = (50, 300), one list referenced 50 times
    features = [sample] * n  # (N, T, D)
    content = mult_content(n=n)
    for split in content.values():
        split.update(text=features, audio=features, vision=features)
    return write_pickle(path, content)


def test_a_pickle_of_shared_lists_that_expands_hugely_is_refused(tmp_path):
    path = shared_list_bomb(tmp_path / "bomb_data.pkl")
    assert path.stat().st_size < 100_000
    message = load_error(load, path)
    assert str(path) in message and "expands to more than" in message
    assert f"from a file of {path.stat().st_size:,} bytes" in message


def test_shared_lists_within_the_bound_load_as_arrays(tmp_path):
    # a zero padding row shared by the padded steps is plain Python data, not an attack
    content = mult_content(n=2, steps=3)
    pad = [0.0] * 5
    content["train"]["text"] = [[pad, pad, [1.0] * 5], [pad, [2.0] * 5, [3.0] * 5]]
    dataset = load(write_pickle(tmp_path / "iemocap_data_noalign.pkl", content))
    text = dataset.splits["train"].features["text"]
    assert text.dtype == np.float32 and text.shape == (2, 3, 5)
    assert text[0, 2, 0] == 1.0 and text[1, 0].sum() == 0
    assert list(dataset.splits["train"].lengths["text"]) == [1, 2]


def test_the_cli_refuses_the_bomb_in_one_line_and_converts_nothing(tmp_path, capsys):
    path = shared_list_bomb(tmp_path / "bomb_data.pkl")
    out = tmp_path / "out.h5"
    err = cli_error(["data", "convert", str(path), "--out", str(out)], capsys)
    assert "expands to more than" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb_data.pkl"]
    assert "expands" in cli_error(["data", "inspect", str(path)], capsys)


def _global(module: str, name: str) -> bytes:
    """Protocol-4 opcodes pushing ``module.name``."""
    return b"\x8c" + bytes([len(module)]) + module.encode() + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93"  # fmt: skip


def test_nested_hex_encoding_that_doubles_at_each_level_is_refused(tmp_path):
    # codecs.encode(b, "hex") doubles b; nested 40 times it asks for 2 TB from 500 bytes
    expr = b"C\x02ab"
    for _ in range(40):
        expr = b"h\x00" + expr + b"\x8c\x03hex\x86R"
    path = tmp_path / "hex_data.pkl"
    path.write_bytes(b"\x80\x04" + _global("_codecs", "encode") + b"\x94" + b"0" + expr + b".")
    message = load_error(load_pickle, path)
    assert "refusing codecs.encode(bytes, 'hex')" in message


def test_an_array_shape_declared_without_its_data_is_refused_before_allocating(tmp_path):
    # numpy's _reconstruct allocates the shape it is given before the data arrives
    shape = b"J\x00\x00\x00\x40\x85"  # (2**30,)
    path = tmp_path / "shape_data.pkl"
    path.write_bytes(
        b"\x80\x04" + _global("numpy.core.multiarray", "_reconstruct")
        + _global("numpy", "ndarray") + shape + b"C\x01b\x87R."
    )  # fmt: skip
    message = load_error(load_pickle, path)
    assert "shape (1073741824,)" in message and "declared without data" in message


def test_numpy_pickles_of_every_protocol_still_load(tmp_path):
    content = mult_content()
    for protocol in range(6):
        path = write_pickle(tmp_path / f"p{protocol}_data.pkl", content, protocol)
        loaded = load_pickle(path)
        np.testing.assert_array_equal(loaded["test"]["audio"], content["test"]["audio"])


@pytest.mark.parametrize("nesting", ["deep", "cycle"])
def test_containers_nested_too_deep_or_in_a_cycle_are_refused(tmp_path, nesting):
    if nesting == "deep":
        value: list = [1.0]
        for _ in range(100):
            value = [value]
    else:
        value = [1.0]
        value.append(value)
    content = mult_content()
    content["train"]["text"] = value
    message = load_error(load, write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "more than 64 levels deep (or holds a cycle)" in message


@pytest.mark.parametrize("where", ["text", "labels"])
@pytest.mark.parametrize("dtype", [np.complex64, "U3", "S2"])
def test_features_or_labels_that_are_not_real_numbers_are_refused(tmp_path, where, dtype):
    content = mult_content()
    content["valid"][where] = content["valid"][where].astype(dtype)
    message = load_error(load, write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert "not real numbers" in message and "[valid]" in message


def test_values_beyond_float32_are_counted_as_non_finite_without_warnings(tmp_path):
    content = mult_content(dtype=np.float64)
    content["test"]["audio"][0, -1, :2] = [1e300, -1e300]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load(write_pickle(tmp_path / "iemocap_data.pkl", content))
    assert dataset.nonfinite["test/audio"] == 2
    assert np.isfinite(dataset.splits["test"].features["audio"]).all()


@pytest.mark.filterwarnings("error")  # NumPy's "invalid value encountered in reduce" fails it
@pytest.mark.parametrize(
    ("values", "replaced"),
    [
        ([np.inf, -np.inf, 1.0], 2),  # the block's sum is inf - inf
        ([np.nan, np.inf, -np.inf, np.inf], 4),
        ([3e38, 3e38, 3e38, -1.0], 0),  # finite, but the float32 sum overflows
    ],
)
def test_replacing_opposite_infinities_or_an_overflowing_sum_prints_no_warning(values, replaced):
    from emotrans.data.dataset import replace_nonfinite

    block = np.array(values, dtype=np.float32).reshape(1, -1, 1)  # (N, T, D)
    expected = np.where(np.isfinite(block), block, 0)
    assert replace_nonfinite(block) == replaced
    np.testing.assert_array_equal(block, expected)


def test_an_h5_block_with_both_infinities_loads_without_a_warning(tmp_path):
    folder = write_mosei(tmp_path / "mosei", scale=0.002)
    with h5py.File(folder / "text_train_emb.h5", "r+") as f:
        f["d1"][0, -1, :2] = [np.inf, -np.inf]  # one block's sum is inf - inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = load(folder)
    assert dataset.nonfinite["train/text"] == 2


# -- native files ---------------------------------------------------------------------------------


def small_dataset(n=(3, 2, 2), seed=0) -> Dataset:
    """A valid dataset of three splits, text (N, 4, 3) and audio (N, 5, 2), two emotions."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, size in zip(("train", "valid", "test"), n):
        labels = np.zeros((size, 2), np.uint8)
        labels[np.arange(size), np.arange(size) % 2] = 1
        splits[name] = Split(
            features={
                "text": rng.standard_normal((size, 4, 3)).astype(np.float32),
                "audio": rng.standard_normal((size, 5, 2)).astype(np.float32),
            },
            lengths={"text": np.full(size, 4, np.int64), "audio": np.arange(size) % 5 + 1},
            labels=labels,
            ids=np.array([f"{name}_{i}" for i in range(size)]),
        )
    return Dataset(name="toy", emotions=["joy", "anger"], splits=splits, aligned=False, source="x")


def edit_manifest(path, **changes):
    with h5py.File(path, "r+") as f:
        manifest = json.loads(f.attrs["manifest"])
        for key, value in changes.items():
            if value is KeyError:
                del manifest[key]
            else:
                manifest[key] = value
        f.attrs["manifest"] = json.dumps(manifest)
    return path


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("splits", 5, "manifest key 'splits' should be a list of distinct split names, not 5"),
        ("emotions", 7, "manifest key 'emotions' should be a list of distinct emotion names"),
        ("nonfinite", [], "manifest key 'nonfinite' should be an object of counts"),
        ("nonfinite", {"train/text": "x"}, "manifest key 'nonfinite' should be"),
        ("splits", ["train", "valid", "test", "extra"], "'modalities' has no entry for 'extra'"),
        ("splits", ["train", "train"], "manifest key 'splits' should be"),
        ("modalities", {"train": "text"}, "should list the modalities of 'train', not \"text\""),
        ("name", None, "manifest key 'name' should be a string, not null"),
        ("aligned", "yes", "manifest key 'aligned' should be true or false"),
        ("meta", [1], "manifest key 'meta' should be an object or null"),
        ("single_label", "x", "manifest key 'single_label' should be true, false or null"),
        ("emotions", KeyError, "manifest lacks emotions"),
    ],
)
def test_a_manifest_with_wrong_types_names_the_key(tmp_path, key, value, problem):
    path = edit_manifest(save_native(small_dataset(), tmp_path / "d.h5"), **{key: value})
    message = load_error(load, path)
    assert str(path) in message and problem in message


def test_a_split_listed_without_its_group_is_named(tmp_path):
    path = save_native(small_dataset(), tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:
        del f["valid"]
    assert "no group for split 'valid'" in load_error(load, path)


def test_a_manifest_nested_past_the_json_parsers_depth_is_one_line(tmp_path):
    path = save_native(small_dataset(), tmp_path / "d.h5")
    with h5py.File(path, "r+") as f:
        f.attrs["manifest"] = (
            '{"format": "emotrans", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
        )
    assert "unreadable manifest" in load_error(load_native, path)


def replace_dataset(path, name, **create):
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, **create)
    return path


def test_complex_native_features_are_refused(tmp_path):
    path = save_native(small_dataset(), tmp_path / "d.h5")
    replace_dataset(path, "train/features/text", data=np.ones((3, 4, 3), np.complex64))
    message = load_error(load, path)
    assert "train/features/text holds complex values" in message


def test_a_compressed_array_declared_without_data_is_refused_before_allocating(tmp_path):
    # gzip-compressed lengths claiming 8 GB while the file stores none of it
    path = save_native(small_dataset(), tmp_path / "d.h5")
    replace_dataset(
        path, "valid/lengths/audio", shape=(1 << 30,), dtype=np.int64, chunks=(1 << 20,),
        compression="gzip",
    )  # fmt: skip
    message = load_error(load, path)
    assert "valid/lengths/audio declares shape (1073741824,)" in message
    assert "stores no data" in message


def test_float_labels_and_ids_not_one_per_row_are_refused(tmp_path):
    path = save_native(small_dataset(), tmp_path / "d.h5")
    replace_dataset(path, "test/labels", data=np.full((2, 2), 0.5))
    assert "test/labels holds float64, not real numbers" in load_error(load, path)
    path = save_native(small_dataset(), tmp_path / "e.h5")
    replace_dataset(path, "test/ids", data=np.array(["a", "b", "c"], dtype=object),
                    dtype=h5py.string_dtype())  # fmt: skip
    assert "test/ids has shape (3,), expected (2,)" in load_error(load, path)


def test_the_cli_reports_a_damaged_manifest_in_one_line(tmp_path, capsys):
    path = edit_manifest(save_native(small_dataset(), tmp_path / "d.h5"), splits=5)
    err = cli_error(["data", "convert", str(path), "--out", str(tmp_path / "copy.h5")], capsys)
    assert "manifest key 'splits'" in err
    assert not (tmp_path / "copy.h5").exists()


# -- MFN's X_*.h5 + y_*.h5 ----------------------------------------------------------------------


def write_mfn(folder, x_for=None):
    """MFN's CMU-MOSI layout, 3 samples per split, X (3, 4, 325) float64; ``x_for`` maps a
    split to the keyword arguments of its X dataset instead."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "valid", "test"):
        with h5py.File(folder / f"y_{split}.h5", "w") as f:
            f["data"] = np.array([1.5, -1.0, 0.5])
        with h5py.File(folder / f"X_{split}.h5", "w") as f:
            create = (x_for or {}).get(split, {"data": rng.standard_normal((3, 4, 325))})
            f.create_dataset("data", **create)
    return folder


def test_mfn_features_declared_far_beyond_their_data_are_refused_before_allocating(tmp_path):
    # was an ArrayMemoryError traceback: 225 GiB asked for the text columns
    declared = dict(shape=(3, 1 << 26, 325), dtype="f8", chunks=(1, 1024, 325), compression="gzip")
    folder = write_mfn(tmp_path / "mosi", {"valid": declared})
    message = load_error(load, folder, format="mfn-xy")
    assert "X_valid.h5: data declares shape (3, 67108864, 325)" in message
    assert "stores no data" in message


def test_mfn_complex_features_are_refused_and_compressed_ones_read(tmp_path):
    x = np.random.default_rng(1).standard_normal((3, 4, 325))
    compressed = dict(data=x, chunks=(1, 4, 325), compression="gzip")
    folder = write_mfn(tmp_path / "ok", {"train": compressed})
    text = load(folder, format="mfn-xy").splits["train"].features["text"]
    np.testing.assert_array_equal(text, x[:, :, :300].astype(np.float32))
    folder = write_mfn(tmp_path / "complex", {"test": {"data": x.astype(np.complex64)}})
    assert "X_test.h5: data holds complex values" in load_error(load, folder, format="mfn-xy")

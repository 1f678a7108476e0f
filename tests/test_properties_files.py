"""Property-based tests (Hypothesis) of the pickle, native and word-vector readers (issue #17).

Small valid files in each format are damaged at random: truncated at any offset, bytes
overwritten anywhere, arrays replaced by others of other types and shapes, manifests given
values of other types, arrays declared without their data, non-finite values written in,
long lines inserted. Whatever the damage, a read is either a correct result or one
:class:`EmotransError` line naming the file, never another exception and never a hang (each
example has a deadline); ``emotrans data convert`` either writes a whole file (exit 0) or
none (exit 2, one line on stderr). Examples are tiny and few, so the module runs in seconds.
"""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from emotrans.cli import main
from emotrans.data import Dataset, Split, load, save_native
from emotrans.embeddings import word_vectors as wv
from emotrans.errors import DataFormatError, EmbeddingError, EmotransError
from emotrans.unpickle import load_pickle
from property_settings import DAMAGE, TRUNCATE, damaged, property_settings

SPLITS = ("train", "valid", "test")
DIMS = {"text": 5, "audio": 3, "vision": 2}
N, T = 3, 4

PROPERTY = property_settings(30)

DTYPES = st.sampled_from(
    ["f2", "f4", "f8", "i1", "u1", "i8", "?", "c8", "c16", "U3", "S2", "O", "V4", "M8[s]"]
)
SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)
NONFINITE = st.sampled_from([np.nan, np.inf, -np.inf])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def one_line(exc: EmotransError, path: Path) -> None:
    message = str(exc)
    assert "\n" not in message, message
    assert str(path) in message, message


# -- MulT pickles ---------------------------------------------------------------------------------


def mult_content(dtype="f4") -> dict:
    """IEMOCAP-4 MulT content: per split text/audio/vision (N, T, D_m), labels (N, 4, 2)."""
    content = helpers.mult_content(N, T, tuple(DIMS.values()), dtype)
    for entry in content.values():
        entry["text"][0, :2] = 0  # left padding
    return content


@pytest.fixture(scope="module")
def pickle_bytes() -> dict[int, bytes]:
    return {p: pickle.dumps(mult_content(), protocol=p) for p in (2, 4)}


def load_or_refuse(path: Path, format: str) -> Dataset | None:
    """``load(path, format=format)``, or None once its refusal is checked to be one line
    naming the file."""
    try:
        return load(path, format=format)
    except EmotransError as exc:
        one_line(exc, path)
        return None


def check_mult(path: Path) -> Dataset | None:
    """Load a MulT pickle: a valid dataset (float32, finite, N label rows), or one line."""
    dataset = load_or_refuse(path, "mult")
    if dataset is None:
        return None
    for split in dataset.splits.values():
        for x in split.features.values():
            assert x.dtype == np.float32 and np.isfinite(x).all()
            assert x.shape[0] == split.labels.shape[0]
    return dataset


@PROPERTY
@given(protocol=st.sampled_from([2, 4]), changes=DAMAGE, truncate=st.none() | TRUNCATE)
def test_damaged_pickles_load_or_fail_in_one_line(
    pickle_bytes, tmp_path, protocol, changes, truncate
):
    path = tmp_path / "iemocap_data.pkl"
    path.write_bytes(damaged(pickle_bytes[protocol], changes, truncate))
    check_mult(path)


@PROPERTY
@given(
    split=st.sampled_from(SPLITS),
    key=st.sampled_from(["text", "audio", "vision", "labels"]),
    dtype=DTYPES,
    shape=SHAPES,
    as_list=st.booleans(),
)
def test_pickled_arrays_of_other_types_and_shapes_load_or_fail_in_one_line(
    tmp_path, split, key, dtype, shape, as_list
):
    content = mult_content()
    value = np.ones(shape, dtype=dtype)
    content[split][key] = value.tolist() if as_list else value
    path = tmp_path / "iemocap_data.pkl"
    path.write_bytes(pickle.dumps(content, protocol=4))
    dataset = check_mult(path)
    if dataset is not None and key != "labels":
        assert np.dtype(dtype).kind in "fiub"  # complex, text, objects never load
        assert dataset.splits[split].features[key].shape == shape


@PROPERTY
@given(
    at=st.lists(
        st.tuples(st.sampled_from(SPLITS), st.sampled_from(list(DIMS)), st.integers(0, 10**6)),
        min_size=1,
        max_size=8,
    ),
    value=NONFINITE,
)
def test_non_finite_pickled_features_are_replaced_by_zero_and_counted(tmp_path, at, value):
    content = mult_content()
    original = mult_content()
    hit: dict[str, set[int]] = {}
    for split, m, i in at:
        x = content[split][m].reshape(-1)
        x[i % x.size] = value
        hit.setdefault(f"{split}/{m}", set()).add(i % x.size)
    path = tmp_path / "iemocap_data.pkl"
    path.write_bytes(pickle.dumps(content, protocol=4))
    dataset = load(path, format="mult")
    for key, count in dataset.nonfinite.items():
        assert count == len(hit.get(key, ()))
        split, m = key.split("/")
        got = dataset.splits[split].features[m].reshape(-1)
        want = original[split][m].reshape(-1).copy()
        want[sorted(hit.get(key, ()))] = 0
        np.testing.assert_array_equal(got, want)


@PROPERTY
@given(
    n=st.integers(1, 400),
    steps=st.integers(1, 60),
    width=st.integers(1, 300),
    limit=st.integers(1_000, 400_000),
)
def test_shared_lists_load_within_the_bound_or_are_refused_before_expanding(
    tmp_path, n, steps, width, limit
):
    row = [0.25] * width
    value = [[row] * steps] * n  # (n, steps, width): one row list shared everywhere
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps({"x": value}, protocol=4))
    try:
        loaded = load_pickle(path, max_bytes=limit)
    except DataFormatError as exc:
        one_line(exc, path)
        assert "expands to more than" in str(exc)
        # refused only past the limit: 8 bytes per number and per list reference
        assert 8 * (n * steps * width + n * steps + n + 8) > limit
        return
    array = np.asarray(loaded["x"], dtype=np.float32)
    assert array.shape == (n, steps, width) and array.nbytes <= limit


@PROPERTY
@given(shape=st.lists(st.integers(0, 1 << 40), min_size=1, max_size=3), dtype=DTYPES)
def test_pickled_arrays_declared_without_data_are_refused_when_larger_than_the_file(
    tmp_path, shape, dtype
):
    from numpy._core.multiarray import _reconstruct

    class Declared:  # pickles as _reconstruct(ndarray, shape, dtype) without state
        def __reduce__(self):
            return (_reconstruct, (np.ndarray, tuple(shape), np.dtype(dtype)))

    path = tmp_path / "declared.pkl"
    path.write_bytes(pickle.dumps({"x": Declared()}, protocol=4))
    try:
        loaded = load_pickle(path)
    except DataFormatError as exc:
        one_line(exc, path)
        return
    assert loaded["x"].nbytes <= path.stat().st_size


@settings(PROPERTY, max_examples=15)
@given(changes=DAMAGE, truncate=st.none() | TRUNCATE)
def test_convert_of_a_damaged_pickle_writes_a_whole_file_or_none(
    pickle_bytes, changes, truncate, capsys
):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "iemocap_data.pkl"
        source.write_bytes(damaged(pickle_bytes[4], changes, truncate))
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        out = out_dir / "copy.h5"
        capsys.readouterr()
        status = main(["data", "convert", str(source), "--out", str(out)])
        err = capsys.readouterr().err
        if status == 0:
            assert [p.name for p in out_dir.iterdir()] == ["copy.h5"]
            assert load(out).splits["train"].n == N
        else:
            assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
            assert list(out_dir.iterdir()) == []


# -- native files ---------------------------------------------------------------------------------


def small_dataset() -> Dataset:
    rng = np.random.default_rng(1)
    splits = {}
    for split in SPLITS:
        labels = np.zeros((N, 2), np.uint8)
        labels[np.arange(N), np.arange(N) % 2] = 1
        splits[split] = Split(
            features={
                m: rng.standard_normal((N, T, d)).astype(np.float32) for m, d in DIMS.items()
            },
            lengths={m: np.full(N, T, np.int64) for m in DIMS},
            labels=labels,
            ids=np.array([f"{split}_{i}" for i in range(N)]),
            intensities=labels.astype(np.float32),
        )
    return Dataset(name="toy", emotions=["joy", "anger"], splits=splits, aligned=True, source="x")


@pytest.fixture(scope="module")
def native_file(tmp_path_factory) -> Path:
    return save_native(small_dataset(), tmp_path_factory.mktemp("native") / "toy.h5")


def check_native(path: Path) -> Dataset | None:
    dataset = load_or_refuse(path, "native")
    if dataset is None:
        return None
    assert dataset.emotions and all(isinstance(e, str) for e in dataset.emotions)
    return dataset


@PROPERTY
@given(changes=DAMAGE, truncate=st.none() | TRUNCATE)
def test_damaged_native_files_load_or_fail_in_one_line(native_file, tmp_path, changes, truncate):
    path = tmp_path / "toy.h5"
    path.write_bytes(damaged(native_file.read_bytes(), changes, truncate))
    check_native(path)


MANIFEST_KEYS = st.sampled_from(
    ["format", "version", "name", "emotions", "task", "single_label", "extraction", "aligned",
     "source", "meta", "nonfinite", "splits", "modalities"]
)  # fmt: skip


@PROPERTY
@given(key=MANIFEST_KEYS, value=JSON | st.just(KeyError))
def test_native_manifests_with_other_values_load_or_fail_in_one_line(
    native_file, tmp_path, key, value
):
    path = tmp_path / "toy.h5"
    shutil.copyfile(native_file, path)
    with h5py.File(path, "r+") as f:
        manifest = json.loads(f.attrs["manifest"])
        if value is KeyError:
            manifest.pop(key)
        else:
            manifest[key] = value
        f.attrs["manifest"] = json.dumps(manifest)
    dataset = check_native(path)
    if dataset is not None and key == "emotions":
        assert dataset.emotions == value


@PROPERTY
@given(
    split=st.sampled_from(SPLITS),
    name=st.sampled_from(["features/text", "lengths/audio", "labels", "ids", "intensities"]),
    dtype=DTYPES.filter(lambda d: d not in ("U3", "O", "M8[s]", "V4")),  # what h5py writes
    shape=SHAPES,
    layout=st.sampled_from(["contiguous", "gzip", "declared only"]),
)
def test_native_arrays_of_other_types_shapes_and_sizes_load_or_fail_in_one_line(
    native_file, tmp_path, split, name, dtype, shape, layout
):
    path = tmp_path / "toy.h5"
    shutil.copyfile(native_file, path)
    with h5py.File(path, "r+") as f:
        del f[f"{split}/{name}"]
        if layout == "declared only":  # a big compressed array with no chunk written
            f.create_dataset(
                f"{split}/{name}", shape=(1 << 28, *(max(1, s) for s in shape[1:])), dtype=dtype,
                chunks=(1 << 16, *(max(1, s) for s in shape[1:])), compression="gzip",
            )  # fmt: skip
        else:
            data = np.ones(shape, dtype=dtype)
            chunked = layout == "gzip" and data.size > 0 and data.ndim > 0
            f.create_dataset(f"{split}/{name}", data=data, compression="gzip" if chunked else None)
    dataset = check_native(path)
    if dataset is not None:
        assert layout != "declared only"


# -- word-vector files ----------------------------------------------------------------------------

WORDS = [f"w{i}" for i in range(30)]
WANTED = "joy"


@pytest.fixture(scope="module")
def glove_text() -> bytes:
    rng = np.random.default_rng(2)
    lines = [f"{w} " + " ".join(f"{v:.3f}" for v in rng.standard_normal(4)) for w in WORDS]
    lines.insert(5, f"{WANTED} 0.5 -0.25 1.0 2.0")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def small_limits(monkeypatch):
    """A 4 KiB line cap and 64-byte reads, so long lines and chunk joins are cheap to reach."""
    monkeypatch.setattr(wv, "MAX_LINE_BYTES", 4096)
    monkeypatch.setattr(wv, "CHUNK_BYTES", 64)


def check_vectors(path: Path) -> np.ndarray | None:
    try:
        out = wv.WordVectorSource(path, cache_dir=None).embed([WANTED])
    except EmbeddingError as exc:
        one_line(exc, path)
        return None
    assert out.dtype == np.float32 and out.shape[0] == 1 and np.isfinite(out).all()
    return out


@PROPERTY
@given(
    changes=DAMAGE,
    truncate=st.none() | TRUNCATE,
    long_run=st.none() | st.tuples(st.integers(0, 1 << 20), st.integers(1, 10_000)),
    gz=st.booleans(),
)
def test_damaged_word_vector_files_read_or_fail_in_one_line(
    glove_text, small_limits, tmp_path, changes, truncate, long_run, gz
):
    data = bytearray(glove_text)
    if long_run is not None:  # a run of bytes without a newline
        at, size = long_run
        data[at % len(data) : at % len(data)] = b"7" * size
    text = bytes(data)
    path = tmp_path / ("v.txt.gz" if gz else "v.txt")
    path.write_bytes(damaged(gzip.compress(text) if gz else text, changes, truncate))
    out = check_vectors(path)
    # damage after the wanted line cannot change it: reading stops there
    end = glove_text.index(b"\n", glove_text.index(WANTED.encode())) + 1
    untouched = all(o % len(path.read_bytes() or b"x") >= end for o, _ in changes)
    if not gz and truncate is None and long_run is None and untouched:
        np.testing.assert_array_equal(out, [[0.5, -0.25, 1.0, 2.0]])


@PROPERTY
@given(
    index=st.integers(0, 3),
    value=st.sampled_from(["nan", "inf", "-inf", "1e39", "NaN", "x"]),
    header=st.integers(0, 100),
)
def test_non_finite_or_garbled_wanted_values_and_wrong_headers_fail_in_one_line(
    glove_text, tmp_path, index, value, header
):
    lines = glove_text.decode().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(WANTED + " "))
    fields = lines[at].split()
    fields[1 + index] = value
    lines[at] = " ".join(fields)
    path = tmp_path / "v.txt"
    path.write_text(f"{header} 4\n" + "\n".join(lines) + "\n")
    assert check_vectors(path) is None

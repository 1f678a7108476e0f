"""Property-based tests (Hypothesis) of the HDF5 readers and the ``.csd`` reader (issue #17).

Small valid files in each format are damaged at random: truncated at any offset, bytes
overwritten anywhere (headers, chunk indexes, compressed data), datasets rewritten with
other types, ranks, shapes and layouts, shapes declared without data, non-finite values.
Whatever the damage, a load is either a correct dataset or one :class:`EmotransError` line
naming the file, never another exception; a command that writes a file either writes a
whole one (exit 0) or none (exit 2, one line on stderr). Examples are tiny and few, so the
module runs in seconds.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from emotrans.cli import main
from emotrans.data import load
from emotrans.data.csd import inspect_csd, write_csd
from emotrans.data.csd_align import convert_csd
from emotrans.data.formats.native import load_native
from emotrans.errors import EmotransError
from property_settings import property_settings

SPLITS = ("train", "valid", "test")
DIMS = {"text": 5, "audio": 3, "vision": 2}
FILES = {"text": "text_{}_emb.h5", "audio": "audio_{}.h5", "vision": "video_{}.h5"}
N, T = 3, 4

PROPERTY = property_settings(40)


def _h5(path: Path, array: np.ndarray, compress: bool) -> None:
    with h5py.File(path, "w") as f:
        if compress:
            f.create_dataset("d1", data=array, compression="gzip", chunks=(1, *array.shape[1:]))
        else:
            f.create_dataset("d1", data=array)


def write_tiny_mosei(folder: Path, compress: bool) -> Path:
    """A CMU-MOSEI h5 folder of 3 samples per split, 4 steps, 5/3/2 features."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in SPLITS:
        for m, d in DIMS.items():
            x = rng.standard_normal((N, T, d)).astype(np.float32)
            x[0, :2] = 0  # left padding
            _h5(folder / FILES[m].format(split), x, compress)
        _h5(folder / f"ey_{split}.h5", rng.choice([0.0, 1.0, 3.0], (N, 6)).astype("f4"), compress)
    return folder


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    return {c: write_tiny_mosei(root / f"mosei-{c}", c) for c in (False, True)}


def check_load(folder: Path) -> None:
    """Load ``folder``: a valid dataset, or one EmotransError line naming a path in it."""
    try:
        dataset = load(folder, format="mosei-h5")
    except EmotransError as exc:
        message = str(exc)
        assert "\n" not in message, message
        assert str(folder) in message, message
        return
    for split in dataset.splits.values():
        for m, x in split.features.items():
            assert x.dtype == np.float32 and x.ndim == 3 and x.shape[0] == split.n
            assert x.shape[1] >= 1 and x.shape[2] >= 1
            assert np.isfinite(x).all()
            assert ((split.lengths[m] >= 0) & (split.lengths[m] <= x.shape[1])).all()
        assert split.labels.shape == (split.n, 6)


mutation = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(
        st.just("flip"),
        st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=8),
    ),
    st.tuples(st.just("zero"), st.tuples(st.floats(0, 1), st.integers(1, 256))),
)


def mutate(path: Path, change) -> None:
    data = bytearray(path.read_bytes())
    kind, how = change
    if kind == "truncate":
        data = data[: int(how * len(data))]
    elif kind == "flip":
        for where, value in how if data else ():
            data[min(int(where * len(data)), len(data) - 1)] = value
    else:
        start = int(how[0] * len(data))
        data[start : start + how[1]] = bytes(len(data[start : start + how[1]]))
    path.write_bytes(bytes(data))


def fresh_copy(template: Path) -> tuple[tempfile.TemporaryDirectory, Path]:
    tmp = tempfile.TemporaryDirectory()
    return tmp, Path(shutil.copytree(template, Path(tmp.name) / "mosei"))


ALL_FILES = [p.format(s) for p in (*FILES.values(), "ey_{}.h5") for s in SPLITS]


@PROPERTY
@given(
    compress=st.booleans(),
    name=st.sampled_from(ALL_FILES),
    changes=st.lists(mutation, min_size=1, max_size=3),
)
def test_damaged_bytes_load_or_fail_in_one_line(templates, compress, name, changes):
    tmp, folder = fresh_copy(templates[compress])
    with tmp:
        for change in changes:
            mutate(folder / name, change)
        check_load(folder)


DTYPES = ["f2", "f4", ">f8", "i1", "<u2", "i8", "?", "c8", "S4", "vlen-str", "compound"]


def _array(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray | None:
    if dtype == "vlen-str":
        return np.full(shape, "x", dtype=object)
    if dtype == "compound":
        return np.zeros(shape, dtype=[("a", "f4"), ("b", "i2")])
    values = rng.standard_normal(shape) * 3
    return values.astype(np.dtype(dtype)) if dtype != "S4" else values.astype("S4")


@PROPERTY
@given(
    name=st.sampled_from(ALL_FILES),
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 2**20, 2**40]), min_size=0, max_size=4),
    layout=st.sampled_from(["contiguous", "gzip", "shuffle", "declared-only"]),
)
def test_datasets_of_other_types_shapes_and_layouts_load_or_fail_in_one_line(
    templates, name, dtype, shape, layout
):
    shape = tuple(shape)
    huge = int(np.prod(shape, dtype=object) or 0) > 10**6
    rng = np.random.default_rng(0)
    tmp, folder = fresh_copy(templates[False])
    with tmp:
        with h5py.File(folder / name, "w") as f:
            h5dtype = h5py.string_dtype() if dtype == "vlen-str" else _array(dtype, (), rng).dtype
            options: dict = {}
            if layout in ("gzip", "shuffle") and len(shape) and 0 not in shape:
                options = {"compression": "gzip", "shuffle": layout == "shuffle",
                           "chunks": tuple(min(s, 4) for s in shape)}  # fmt: skip
            try:
                if layout == "declared-only" or huge:
                    f.create_dataset("d1", shape=shape, dtype=h5dtype, **options)
                else:
                    data = _array(dtype, shape, rng)
                    f.create_dataset("d1", data=data, dtype=h5dtype, **options)
            except (ValueError, TypeError, OSError):
                reject()  # a shape HDF5 itself cannot declare (its size overflows)
        check_load(folder)


@PROPERTY
@given(
    where=st.lists(
        st.tuples(st.sampled_from(SPLITS), st.sampled_from(list(DIMS)), st.integers(0, N * T - 1)),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
    compress=st.booleans(),
)
def test_non_finite_features_are_replaced_by_zero_and_counted(templates, where, value, compress):
    tmp, folder = fresh_copy(templates[compress])
    with tmp:
        expected: dict[str, int] = {}
        for split, m, cell in where:
            path = folder / FILES[m].format(split)
            with h5py.File(path, "r") as f:
                x = f["d1"][()]
            x[cell // T, cell % T, 0] = value
            _h5(path, x, compress)
            expected[f"{split}/{m}"] = expected.get(f"{split}/{m}", 0) + 1
        dataset = load(folder, format="mosei-h5")
        assert {k: v for k, v in dataset.nonfinite.items() if v} == expected
        for split in dataset.splits.values():
            assert all(np.isfinite(x).all() for x in split.features.values())


@PROPERTY
@given(split=st.sampled_from(SPLITS), value=st.sampled_from([np.nan, np.inf]))
def test_non_finite_labels_are_one_line(templates, split, value):
    tmp, folder = fresh_copy(templates[False])
    with tmp:
        labels = np.ones((N, 6), np.float32)
        labels[1, 2] = value
        _h5(folder / f"ey_{split}.h5", labels, False)
        with pytest.raises(EmotransError, match=f"ey_{split}.h5: labels contain non-finite"):
            load(folder, format="mosei-h5")


@settings(PROPERTY, max_examples=15)
@given(name=st.sampled_from(ALL_FILES), changes=st.lists(mutation, min_size=1, max_size=2))
def test_convert_writes_a_whole_file_or_none(templates, name, changes, capsys):
    tmp, folder = fresh_copy(templates[True])
    with tmp:
        mutate(folder / name, changes[0])
        out_dir = Path(tmp.name) / "out"
        out_dir.mkdir()
        out = out_dir / "x.h5"
        status = main(["data", "convert", str(folder), "--out", str(out), "--quiet"])
        err = capsys.readouterr().err.strip()
        if status == 0:
            assert [p.name for p in out_dir.iterdir()] == ["x.h5"]
            assert load_native(out).splits["train"].n == N
        else:
            assert status == 2, err
            assert "\n" not in err and err.startswith("emotrans: error: "), err
            assert list(out_dir.iterdir()) == []


# -- .csd ------------------------------------------------------------------------------------


def write_tiny_csd(folder: Path) -> dict[str, Path]:
    """Words, COVAREP and label sequences of videos a, b, c, and folds (a / b / c)."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = np.arange(4, dtype=np.float64)
    words = (np.stack([starts, starts + 1], 1), np.arange(12, dtype=np.float32).reshape(4, 3))
    frames = np.stack([np.arange(40) / 10, np.arange(1, 41) / 10], 1)
    audio = (frames, np.linspace(-1, 1, 80, dtype=np.float32).reshape(40, 2))
    segments = (np.array([[0.0, 2.0], [2.0, 4.0]]), np.ones((2, 7), np.float32))
    (folder / "folds.txt").write_text("train a\nvalid b\ntest c\n")
    return {
        "text": write_csd(folder / "words.csd", "glove", dict.fromkeys("abc", words)),
        "audio": write_csd(folder / "covarep.csd", "COVAREP", dict.fromkeys("abc", audio)),
        "labels": write_csd(folder / "labels.csd", "All Labels", dict.fromkeys("abc", segments)),
        "folds": folder / "folds.txt",
    }


@pytest.fixture(scope="module")
def csd_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("csd")
    write_tiny_csd(root / "csd")
    return root / "csd"


CSD_FILES = ["words.csd", "covarep.csd", "labels.csd"]


def _convert(folder: Path):
    return convert_csd(
        folder / "words.csd",
        folder / "labels.csd",
        folder / "folds.txt",
        audio=folder / "covarep.csd",
        seq_len=3,
    )


@PROPERTY
@given(name=st.sampled_from(CSD_FILES), changes=st.lists(mutation, min_size=1, max_size=3))
def test_damaged_csd_files_convert_or_fail_in_one_line(csd_template, name, changes):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(csd_template, Path(tmp) / "csd"))
        for change in changes:
            mutate(folder / name, change)
        for action in (lambda: inspect_csd(folder / name), lambda: _convert(folder)):
            try:
                result = action()
            except EmotransError as exc:
                assert "\n" not in str(exc) and str(folder) in str(exc), str(exc)
            else:
                assert result is not None


@PROPERTY
@given(
    name=st.sampled_from(CSD_FILES),
    video=st.sampled_from("abc"),
    dataset=st.sampled_from(["features", "intervals"]),
    dtype=st.sampled_from(DTYPES),
    shape=st.lists(st.sampled_from([0, 1, 2, 3, 7, 40, 2**36]), min_size=0, max_size=3),
    declared_only=st.booleans(),
)
def test_csd_datasets_of_other_types_and_shapes_convert_or_fail_in_one_line(
    csd_template, name, video, dataset, dtype, shape, declared_only
):
    shape = tuple(shape)
    huge = int(np.prod(shape, dtype=object) or 0) > 10**6
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(csd_template, Path(tmp) / "csd"))
        with h5py.File(folder / name, "a") as f:
            group = f[next(iter(f))]["data"][video]
            del group[dataset]
            h5dtype = h5py.string_dtype() if dtype == "vlen-str" else None
            make: dict = {}
            if declared_only or huge:
                rng = np.random.default_rng(0)
                h5dtype = h5dtype or _array(dtype, (), rng).dtype
                chunks = tuple(min(s, 64) or 1 for s in shape) if shape and 0 not in shape else None
                make = {"shape": shape, "dtype": h5dtype, "chunks": chunks}
            try:
                if not make:
                    make = {
                        "data": _array(dtype, shape, np.random.default_rng(0)),
                        "dtype": h5dtype,
                    }
                group.create_dataset(dataset, **make)
            except (ValueError, TypeError, OSError):
                reject()  # a shape numpy or HDF5 itself cannot declare
        try:
            _convert(folder)
        except EmotransError as exc:
            assert "\n" not in str(exc) and str(folder) in str(exc), str(exc)


@settings(PROPERTY, max_examples=10)
@given(name=st.sampled_from(CSD_FILES), change=mutation)
def test_from_csd_writes_a_whole_file_or_none(csd_template, name, change, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(csd_template, Path(tmp) / "csd"))
        mutate(folder / name, change)
        out_dir = Path(tmp) / "out"
        out_dir.mkdir()
        out = out_dir / "x.h5"
        status = main(["data", "from-csd", "--text", str(folder / "words.csd"),
                       "--audio", str(folder / "covarep.csd"), "--labels",
                       str(folder / "labels.csd"), "--folds", str(folder / "folds.txt"),
                       "--seq-len", "3", "--out", str(out), "--quiet"])  # fmt: skip
        err = capsys.readouterr().err.strip()
        if status == 0:
            assert [p.name for p in out_dir.iterdir()] == ["x.h5"]
            assert load_native(out).emotions[0] == "anger"
        else:
            assert status == 2, err
            assert "\n" not in err and err.startswith("emotrans: error: "), err
            assert list(out_dir.iterdir()) == []

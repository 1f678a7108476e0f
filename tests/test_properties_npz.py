"""Property-based tests (Hypothesis) of the ``.npz`` reader (issue #17).

Small valid archives (stored or deflated, as ``numpy.savez`` and ``savez_compressed`` write
them) are damaged at random: truncated at any offset, bytes overwritten anywhere, arrays of
other types written in, a member's header replaced by one declaring another shape than its
data. Whatever the damage, a read is either arrays of the allowed types or one
:class:`EmotransError` line naming the file, never another exception and never a hang (each
example has a deadline), and it never allocates more than a few MiB (NumPy's allocations are
traced). Examples are tiny and few, so the module runs in seconds.
"""

from __future__ import annotations

import io
import math
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emotrans.errors import EmbeddingError, EmotransError
from emotrans.npz import NUMBERS, TEXT, load_npz
from emotrans.training.feature_arrays import read_npz
from property_settings import DAMAGE, TRUNCATE, damaged, property_settings

PROPERTY = property_settings(40)

DTYPES = st.sampled_from(["<f4", ">f8", "<i2", "|u1", "|b1", "<c8", "<U3", "|S2", "<M8[s]"])
SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)
DECLARED = st.lists(st.integers(0, 1 << 40), min_size=0, max_size=4).map(tuple)
MEMORY = 8 << 20  # the most a read of these tiny archives may allocate


def features() -> dict[str, np.ndarray]:
    """What ``predict`` takes: text (N, T, 5), audio (N, T, 3), lengths (N,), ids (N,)."""
    rng = np.random.default_rng(0)
    return {
        "text": rng.standard_normal((3, 4, 5)).astype(np.float32),
        "audio": rng.standard_normal((3, 4, 3)),
        "lengths": np.array([4, 2, 0]),
        "ids": np.array(["a", "b", "c"]),
    }


@pytest.fixture(scope="module")
def archives() -> dict[bool, bytes]:
    """The bytes of the feature archive, stored (False) and deflated (True)."""
    out = {}
    for compressed in (False, True):
        buffer = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buffer, **features())
        out[compressed] = buffer.getvalue()
    return out


def read(path: Path, **kwargs) -> dict[str, np.ndarray] | None:
    """``load_npz(path)``: arrays of the allowed kinds, or one line naming ``path``; at most
    :data:`MEMORY` allocated either way."""
    tracemalloc.start()
    try:
        arrays = load_npz(path, text=("ids",), **kwargs)
    except EmotransError as exc:
        message = str(exc)
        assert "\n" not in message and str(path) in message, message
        arrays = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY, f"{peak:,} bytes allocated"
    for key, value in (arrays or {}).items():
        assert isinstance(value, np.ndarray) and not value.dtype.hasobject
        assert value.dtype.kind in (TEXT if key == "ids" else NUMBERS), (key, value.dtype)
    return arrays


@PROPERTY
@given(compressed=st.booleans(), changes=DAMAGE, truncate=st.none() | TRUNCATE)
def test_damaged_archives_read_or_fail_in_one_line(
    archives, tmp_path, compressed, changes, truncate
):
    path = tmp_path / "x.npz"
    data = damaged(archives[compressed], changes, truncate)
    path.write_bytes(data)
    arrays = read(path)
    if data == archives[compressed]:  # the damage wrote the bytes already there
        assert arrays is not None
        for key, expected in features().items():
            np.testing.assert_array_equal(arrays[key], expected)


@PROPERTY
@given(changes=DAMAGE, truncate=st.none() | TRUNCATE)
def test_damaged_feature_files_and_embedding_files_fail_in_one_line_of_their_error(
    archives, tmp_path, changes, truncate
):
    path = tmp_path / "x.npz"
    path.write_bytes(damaged(archives[True], changes, truncate))
    for load, error in ((read_npz, EmotransError), (_embedding_file, EmbeddingError)):
        try:
            load(path)
        except error as exc:
            assert "\n" not in str(exc) and str(path) in str(exc), str(exc)


def _embedding_file(path: Path) -> dict[str, np.ndarray]:
    return load_npz(path, text=("names",), error=EmbeddingError)


@PROPERTY
@given(key=st.sampled_from(["text", "ids"]), dtype=DTYPES, shape=SHAPES, compressed=st.booleans())
def test_arrays_of_other_types_and_shapes_read_exactly_or_fail_in_one_line(
    tmp_path, key, dtype, shape, compressed
):
    content = features()
    content[key] = np.ones(shape, dtype=dtype)
    path = tmp_path / "x.npz"
    (np.savez_compressed if compressed else np.savez)(path, **content)
    arrays = read(path)
    kind = np.dtype(dtype).kind
    allowed = kind in (TEXT if key == "ids" else NUMBERS)
    assert (arrays is not None) == allowed, (key, dtype)
    if arrays is not None:
        np.testing.assert_array_equal(arrays[key], content[key])
        assert arrays[key].dtype == np.dtype(dtype)


@PROPERTY
@given(
    declared=DECLARED,
    descr=st.sampled_from(["<f4", ">f8", "|i1"]),
    compressed=st.booleans(),
    fortran=st.booleans(),
)
def test_a_header_declaring_more_than_its_data_is_refused_before_allocating(
    tmp_path, declared, descr, compressed, fortran
):
    data = np.arange(24, dtype=np.float32).tobytes()  # 96 bytes of data, whatever is declared
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": descr, "fortran_order": fortran, "shape": declared}
    )
    path = tmp_path / "x.npz"
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        z.writestr("text.npy", header.getvalue() + data)
    needed = math.prod(declared) * np.dtype(descr).itemsize
    arrays = read(path)
    if needed > len(data):
        assert arrays is None
        with pytest.raises(EmotransError, match=r"'text' declares shape"):
            load_npz(path)
    else:  # the declared array is read from the start of the data
        assert arrays is not None and arrays["text"].shape == declared
        expected = np.frombuffer(data[:needed], dtype=descr)
        order = "F" if fortran else "C"
        np.testing.assert_array_equal(arrays["text"], expected.reshape(declared, order=order))

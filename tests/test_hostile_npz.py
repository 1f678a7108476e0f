"""Corrupt and hostile ``.npz`` archives (issue #17): features given to ``emotrans predict``,
``dict:`` embedding files, a run's vector cache and a synthetic dataset's oracle.

Each is one line naming the file and the array, before anything large is allocated: a
member's ``.npy`` header is read (and checked against the member, the archive and the bounds)
before NumPy allocates its shape. One regression test per case; tests/test_properties_npz.py
damages archives at random.
"""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import emotrans.npz
from emotrans.cli import main
from emotrans.config import RunConfig
from emotrans.data.synthetic.oracle import oracle_logits
from emotrans.embeddings import load_source
from emotrans.errors import DataFormatError, EmbeddingError, RunDirError
from emotrans.npz import load_npz
from emotrans.training.feature_arrays import read_npz
from emotrans.training.runs import VECTORS_FILE, load_vector_cache

HUGE = (1 << 40, 20, 300)  # 26,000 TB of float32


def npy_header(shape, descr="<f4", fortran=False, version=(1, 0)) -> bytes:
    """The bytes of a ``.npy`` header declaring ``shape`` of ``descr``, without data."""
    out = io.BytesIO()
    header = {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(out, header)
    else:
        np.lib.format.write_array_header_2_0(out, header)
    return out.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def npz_error(path, error=DataFormatError, **kwargs) -> str:
    """The one-line message of the error that loading ``path`` raises, checked to name it;
    the load may allocate at most 16 MiB (NumPy's allocations are traced)."""
    tracemalloc.start()
    try:
        with pytest.raises(error) as info:
            load_npz(path, error=error, **kwargs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    assert peak < 16 << 20, f"{peak:,} bytes allocated before the error"
    return message


def set_central_sizes(data: bytes, compressed: int, uncompressed: int) -> bytes:
    """``data`` (a zip of one member) with the member's sizes in the central directory
    replaced (what zipfile trusts)."""
    at = data.rindex(b"PK\x01\x02")
    out = bytearray(data)
    out[at + 20 : at + 28] = struct.pack("<II", compressed, uncompressed)
    return bytes(out)


@pytest.fixture
def small_bounds(monkeypatch):
    """Shrink the allowance of small arrays to 1 MiB, so that a bomb of a few MB shows what
    a bomb of many GB would do, without writing one."""
    monkeypatch.setattr(emotrans.npz, "SMALL_ARRAY_BYTES", 1 << 20)


# -- good archives still read exactly --------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_every_layout_numpy_writes_reads_back_exactly(tmp_path, compressed):
    rng = np.random.default_rng(0)
    arrays = {
        "text": rng.normal(size=(3, 4, 5)).astype(np.float32),
        "fortran": np.asfortranarray(rng.normal(size=(4, 6))),
        "big_endian": np.arange(12, dtype=">i4").reshape(3, 4),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 7), np.float16),
        "scalar": np.float64(2.5),
        "ids": np.array(["a", "bb", "ccc"]),
    }
    path = tmp_path / "ok.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    got = load_npz(path, text=("ids",))
    assert list(got) == list(arrays)
    for key, expected in arrays.items():
        assert got[key].dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(got[key], expected)
    assert got["fortran"].flags.f_contiguous


# -- declared sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_header_declaring_a_huge_shape_without_data_is_refused_before_allocating(
    tmp_path, compression
):
    path = write_zip(tmp_path / "x.npz", {"text.npy": npy_header(HUGE)}, compression)
    message = npz_error(path)
    assert f"'text' declares shape {HUGE}" in message
    assert "but its member holds 0 B after the header (truncated or corrupt file)" in message


def test_a_header_declaring_more_than_its_data_is_refused(tmp_path):
    data = npy_header((10, 4)) + np.zeros(39, np.float32).tobytes()  # one value short
    path = write_zip(tmp_path / "x.npz", {"audio.npy": data})
    message = npz_error(path)
    assert "'audio' declares shape (10, 4) (160 B) but its member holds 156 B" in message


def test_a_negative_dimension_is_refused(tmp_path):
    data = npy_header((2, 3)).replace(b"(2, 3)", b"(2,-3)")
    path = write_zip(tmp_path / "x.npz", {"text.npy": data})
    assert "'text' declares shape (2, -3), a negative size" in npz_error(path)


def test_a_deflate_bomb_is_refused_from_its_sizes_before_inflating(tmp_path, small_bounds):
    zeros = npy_bytes(np.zeros(2 << 20, np.float32))  # 8 MiB that deflate to about 8 KB
    path = write_zip(tmp_path / "x.npz", {"text.npy": zeros}, zipfile.ZIP_DEFLATED)
    message = npz_error(path)
    assert "'text' declares 8.4 MB uncompressed but the file stores" in message
    assert "more than 200x (corrupt file or decompression bomb; EMOTRANS_MAX_INFLATION" in message


def test_the_inflation_bound_can_be_raised_for_real_data(tmp_path, small_bounds, monkeypatch):
    zeros = np.zeros(2 << 20, np.float32)
    path = write_zip(tmp_path / "x.npz", {"text.npy": npy_bytes(zeros)}, zipfile.ZIP_DEFLATED)
    monkeypatch.setenv("EMOTRANS_MAX_INFLATION", "5000")
    np.testing.assert_array_equal(load_npz(path)["text"], zeros)


def test_members_within_the_bound_one_by_one_but_not_in_all_are_refused(tmp_path, small_bounds):
    member = npy_bytes(np.zeros(200_000, np.float32))  # 0.8 MB, deflates to about 1 KB
    members = {f"m{i}.npy": member for i in range(12)}
    path = write_zip(tmp_path / "x.npz", members, zipfile.ZIP_DEFLATED)
    message = npz_error(path)
    assert "its arrays declare 9.6 MB uncompressed in all, more than 200x the file's" in message


def test_a_member_claiming_more_stored_bytes_than_the_file_has_is_refused(tmp_path):
    good = write_zip(tmp_path / "good.npz", {"text.npy": npy_bytes(np.zeros(4, np.float32))})
    path = tmp_path / "x.npz"
    path.write_bytes(set_central_sizes(good.read_bytes(), 1 << 31, 1 << 31))
    message = npz_error(path)
    assert "'text' claims 2.1 GB stored from byte 0, past the end of the file" in message


def test_an_array_above_the_memory_bound_is_refused_with_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "x.npz"
    np.savez(path, text=np.zeros((10, 100), np.float32))
    monkeypatch.setenv("EMOTRANS_MAX_ARRAY_BYTES", "1000")
    message = npz_error(path)
    assert "'text' declares shape (10, 100), 4.0 KB in memory, above the limit of 1.0 KB" in message
    assert "(EMOTRANS_MAX_ARRAY_BYTES raises it)" in message


# -- types ---------------------------------------------------------------------------------------


def test_an_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = write_zip(tmp_path / "x.npz", {"text.npy": npy_bytes(np.array([Payload()]))})
    message = npz_error(path)
    assert "'text' holds Python objects (a pickle inside the archive)" in message
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as z:  # the payload is live: unpickling runs it
        z["text"]
    assert marker.exists()


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.ones(3, np.complex64), "'x' holds complex values (complex64), not real numbers"),
        (np.array(["a"]), "'x' holds <U1 values (text), not real numbers"),
        (np.array([b"ab"]), "'x' holds |S2 values (bytes), not real numbers"),
        (np.zeros(2, "M8[s]"), "'x' holds datetime64[s] values (dates)"),
        (np.zeros(2, [("a", "<f4")]), "(records), not real numbers"),
    ],
)
def test_values_that_are_not_real_numbers_are_refused_from_the_header(tmp_path, array, words):
    path = tmp_path / "x.npz"
    np.savez(path, x=array)
    assert words in npz_error(path)


def test_text_is_accepted_only_in_the_arrays_named_as_text(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, names=np.array(["joy"]), vectors=np.ones((1, 2)))
    assert load_npz(path, text=("names",))["names"].tolist() == ["joy"]
    assert "'names' holds <U3 values (text)" in npz_error(path)


# -- damaged archives ----------------------------------------------------------------------------


def test_a_flipped_data_byte_of_a_stored_member_is_a_crc_error_naming_the_member(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, text=np.arange(64, dtype=np.float32))
    data = bytearray(path.read_bytes())
    at = data.index(np.float32(40).tobytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    message = npz_error(path)
    assert "cannot read 'text' (member text.npy: Bad CRC-32 for file 'text.npy'" in message


def test_damaged_deflate_data_names_the_member(tmp_path):
    path = tmp_path / "x.npz"
    rng = np.random.default_rng(0)
    np.savez_compressed(path, audio=rng.normal(size=4000).astype(np.float32))
    data = bytearray(path.read_bytes())
    for at in range(200, 260):
        data[at] ^= 0x5A
    path.write_bytes(bytes(data))
    message = npz_error(path)
    assert "cannot read 'audio' (member audio.npy: " in message
    assert "corrupt or truncated file?" in message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "an empty file, not an .npz archive of arrays"),
        (b"PK\x03\x04 not really", "not a readable .npz file (File is not a zip file)"),
        (npy_bytes(np.zeros(3)), "a single array (an .npy file), not an .npz archive"),
    ],
)
def test_files_that_are_not_archives_are_one_line(tmp_path, content, words):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    assert words in npz_error(path)


def test_a_truncated_archive_is_one_line(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, text=np.zeros((50, 20), np.float32))
    path.write_bytes(path.read_bytes()[:2000])
    assert "not a readable .npz file" in npz_error(path)


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ({"readme.txt": b"hello"}, "holds 'readme.txt', not a .npy array"),
        ({"text.npy": b"not numpy at all"}, "'text' is not a .npy array (no NumPy header)"),
        ({"text.npy": b"\x93NUMPY\x09\x00rest"}, "'text' is a .npy array of format version (9, 0)"),
        ({"text.npy": b"\x93NUMPY\x01\x00\x08\x00{'a': 1}"}, "cannot read 'text' (member"),
        ({"text.npy": npy_header((2,), descr="<zz")}, "cannot read 'text' (member text.npy: "),
    ],
)
def test_members_that_are_not_npy_arrays_are_one_line(tmp_path, members, words):
    path = write_zip(tmp_path / "x.npz", members)
    assert words in npz_error(path)


def test_two_arrays_of_one_name_are_refused(tmp_path):
    member = npy_bytes(np.zeros(2))
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr("text.npy", member)
        z.writestr("text.npy", member)
    assert "holds two arrays named 'text'" in npz_error(path)


# -- every reader of user .npz files ------------------------------------------------------------


@pytest.fixture
def bomb(tmp_path):
    return write_zip(tmp_path / "bomb.npz", {"text.npy": npy_header(HUGE)}, zipfile.ZIP_DEFLATED)


def test_predict_features_refuse_a_declared_shape_without_data(bomb):
    with pytest.raises(DataFormatError, match=r"bomb\.npz: 'text' declares shape \(1099511627776"):
        read_npz(bomb)


def test_a_dict_embedding_file_refuses_it_as_an_embedding_error(bomb):
    with pytest.raises(EmbeddingError, match=r"bomb\.npz: 'text' declares shape") as info:
        load_source(f"dict:{bomb}").embed(["anger"])
    assert "\n" not in str(info.value)


def test_the_embed_command_exits_2_with_one_line(bomb, capsys):
    capsys.readouterr()
    assert main(["embed", "anger", "joy", "--source", f"dict:{bomb}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotrans: error: ") and err.count("\n") == 1, err
    assert f"{bomb}: 'text' declares shape" in err


def test_a_run_vector_cache_refuses_it_as_a_run_dir_error(tmp_path):
    members = {"names.npy": npy_bytes(np.array(["joy"])), "vectors.npy": npy_header(HUGE[1:])}
    write_zip(tmp_path / VECTORS_FILE, members, zipfile.ZIP_DEFLATED)
    with pytest.raises(RunDirError, match="'vectors' declares shape"):
        load_vector_cache(tmp_path, RunConfig())


def test_an_oracle_file_refuses_it(tmp_path):
    members = {"emotions.npy": npy_bytes(np.array(["joy"])), "test_logits.npy": npy_header(HUGE)}
    write_zip(tmp_path / "oracle.npz", members, zipfile.ZIP_DEFLATED)
    with pytest.raises(DataFormatError, match="'test_logits' declares shape"):
        oracle_logits(tmp_path)

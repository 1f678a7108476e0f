"""Emotion embeddings from word-vector files, mapping files and random vectors; the CLI."""

from __future__ import annotations

import gzip
import json
import logging
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from emotrans.cli import main
from emotrans.embeddings import embed, load_source
from emotrans.embeddings import word_vectors as wv
from emotrans.errors import EmbeddingError

DIM = 4
# Values that are exact in float32 and in short decimal text.
VECTORS = {
    "the": [0.5, 0.25, -1.0, 2.0],
    "anger": [1.0, 0.0, 0.0, 0.125],
    "angry": [0.875, 0.5, 0.0, 0.0],
    "happy": [0.0, 1.0, 0.0, -0.5],
    "Joy": [0.0, 0.75, 0.25, 0.0],
    "Sad": [-1.0, 0.0, 0.5, 0.0],
    "sad": [-0.75, 0.0, 0.25, 0.0],
    "not": [0.0, 0.0, 1.0, 1.0],
    "sure": [0.5, 0.5, 0.0, 0.0],
    "not_sure": [0.25, 0.25, 0.25, 0.25],
}


def vec(word: str) -> np.ndarray:
    return np.array(VECTORS[word], dtype=np.float32)


def _text_lines(vectors, trailing_space=False):
    end = " " if trailing_space else ""
    return [f"{w} " + " ".join(repr(float(x)) for x in v) + end for w, v in vectors.items()]


def write_text(path, vectors=VECTORS, header=False, trailing_space=False, gz=False):
    lines = _text_lines(vectors, trailing_space)
    if header:
        lines.insert(0, f"{len(vectors)} {DIM}")
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_binary(path, vectors=VECTORS, newline=True, gz=False):
    data = bytearray(f"{len(vectors)} {DIM}\n".encode())
    for word, v in vectors.items():
        data += word.encode("utf-8") + b" " + np.asarray(v, dtype="<f4").tobytes()
        if newline:
            data += b"\n"
    path.write_bytes(gzip.compress(bytes(data)) if gz else bytes(data))
    return path


FORMATS = {
    "glove-text": ("glove", "v.txt", lambda p: write_text(p)),
    "glove-gz": ("glove", "v.txt.gz", lambda p: write_text(p, gz=True)),
    "word2vec-text-header": ("word2vec", "v.txt", lambda p: write_text(p, header=True)),
    "fasttext-vec": (
        "fasttext",
        "v.vec",
        lambda p: write_text(p, header=True, trailing_space=True),
    ),
    "fasttext-vec-gz": ("fasttext", "v.vec.gz", lambda p: write_text(p, header=True, gz=True)),
    "word2vec-binary-c": ("word2vec", "v.bin", lambda p: write_binary(p)),
    "word2vec-binary-no-newline": ("word2vec", "v.bin", lambda p: write_binary(p, newline=False)),
    "word2vec-binary-gz": ("word2vec", "v.bin.gz", lambda p: write_binary(p, gz=True)),
    "glove-prefix-on-header-file": ("glove", "v.txt", lambda p: write_text(p, header=True)),
}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets its own cache folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("EMOTRANS_CACHE", str(folder))
    return folder


@pytest.fixture
def glove(tmp_path):
    return write_text(tmp_path / "glove.txt")


@pytest.fixture(params=[3, 7, 64, 1 << 24], ids=["chunk3", "chunk7", "chunk64", "chunk16M"])
def chunk_size(request, monkeypatch):
    """Small chunks make lines and binary records straddle chunk boundaries."""
    monkeypatch.setattr(wv, "CHUNK_BYTES", request.param)
    return request.param


# -- word-vector files: formats -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_gives_the_written_vectors_in_the_order_asked(tmp_path, fmt, chunk_size):
    prefix, filename, write = FORMATS[fmt]
    path = write(tmp_path / filename)
    source = load_source(f"{prefix}:{path}")
    out = source.embed(["happy", "anger", "the", "happy"])
    assert source.dim == DIM
    assert out.dtype == np.float32 and out.shape == (4, DIM)
    np.testing.assert_array_equal(
        out, np.stack([vec(w) for w in ["happy", "anger", "the", "happy"]])
    )


@pytest.mark.parametrize("fmt", ["glove-text", "word2vec-binary-c"])
def test_multi_word_names_average_their_words(tmp_path, fmt, chunk_size):
    prefix, filename, write = FORMATS[fmt]
    source = load_source(f"{prefix}:{write(tmp_path / filename)}")
    out = source.embed(["not sure", "sure  happy"])
    np.testing.assert_allclose(out[0], (vec("not") + vec("sure")) / 2)
    np.testing.assert_allclose(out[1], (vec("sure") + vec("happy")) / 2)


def test_an_underscore_token_in_the_file_is_used_whole_before_averaging(glove):
    out = load_source(f"glove:{glove}").embed(["not_sure", "Not_Sure"])
    np.testing.assert_array_equal(out[0], vec("not_sure"))
    np.testing.assert_array_equal(out[1], vec("not_sure"))  # lower-case fallback


def test_names_are_tried_as_given_then_lower_case_then_capitalised(glove):
    out = load_source(f"glove:{glove}").embed(["ANGER", "joy", "Sad", "SAD", "sad"])
    np.testing.assert_array_equal(out[0], vec("anger"))  # lower-case
    np.testing.assert_array_equal(out[1], vec("Joy"))  # capitalised
    np.testing.assert_array_equal(out[2], vec("Sad"))  # as given wins
    np.testing.assert_array_equal(out[3], vec("sad"))  # lower-case before capitalised
    np.testing.assert_array_equal(out[4], vec("sad"))


def test_results_are_deterministic_and_independent_of_the_other_names(glove):
    source = load_source(f"glove:{glove}")
    both = source.embed(["anger", "happy"])
    np.testing.assert_array_equal(both, source.embed(["anger", "happy"]))
    np.testing.assert_array_equal(both[::-1], source.embed(["happy", "anger"]))
    np.testing.assert_array_equal(both[:1], embed(["anger"], f"glove:{glove}"))


def test_no_names_give_an_empty_matrix_of_the_right_width(glove):
    assert load_source(f"glove:{glove}").embed([]).shape == (0, DIM)


def test_a_token_containing_spaces_is_read_with_the_known_dimension(tmp_path):
    # GloVe 840B has such lines; the token is everything before the last d values.
    path = tmp_path / "g.txt"
    path.write_text("anger 1 0 0 0\n. . . 0 1 0 0\nhappy 0 0 1 0\n")
    out = load_source(f"glove:{path}").embed(["happy", "anger"])
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0]])


def test_the_first_occurrence_of_a_repeated_word_wins(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("anger 1 0\nanger 2 0\n")
    np.testing.assert_array_equal(load_source(f"glove:{path}").embed(["anger"]), [[1, 0]])


# -- unknown names ------------------------------------------------------------------------------


def test_unknown_names_are_all_listed_with_close_spellings(glove):
    with pytest.raises(EmbeddingError) as err:
        load_source(f"glove:{glove}").embed(["angy", "anger", "hapy", "not sue", "zzzz"])
    msg = str(err.value)
    assert msg.startswith(str(glove))
    assert "4 unknown words" in msg
    assert "'angy' - close: angry;" in msg
    assert "'hapy' - close: happy" in msg
    assert "'sue' (in 'not sue') - close: sure" in msg
    assert "'zzzz'" in msg and "\n" not in msg


def test_an_unknown_name_fails_the_same_way_from_the_cache(glove, monkeypatch):
    source = load_source(f"glove:{glove}")
    with pytest.raises(EmbeddingError) as first:
        source.embed(["hapy"])
    monkeypatch.setattr(wv._Scanner, "scan", _must_not_read)
    with pytest.raises(EmbeddingError) as second:
        source.embed(["hapy"])
    assert str(first.value) == str(second.value)


# -- broken files -------------------------------------------------------------------------------


def _broken(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "name, content, names, problem",
    [
        ("short.txt", b"the 1 2 3 4\nanger 1 2\n", ["anger"], "line 2: 'anger' has 2 values"),
        (
            "dims.txt",
            b"3 4\nthe 1 2 3 4\nanger 1 2 3 4 5\n",
            ["anger"],
            "has 5 values but the header says 4",
        ),
        ("text.txt", b"the 1 2 3 4\nanger 1 x 3 4\n", ["anger"], "line 2: non-numeric value"),
        ("nan.txt", b"the 1 2 3 4\nanger 1 nan 3 4\n", ["anger"], "non-finite value"),
        ("count.txt", b"5 4\nthe 1 2 3 4\nanger 1 2 3 4\n", ["Happy"], "announces 5 words"),
        ("empty.txt", b"  \n", ["anger"], "empty file"),
        ("prose.txt", b"Dear user, this is a letter\n", ["anger"], "not a word-vector text file"),
        (
            "model.bin",
            (793712314).to_bytes(4, "little") + b"\0" * 64,
            ["anger"],
            "fastText binary model",
        ),
    ],
)
def test_broken_files_raise_one_line_errors_naming_file_and_problem(
    tmp_path, name, content, names, problem
):
    path = _broken(tmp_path, name, content)
    with pytest.raises(EmbeddingError) as err:
        load_source(f"glove:{path}").embed(names)
    assert str(path) in str(err.value) and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_a_truncated_gzip_stream_is_an_error(tmp_path):
    whole = write_text(tmp_path / "v.txt.gz", gz=True).read_bytes()
    path = _broken(tmp_path, "cut.txt.gz", whole[: len(whole) - 12])
    with pytest.raises(EmbeddingError, match="truncated or corrupt gzip"):
        load_source(f"glove:{path}").embed(["zzz"])


def test_a_truncated_binary_file_is_an_error(tmp_path, chunk_size):
    whole = write_binary(tmp_path / "v.bin").read_bytes()
    path = _broken(tmp_path, "cut.bin", whole[:-7])
    with pytest.raises(EmbeddingError, match="file ends inside a record"):
        load_source(f"word2vec:{path}").embed(["zzz"])


def test_a_missing_file_is_reported_when_the_source_is_made(tmp_path):
    with pytest.raises(EmbeddingError, match="no such file"):
        load_source(f"glove:{tmp_path / 'nope.txt'}")


def test_reading_stops_once_every_name_is_found_as_given(tmp_path, chunk_size):
    # The header promises more words than the file has; only a complete read can tell.
    path = _broken(tmp_path, "v.txt", b"9 2\nanger 1 0\nhappy 0 1\n")
    np.testing.assert_array_equal(load_source(f"word2vec:{path}").embed(["anger"]), [[1, 0]])
    with pytest.raises(EmbeddingError, match="announces 9 words"):
        load_source(f"word2vec:{path}").embed(["Happy"])  # as given is absent: read it all


# -- cache --------------------------------------------------------------------------------------


def _must_not_read(self):
    raise AssertionError("the word-vector file was read again")


def test_a_second_call_uses_the_cache_and_does_not_read_the_file(glove, cache_dir, monkeypatch):
    first = load_source(f"glove:{glove}").embed(["anger", "not sure", "Joy"])
    assert len(list(cache_dir.glob("*.npz"))) == 1
    monkeypatch.setattr(wv._Scanner, "scan", _must_not_read)
    monkeypatch.setattr(wv, "sniff_format", _must_not_read)
    again = load_source(f"glove:{glove}")
    np.testing.assert_array_equal(again.embed(["anger", "not sure", "Joy"]), first)
    np.testing.assert_array_equal(again.embed(["Joy", "anger"]), first[[2, 0]])  # a subset
    assert again.dim == DIM


def test_the_cache_survives_a_same_size_rewrite_with_the_old_mtime(glove):
    first = load_source(f"glove:{glove}").embed(["anger"])
    st = os.stat(glove)
    glove.write_bytes(b"#" * st.st_size)  # garbage: reading it would fail
    os.utime(glove, ns=(st.st_atime_ns, st.st_mtime_ns))
    np.testing.assert_array_equal(load_source(f"glove:{glove}").embed(["anger"]), first)


def test_a_changed_file_invalidates_the_cache(glove, cache_dir):
    load_source(f"glove:{glove}").embed(["anger"])
    st = os.stat(glove)
    write_text(glove, {**VECTORS, "anger": [2.0, 2.0, 2.0, 2.0]})
    os.utime(glove, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    np.testing.assert_array_equal(load_source(f"glove:{glove}").embed(["anger"]), [[2, 2, 2, 2]])
    assert len(list(cache_dir.glob("*.npz"))) == 1  # the stale entry was removed


def test_new_words_read_the_file_again_and_grow_the_cache(glove, monkeypatch):
    load_source(f"glove:{glove}").embed(["anger"])
    np.testing.assert_array_equal(load_source(f"glove:{glove}").embed(["happy"]), [vec("happy")])
    monkeypatch.setattr(wv._Scanner, "scan", _must_not_read)
    out = load_source(f"glove:{glove}").embed(["happy", "anger"])
    np.testing.assert_array_equal(out, np.stack([vec("happy"), vec("anger")]))


def test_cache_off_writes_nothing(glove, cache_dir, monkeypatch):
    monkeypatch.setenv("EMOTRANS_CACHE", "off")
    load_source(f"glove:{glove}").embed(["anger"])
    assert not cache_dir.exists()


def test_an_unreadable_cache_entry_is_ignored(glove, cache_dir):
    first = load_source(f"glove:{glove}").embed(["anger"])
    (entry,) = cache_dir.glob("*.npz")
    entry.write_bytes(b"not an npz")
    np.testing.assert_array_equal(load_source(f"glove:{glove}").embed(["anger"]), first)


# -- mapping files ------------------------------------------------------------------------------


MAPPING = {
    "anger": [1.0, 0.0, 0.0],
    "happy": [0.0, 1.0, 0.0],
    "not sure": [0.0, 0.0, 1.0],
    "not": [1.0, 1.0, 0.0],
    "calm": [0.0, 0.5, 0.5],
}


def _write_mapping(path, kind):
    if kind == "json":
        path.write_text(json.dumps(MAPPING))
    elif kind == "npz":
        np.savez(path, **{k: np.array(v, np.float32) for k, v in MAPPING.items()})
    elif kind == "npz-names-vectors":
        np.savez(path, names=np.array(list(MAPPING)), vectors=np.array(list(MAPPING.values())))
    elif kind == "pt-tensors":
        import torch

        torch.save({k: torch.tensor(v) for k, v in MAPPING.items()}, path)
    return path


@pytest.mark.parametrize(
    "kind, filename",
    [("json", "e.json"), ("npz", "e.npz"), ("npz-names-vectors", "e.npz"), ("pt-tensors", "e.pt")],
)
def test_mapping_files_give_their_vectors_and_phrase_keys_whole(tmp_path, kind, filename):
    source = load_source(f"dict:{_write_mapping(tmp_path / filename, kind)}")
    out = source.embed(["Happy", "not sure", "calm anger"])
    assert source.dim == 3 and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], MAPPING["happy"])
    np.testing.assert_array_equal(out[1], MAPPING["not sure"])  # the phrase key, not the mean
    np.testing.assert_allclose(out[2], [0.5, 0.25, 0.25])  # no such key: mean of the words


def test_mapping_unknown_names_are_listed_with_close_spellings(tmp_path):
    path = _write_mapping(tmp_path / "e.json", "json")
    with pytest.raises(EmbeddingError) as err:
        load_source(f"dict:{path}").embed(["angr", "calm", "happi"])
    assert "2 unknown words" in str(err.value)
    assert "'angr' - close: anger" in str(err.value) and "'happi' - close: happy" in str(err.value)


def test_mapping_vectors_of_different_lengths_are_an_error(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"anger": [1, 2, 3], "happy": [1, 2]}))
    with pytest.raises(EmbeddingError, match="'happy' has 2 values but other entries have 3"):
        load_source(f"dict:{path}").embed(["anger"])


def _write_numpy_pickle_pt(path):
    import torch

    torch.save({k: np.array(v, np.float32) for k, v in MAPPING.items()}, path)
    return path


def test_a_pt_pickle_is_refused_unless_allowed(tmp_path):
    path = _write_numpy_pickle_pt(tmp_path / "emo.pt")
    with pytest.raises(EmbeddingError) as err:
        load_source(f"dict:{path}").embed(["anger"])
    assert "execute arbitrary code" in str(err.value) and f"dict+pickle:{path}" in str(err.value)


@pytest.mark.parametrize("how", ["spec", "argument"])
def test_an_allowed_pt_pickle_loads_with_a_warning(tmp_path, caplog, how):
    path = _write_numpy_pickle_pt(tmp_path / "emo.pt")
    source = (
        load_source(f"dict+pickle:{path}")
        if how == "spec"
        else load_source(f"dict:{path}", allow_pickle=True)
    )
    with caplog.at_level(logging.WARNING, logger="emotrans"):
        out = source.embed(["anger"])
    np.testing.assert_array_equal(out, [MAPPING["anger"]])
    assert any("arbitrary code" in r.getMessage() for r in caplog.records)


def test_a_plain_pickle_is_refused_unless_allowed(tmp_path):
    path = tmp_path / "emo.pkl"
    path.write_bytes(pickle.dumps({k: v for k, v in MAPPING.items()}))
    with pytest.raises(EmbeddingError, match="general pickle"):
        load_source(f"dict:{path}").embed(["anger"])
    out = load_source(f"dict:{path}", allow_pickle=True).embed(["anger"])
    np.testing.assert_array_equal(out, [MAPPING["anger"]])


# -- random vectors and specs -------------------------------------------------------------------


def test_random_vectors_are_unit_norm_deterministic_and_per_name():
    a = load_source("random:7:16").embed(["anger", "happy"])
    assert a.shape == (2, 16) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(a[1], load_source("random:7:16").embed(["happy"])[0])
    assert not np.allclose(a, load_source("random:8:16").embed(["anger", "happy"]))
    assert load_source("random:7").dim == 300


def test_random_and_static_sources_never_import_torch(glove):
    code = (
        "import sys; from emotrans.embeddings import embed; "
        f"embed(['anger'], 'random:0'); embed(['anger'], 'glove:{glove}'); "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("spec", ["foo:bar", "nonsense", "random:x", "random:1:2:3", "glove:"])
def test_bad_specs_are_errors_listing_the_forms(spec):
    with pytest.raises(EmbeddingError, match="expected one of default, glove:PATH"):
        load_source(spec)


def test_a_single_string_instead_of_a_list_is_refused():
    with pytest.raises(TypeError):
        load_source("random:0").embed("anger")


# -- CLI ----------------------------------------------------------------------------------------


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_cli_prints_an_aligned_cosine_table(glove, capsys):
    assert main(["embed", "anger", "angry", "not sure", "--source", f"glove:{glove}"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"source: glove:{glove} (4-d)"
    header, rows = out[2], out[3:]
    assert header.split() == ["anger", "angry", "not", "sure"]
    assert [r[:8].strip() for r in rows] == ["anger", "angry", "not sure"]
    phrase = (vec("not") + vec("sure")) / 2
    expected = [1.0, _cos(vec("anger"), vec("angry")), _cos(vec("anger"), phrase)]
    assert rows[0].split()[1:] == [f"{c:.2f}" for c in expected]
    assert len({len(line) for line in out[2:]}) == 1  # aligned


def test_cli_json_is_machine_readable(glove, capsys):
    assert main(["embed", "anger", "happy", "--source", f"glove:{glove}", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["names"] == ["anger", "happy"] and out["dim"] == DIM
    assert out["source"] == f"glove:{glove}"
    cos = np.array(out["cosine"])
    np.testing.assert_allclose(cos, cos.T)
    np.testing.assert_allclose(np.diag(cos), 1.0)


def test_cli_reports_unknown_words_on_one_line_with_status_2(glove, capsys):
    assert main(["embed", "hapy", "--source", f"glove:{glove}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("emotrans: error: ") and "'hapy' - close: happy" in err
    assert err.count("\n") == 1


# -- the source registry ---------------------------------------------------------------------


def test_a_new_source_is_one_module_and_one_registration(monkeypatch):
    import types

    from emotrans.embeddings import register_source, spec_forms
    from emotrans.embeddings import spec as spec_module
    from emotrans.embeddings.base import EmbeddingSource, SourceKind

    monkeypatch.setattr(spec_module, "_KINDS", list(spec_module._KINDS))  # undone after

    # the module a user would write: a source class and its kind
    toy = types.ModuleType("toy_source")

    class LengthSource(EmbeddingSource):
        """Each name's vector is (len(name), scale)."""

        def __init__(self, scale: float, spec: str) -> None:
            self.scale, self.spec = scale, spec

        @property
        def dim(self) -> int:
            return 2

        def embed(self, names):
            return np.array([[len(n), self.scale] for n in names], dtype=np.float32)

    toy.KIND = SourceKind(
        prefixes=("length",),
        forms=("length:SCALE",),
        build=lambda prefix, arg, spec, allow_pickle: LengthSource(float(arg), spec),
    )

    register_source(toy.KIND)
    assert "length:SCALE" in spec_forms()
    source = load_source("length:0.5")
    np.testing.assert_array_equal(source.embed(["joy", "anger"]), [[3, 0.5], [5, 0.5]])
    with pytest.raises(EmbeddingError, match="length:SCALE"):
        load_source("length:abc")  # ValueError from float() -> the forms are listed
    with pytest.raises(EmbeddingError, match="taken"):
        register_source(SourceKind(("random",), ("random:X",), toy.KIND.build))

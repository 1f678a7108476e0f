"""Corrupt and hostile input files (issue #17): each gives one line naming the file and the
problem, before anything large is allocated, and the CLI exits 2 without a traceback.

One regression test per reported case; tests/test_properties_files.py mutates valid files at
random.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from emotrans.cli import main
from emotrans.embeddings import word_vectors as wv
from emotrans.errors import EmbeddingError


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

"""``emotrans.data.load``: format detection, explicit formats, options, and bad paths."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from emotrans.data import detect_format, load, write_synthetic
from emotrans.errors import ConfigError, DataFormatError
from helpers import EMB


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One tiny synthetic dataset per format."""
    root = tmp_path_factory.mktemp("formats")
    out = {}
    for dataset, fmt in (
        ("mosei", "mosei-h5"),
        ("iemocap", "mult"),
        ("iemocap", "mult-noalign"),
        ("iemocap9", "iemocap9"),
        ("mosei", "native"),
    ):
        out[fmt] = write_synthetic(root / fmt, dataset, fmt, scale=0.003, seed=0, embeddings=EMB)
    return out


@pytest.mark.parametrize("fmt", ["mosei-h5", "mult", "mult-noalign", "iemocap9", "native"])
def test_format_is_detected_from_the_directory(written, fmt):
    assert detect_format(written[fmt]) == fmt
    ds = load(written[fmt])
    assert ds.meta["format"] == ("synthetic" if fmt == "native" else fmt)


def test_files_are_detected_too(written):
    assert detect_format(written["native"] / "mosei.h5") == "native"
    assert detect_format(written["mult"] / "iemocap_data.pkl") == "mult"
    assert detect_format(written["mosei-h5"] / "ey_train.h5") == "mosei-h5"
    assert load(written["mult-noalign"] / "iemocap_data_noalign.pkl").aligned is False


def test_explicit_format_is_used(written):
    ds = load(written["iemocap9"], format="iemocap9", trim_to=20)
    assert ds["train"].features["text"].shape[1] == 20


def test_explicit_format_that_does_not_match_gives_a_data_error(written):
    with pytest.raises(DataFormatError, match="no feature file of the CMU-MOSEI h5 layout"):
        load(written["iemocap9"], format="mosei-h5")


def test_underscore_spelling_of_a_format_is_accepted(written):
    assert load(written["mosei-h5"], format="mosei_h5").name == "mosei"


def test_unknown_format_is_a_config_error(written):
    with pytest.raises(ConfigError, match="unknown data format 'csv'"):
        load(written["mult"], format="csv")


def test_option_the_format_does_not_take_is_a_config_error(written):
    with pytest.raises(ConfigError, match="trim_to"):
        load(written["mult"], trim_to=20)


def test_csd_file_points_to_from_csd(tmp_path):
    path = tmp_path / "CMU_MOSEI_COVAREP.csd"
    with h5py.File(path, "w") as f:
        f.create_dataset("COVAREP/data/v1/features", data=np.zeros((2, 74)))
    with pytest.raises(DataFormatError, match="emotrans data from-csd") as info:
        load(path)
    assert str(path) in str(info.value)


def test_directory_of_csd_files_points_to_from_csd(tmp_path):
    (tmp_path / "labels.csd").write_bytes(b"")
    with pytest.raises(DataFormatError, match="from-csd"):
        load(tmp_path)


def test_missing_path_is_a_data_error(tmp_path):
    with pytest.raises(DataFormatError, match="no such file or directory"):
        load(tmp_path / "nothing")


def test_empty_directory_says_what_was_looked_for(tmp_path):
    with pytest.raises(DataFormatError, match="no dataset found"):
        load(tmp_path)


def test_importing_emotrans_data_does_not_import_torch():
    code = "import sys, emotrans.data; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

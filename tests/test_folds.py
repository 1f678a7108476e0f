"""Standard folds: shipped with the package, named unambiguously, and read from the SDK's own
``*_std_folds.py`` files without running them."""

from __future__ import annotations

import json

import pytest

from emotrans.cli import main
from emotrans.data.folds import (
    dataset_of_videos,
    is_folds_name,
    load_folds,
    standard_folds,
)
from emotrans.errors import ConfigError, DataFormatError


@pytest.mark.parametrize(
    ("name", "sizes"),
    [("mosi", (52, 10, 31)), ("mosei", (2250, 300, 678)), ("CMU_MOSI", (52, 10, 31))],
)
def test_the_package_ships_the_standard_folds(name, sizes):
    folds = standard_folds(name)
    assert tuple(len(folds[s]) for s in ("train", "valid", "test")) == sizes
    every = [v for ids in folds.values() for v in ids]
    assert len(every) == len(set(every))  # no video in two folds


def test_the_mosei_folds_hold_an_id_that_prefixes_two_others():
    # the SDK's removal of a missing '25522' by prefix also removes '255224' and '255226'
    mosei = {v for ids in standard_folds("mosei").values() for v in ids}
    assert {"25522", "255224", "255226"} <= mosei


@pytest.mark.parametrize("source", ["mosi", "MOSEI", "sdk", "mmsdk", "cmu-mosi"])
def test_names_have_no_separator_and_no_dot(source):
    assert is_folds_name(source)


@pytest.mark.parametrize("source", ["./mosi", "folds/mosi", "mosi.json", "sdk.txt"])
def test_anything_with_a_separator_or_a_dot_is_a_path(source):
    assert not is_folds_name(source)


def test_a_name_wins_even_when_a_file_of_that_name_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mosi").write_text("train a\n")
    assert len(load_folds("mosi")["train"]) == 52
    assert load_folds("./mosi")["train"] == ["a"]


def test_sdk_stands_for_the_dataset_the_caller_names():
    assert load_folds("sdk", dataset="mosi") == standard_folds("mosi")
    with pytest.raises(ConfigError, match="--folds mosi .* --folds mosei"):
        load_folds("sdk")


def test_an_unknown_name_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="use mosi, mosei"):
        load_folds("iemocap")


def test_the_dataset_of_video_ids_is_told_by_the_shipped_folds():
    assert dataset_of_videos(["2iD-tVS8NPw", "x"]) == "mosi"
    assert dataset_of_videos(standard_folds("mosei")["valid"][:5]) == "mosei"
    assert dataset_of_videos(["nothing"]) is None


SDK_FILE = """standard_train_fold=['a', 'b', 'c']

standard_test_fold=['e']

standard_valid_fold=('d',)
"""


def test_the_sdks_python_fold_file_is_read_without_running_it(tmp_path):
    path = tmp_path / "cmu_mosi_std_folds.py"
    path.write_text(SDK_FILE)
    assert load_folds(path) == {"train": ["a", "b", "c"], "valid": ["d"], "test": ["e"]}
    text = tmp_path / "folds.txt"  # the same content under another extension
    text.write_text(SDK_FILE)
    assert load_folds(text)["valid"] == ["d"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("import os\nstandard_train_fold=['a']\n", "Import statement"),
        ("standard_train_fold=[os.system('x')]\n", "not a quoted video id"),
        ("standard_train_fold=sorted(['a'])\n", "not a list of video ids"),
        ("holdout=['a']\n", "unknown fold 'holdout'"),
        ("standard_train_fold=['a'\n", "syntax error"),
    ],
)
def test_anything_but_lists_of_strings_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "std_folds.py"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=message) as info:
        load_folds(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_errors_quote_a_few_tokens_never_a_whole_long_line(tmp_path):
    path = tmp_path / "folds.txt"
    path.write_text("train " + " ".join(f"'video{i}'," for i in range(3000)) + "\n")
    with pytest.raises(DataFormatError) as info:
        load_folds(path)
    message = str(info.value)
    assert str(path) in message and len(message) < 300
    long_id = tmp_path / "ids.txt"
    long_id.write_text("x" * 30_000 + "\n")
    with pytest.raises(DataFormatError) as info:
        load_folds(long_id)
    assert len(str(info.value)) < 300


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(DataFormatError, match="no such folds file"):
        load_folds(tmp_path / "folds.json")


def test_the_shipped_folds_round_trip_through_json(tmp_path):
    path = tmp_path / "mosi.json"
    path.write_text(json.dumps(standard_folds("mosi")))
    assert load_folds(path) == standard_folds("mosi")


def test_from_csd_help_names_the_shipped_folds(capsys):
    with pytest.raises(SystemExit):
        main(["data", "from-csd", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'mosi' or 'mosei'" in text and "*_std_folds.py" in text

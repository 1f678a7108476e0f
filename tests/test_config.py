"""RunConfig: one source of truth for settings (reference defaults, files, flags)."""

from __future__ import annotations

import argparse
import json

import pytest

from emotrans.config import RunConfig, add_config_arguments, config_from_args
from emotrans.errors import ConfigError


def test_defaults_are_the_reference_settings():
    c = RunConfig()
    assert (c.lr, c.batch_size, c.epochs, c.clip, c.weight_decay) == (1e-3, 64, 100, 1.0, 0.0)
    assert (c.plateau_factor, c.plateau_patience, c.early_stop) == (0.1, 5, 8)
    assert (c.layers, c.dropout, c.hidden_audio, c.hidden_vision) == (2, 0.15, 200, 100)
    assert (c.pooling, c.score, c.rnn, c.modalities) == ("last", "dot", "lstm", "tav")


@pytest.mark.parametrize(
    "suffix,text",
    [
        (".yaml", "batch_size: 32\nzsl: [anger]\nbidirectional: false\n"),
        (".toml", "batch-size = 32\nzsl = ['anger']\nbidirectional = false\n"),
        (".json", '{"batch_size": 32, "zsl": "anger", "bidirectional": false}'),
    ],
)
def test_settings_files_use_the_flag_names(tmp_path, suffix, text):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    c = RunConfig.from_file(path)
    assert (c.batch_size, c.zsl, c.bidirectional) == (32, ["anger"], False)


def test_flags_override_the_file_which_overrides_defaults():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--lr", "0.01", "--zsl", "anger,fear", "--no-bidirectional"])
    c = config_from_args(args, {"lr": 0.5, "batch_size": 16})
    assert (c.lr, c.batch_size, c.zsl, c.bidirectional) == (0.01, 16, ["anger", "fear"], False)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"no_such": 1}, "unknown setting 'no_such'"),
        ({"batch_size": "many"}, "batch_size = 'many' is not a valid int"),
        ({"pooling": "max"}, "pooling = 'max': choose one of last, final, mean"),
        ({"modalities": "tx"}, "unknown modality"),
        ({"epochs": 0}, "epochs = 0: must be positive"),
    ],
)
def test_invalid_settings_are_one_line_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(values)


def test_unreadable_settings_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not a valid settings file"):
        RunConfig.from_file(bad)


def test_config_round_trips_through_json_and_hash_is_stable(tmp_path):
    c = RunConfig(seed=3, zsl=["fear"])
    c.save(tmp_path / "config.json")
    back = RunConfig.from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert back == c and back.digest() == c.digest()
    assert RunConfig(seed=4).digest() != c.digest()

"""RunConfig: one source of truth for settings (reference defaults, files, flags), with the
model's settings declared by the model and resolved by the registry."""

from __future__ import annotations

import argparse
import json

import pytest

from emotrans.cli.settings import add_config_arguments, config_from_args
from emotrans.config import RunConfig
from emotrans.errors import ConfigError
from emotrans.models.registry import resolve_config


def test_defaults_are_the_reference_settings():
    c = RunConfig()
    assert (c.lr, c.batch_size, c.epochs, c.clip, c.weight_decay) == (1e-3, 64, 100, 1.0, 0.0)
    assert (c.plateau_factor, c.plateau_patience, c.early_stop) == (0.1, 5, 8)
    assert (c.model, c.modalities, c.model_settings) == ("transferable", "tav", {})
    s = resolve_config(c).model_settings
    assert (s["layers"], s["dropout"], s["hidden_audio"], s["hidden_vision"]) == (2, 0.15, 200, 100)
    assert (s["pooling"], s["score"], s["rnn"]) == ("last", "dot", "lstm")


@pytest.mark.parametrize(
    "suffix,text",
    [
        (".yaml", "model: lf-lstm\nbatch_size: 32\nzsl: [anger]\nbidirectional: false\n"),
        (".toml", "model = 'lf-lstm'\nbatch-size = 32\nzsl = ['anger']\nbidirectional = false\n"),
        (".json", '{"model": "lf-lstm", "batch_size": 32, "zsl": "anger", "bidirectional": false}'),
    ],
)
def test_settings_files_use_the_flag_names(tmp_path, suffix, text):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    c = resolve_config(RunConfig.from_file(path))
    assert (c.batch_size, c.zsl, c.model_settings["bidirectional"]) == (32, ["anger"], False)


def test_flags_override_the_file_which_overrides_defaults():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    argv = ["--model", "lf-lstm", "--lr", "0.01", "--zsl", "anger,fear", "--no-bidirectional"]
    args = parser.parse_args([*argv, "--hidden-audio", "8"])
    c = config_from_args(args, {"lr": 0.5, "batch_size": 16, "hidden_audio": 4, "layers": 3})
    assert (c.lr, c.batch_size, c.zsl) == (0.01, 16, ["anger", "fear"])
    s = c.model_settings
    assert (s["bidirectional"], s["hidden_audio"], s["layers"], s["rnn"]) == (False, 8, 3, "lstm")


def test_a_model_flag_of_another_model_is_an_error_but_a_file_key_is_ignored():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--mult-dim", "20"])
    with pytest.raises(ConfigError, match="mult_dim applies to model mult, not transferable"):
        config_from_args(args)
    c = config_from_args(parser.parse_args([]), {"mult_dim": 20, "ef_hidden": 8})
    assert "mult_dim" not in c.model_settings and c.model_settings["hidden_audio"] == 200


def test_model_flags_name_the_models_that_take_them():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert (
        "--hidden-audio HIDDEN_AUDIO audio hidden size (transferable, lf-lstm; default: 200)"
        in text
    )
    assert "--mult-dim MULT_DIM" in text and "--no-bidirectional" in text
    assert "--model-settings" not in text


@pytest.mark.parametrize(
    "values,message",
    [
        ({"batch_size": "many"}, "batch_size = 'many' is not a valid int"),
        ({"modalities": "tx"}, "unknown modality"),
        ({"epochs": 0}, "epochs = 0: must be positive"),
        ({"fsl_fraction": 0}, r"fsl_fraction = 0.0: must be in \(0, 1\]"),
        ({"model_settings": [1]}, "model_settings must be a mapping"),
    ],
)
def test_invalid_settings_are_one_line_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict(values)


@pytest.mark.parametrize(
    "values,message",
    [
        ({"no_such": 1}, "unknown setting 'no_such'; transferable takes rnn, layers, "),
        ({"pooling": "max"}, "pooling = 'max': choose one of last, final, mean"),
        ({"layers": "0"}, "layers = 0: must be positive"),
        ({"hidden_audio": 2.5}, "hidden_audio = 2.5 is not a valid int"),
        ({"model": "mult", "mult_dropout": 0.1}, "unknown setting 'mult_dropout'; mult takes"),
        ({"model": "nope"}, "unknown model 'nope': choose one of transferable, ef-lstm"),
    ],
)
def test_invalid_model_settings_are_one_line_errors_when_resolved(values, message):
    config = RunConfig.from_dict(values)  # this layer knows no model: it cannot check them
    with pytest.raises(ConfigError, match=message):
        resolve_config(config)


def test_flat_keys_of_an_old_run_directory_resolve_to_the_models_settings():
    old = {"model": "mult", "seed": 1, "rnn": "gru", "hidden_audio": 200, "mult_dim": 20}
    c = resolve_config(RunConfig.from_dict(old))
    assert c.model_settings["mult_dim"] == 20 and "rnn" not in c.model_settings
    assert set(c.model_settings) == {f"mult_{k}" for k in ("dim", "heads", "layers", "kernel")} | {
        f"mult_{k}_dropout" for k in ("attn", "relu", "res", "out", "embed")
    }


def test_resolved_configs_hash_equally_however_the_defaults_were_given():
    given = [
        RunConfig(),
        RunConfig(hidden_audio=200),
        RunConfig.from_dict({"hidden-audio": "200", "dropout": "0.15", "mult_dim": 8}),
        RunConfig(model_settings={"layers": 2.0}),
    ]
    resolved = [resolve_config(c) for c in given]
    assert len({c.digest() for c in resolved}) == 1
    assert resolve_config(resolved[0]) == resolved[0]
    assert resolve_config(RunConfig(hidden_audio=8)).digest() != resolved[0].digest()


def test_unreadable_settings_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not a valid settings file"):
        RunConfig.from_file(bad)


def test_config_round_trips_through_json_and_hash_is_stable(tmp_path):
    c = resolve_config(RunConfig(seed=3, zsl=["fear"], hidden_audio=8))
    c.save(tmp_path / "config.json")
    back = RunConfig.from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert back == c and back.digest() == c.digest()
    assert RunConfig(seed=4).digest() != c.digest()

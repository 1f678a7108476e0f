"""The settings flags of ``emotrans train``: built from RunConfig and the models' Settings,
without importing torch for the commands that do not need it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from emotrans.cli import main

TORCH_LOADED = """
import sys
from emotrans.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""


def torch_loaded(argv: list[str]) -> bool:
    """Whether running ``emotrans ARGV`` in a fresh interpreter imports torch."""
    code = TORCH_LOADED.format(argv=argv)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stderr.strip().splitlines()[-1] == "TORCH"


@pytest.mark.parametrize("argv", [["--help"], ["data", "inspect", "--help"]])
def test_help_and_data_commands_do_not_import_torch(argv):
    assert not torch_loaded(argv)


def test_train_help_lists_every_models_settings(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--hidden-audio", "--mult-dim", "--ef-hidden", "--rnn", "--no-bidirectional"):
        assert flag in text
    assert "--batch-size" in text and "--model-settings" not in text


def test_models_lists_each_models_settings_from_its_dataclass(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "mult settings" in out and "mult_dim" in out and "hidden_audio" in out

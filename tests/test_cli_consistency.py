"""Every command of ``emotrans`` follows the same conventions: -v/-q before or after the
command, help text on every option, enumerated settings list their choices, defaults shown
once. The checks walk the argparse tree of build_parser(), so a new command or flag is
covered without listing it here."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator

import pytest

from emotrans.cli import build_parser, main
from emotrans.models.registry import model_names


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, parser) for the top parser and every command under it, once each."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield from _walk(child, (*path, name))


def _commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return list(_walk(build_parser()))


COMMANDS = _commands()
IDS = [" ".join(path) or "emotrans" for path, _ in COMMANDS]


def _required_args(parser: argparse.ArgumentParser) -> list[str]:
    """The fewest arguments ``parser`` accepts: a value for each required option and
    positional ("1", which every type here reads, or the first choice)."""
    out: list[str] = []
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction) or not (a.required or not a.option_strings):
            continue
        if a.nargs in ("?", "*"):
            continue
        value = str(next(iter(a.choices))) if a.choices else "1"
        out += [a.option_strings[0], value] if a.option_strings else [value]
    return out


def test_the_walk_reaches_the_nested_commands():
    paths = {path for path, _ in COMMANDS}
    for path in [("data", "synth"), ("data", "inspect"), ("train",), ("reproduce",), ("serve",)]:
        assert path in paths


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_every_option_and_positional_has_help(path, parser):
    parser.format_help()  # the train command adds its model flags on first use
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not (a.help and a.help.strip()) or a.help == argparse.SUPPRESS
    ]
    assert not missing, f"emotrans {' '.join(path)}: no help for {missing}"


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_every_enumerated_option_shows_its_choices_in_help(path, parser, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # no line wrapping inside names like ef-lstm
    parser.format_help()
    for a in parser._actions:
        if a.choices is None or isinstance(a, argparse._SubParsersAction):
            continue
        formatter = parser._get_formatter()
        formatter.add_argument(a)
        text = formatter.format_help()
        hidden = [c for c in a.choices if str(c) not in text]
        assert not hidden, f"emotrans {' '.join(path)} {a.option_strings}: {hidden} not shown"


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
@pytest.mark.parametrize("flag", ["-q", "--quiet", "-v", "--verbose"])
def test_verbosity_flags_parse_before_and_after_every_command(path, parser, flag):
    rest = _required_args(parser)
    dest = "quiet" if flag in ("-q", "--quiet") else "verbose"
    other = "verbose" if dest == "quiet" else "quiet"
    for argv in ([flag, *path, *rest], [*path, *rest, flag]):
        args = build_parser().parse_args(argv)
        assert getattr(args, dest) is True, argv
        assert getattr(args, other) is False, argv


def test_without_the_flags_both_are_false_on_every_command():
    for path, parser in COMMANDS:
        args = build_parser().parse_args([*path, *_required_args(parser)])
        assert args.quiet is False and args.verbose is False, path


def test_quiet_after_a_nested_command_runs_it(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["data", "synth", "--scale", "0.002", "--embeddings", "random:0", "--out", str(out)]
    assert main([*argv, "-q"]) == 0
    assert (out / "synthetic.json").is_file()
    assert "wrote synthetic mosei" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["-v", "models"], ["models", "-v"], ["models", "--verbose"]])
def test_verbose_in_either_position_logs_info(argv, capsys):
    assert main(argv) == 0
    assert logging.getLogger("emotrans").getEffectiveLevel() == logging.INFO


def test_without_verbose_only_warnings_are_logged(capsys):
    assert main(["models", "-q"]) == 0
    assert logging.getLogger("emotrans").getEffectiveLevel() == logging.WARNING


def test_verbose_and_quiet_together_are_refused(capsys):
    assert main(["-q", "models", "-v"]) == 2
    assert "not both" in capsys.readouterr().err


def _option_help(parser: argparse.ArgumentParser, flag: str) -> str:
    parser.format_help()
    action = next(a for a in parser._actions if flag in a.option_strings)
    return action.help


def test_emotions_help_states_its_default_once_and_as_meant():
    train = dict(COMMANDS)[("train",)]
    text = _option_help(train, "--emotions")
    assert text.count("default") == 1 and "(default: all)" in text
    assert "[]" not in text


def test_empty_defaults_read_none_not_python_literals(monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")
    help_text = dict(COMMANDS)[("train",)].format_help()
    assert "(default: [])" not in help_text and "(default: '')" not in help_text
    zsl = "zero-shot: emotions held out of training, comma-separated (default: none)"
    assert zsl in help_text


def test_model_and_format_list_the_registered_names():
    train = dict(COMMANDS)[("train",)]
    assert f"one of: {', '.join(model_names())}" in _option_help(train, "--model")
    assert "mosei-h5" in _option_help(train, "--format")
    assert "mosei-h5" in _option_help(dict(COMMANDS)[("predict",)], "--format")

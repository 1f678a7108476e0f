"""Command-line flags for the settings of a run.

One ``--flag`` per :class:`~emotrans.config.RunConfig` field (``--batch-size``) and one per
model setting, the union over the registered models' ``Settings`` (``--hidden-audio``,
``--mult-dim``); a setting's help names the models that take it and their defaults. Model
flags land in ``RunConfig.model_settings``. Nothing is copied: names, types, defaults, help
and choices come from the dataclasses.

The model flags need the model classes (and so torch). They are added to a parser when it is
first used (parsing or help), so building the whole ``emotrans`` parser, for ``emotrans --help``
or ``emotrans data ...``, does not import torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from emotrans.config import RunConfig, base_type, default_of
from emotrans.data.formats import formats
from emotrans.models.registry import model_names, model_settings_fields, resolve_config

_PREFIX = "cfg_"


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per run setting and per model setting (default: not given).

    ``skip`` names settings that get no flag (the command sets them itself).
    """
    group = parser.add_argument_group("settings (defaults are the reference settings)")
    for f in dataclasses.fields(RunConfig):
        if f.name in skip or f.name == "model_settings":
            continue
        help_text = with_default(f.metadata.get("help", ""), default_of(f))
        if f.name == "format":  # the registry's names; the check is the loader's
            help_text += f" (one of: auto, {', '.join(fmt.name for fmt in formats())})"
        _add_flag(group, f.name, base_type(f), help_text, f.metadata.get("choices"))
    models = parser.add_argument_group(
        "model settings (each applies to the models named; see `emotrans models`)"
    )
    _before_first_use(parser, lambda: _add_model_flags(models, skip))


def shown_default(value: Any) -> str:
    """A setting's default as the help shows it: ``'auto'``, ``64``, ``none`` for an empty
    string or list, ``a, b`` for a list."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) if value else "none"
    if value == "":
        return "none"
    return repr(value)


def with_default(help_text: str, default: Any) -> str:
    """``help_text (default: X)``, unless the help already says its default itself (as the
    help of ``emotions`` does: "(default: all)", where the empty list means every emotion)."""
    if "(default:" in help_text or "; default:" in help_text:
        return help_text
    return f"{help_text} (default: {shown_default(default)})"


def config_from_args(
    args: argparse.Namespace, base: dict[str, Any] | None = None, base_where: str = "config file"
) -> RunConfig:
    """Merge settings: reference defaults < ``base`` (e.g. a --config file) < CLI flags.

    Returns the resolved config (every model setting filled in, see
    :func:`~emotrans.models.registry.resolve_config`). A model flag the chosen model does not
    take is an error (``--mult-dim`` with ``--model transferable``); such a key in ``base`` is
    ignored, as a settings file may serve runs of several models. ``base`` is checked on its
    own first, with the same rules, so a bad value there is named with ``base_where`` even
    when a flag overrides it.
    """
    values: dict[str, Any] = dict(base or {})
    run_fields = {f.name for f in dataclasses.fields(RunConfig)}
    flags: dict[str, Any] = {}
    run_flags: dict[str, Any] = {}
    for dest, given in vars(args).items():
        if dest.startswith(_PREFIX) and given is not None:
            name = dest[len(_PREFIX) :]
            (flags if name not in run_fields else run_flags)[name] = given
    if base:
        model = {"model": run_flags["model"]} if "model" in run_flags else {}
        resolve_config(RunConfig.from_dict({**base, **model}, where=base_where), where=base_where)
    values.update(run_flags)
    config = RunConfig.from_dict({**values, **flags}, where="command line")
    resolve_config(config.replace(model_settings=flags), strict=True, where="command line")
    return resolve_config(config, where="command line")


def _add_model_flags(group: argparse._ArgumentGroup, skip: tuple[str, ...]) -> None:
    _list_models(group)
    for name, by_model in model_settings_fields().items():
        if name in skip:
            continue
        fields = list(by_model.values())
        choices: list[str] | None = []
        for f in fields:
            own = f.metadata.get("choices")
            if own is None:
                choices = None
                break
            choices += [c for c in own if c not in choices]
        _add_flag(group, name, base_type(fields[0]), _model_help(by_model), choices or None)


def _list_models(group: argparse._ArgumentGroup) -> None:
    """Name the registered models in the help of ``--model`` (built when the parser is first
    used, so a model registered after the parser was built is listed too)."""
    for action in group._actions:  # a group shares its parser's list of actions
        if action.dest == _PREFIX + "model" and action.help and "one of:" not in action.help:
            action.help += f" (one of: {', '.join(model_names())})"


def _model_help(by_model: dict[str, dataclasses.Field]) -> str:
    """ "audio hidden size (transferable, lf-lstm; default: 200)", or one clause per model
    when the models describe the setting differently."""
    helps = {m: f.metadata.get("help", "") for m, f in by_model.items()}
    defaults = {m: default_of(f) for m, f in by_model.items()}
    if len(set(helps.values())) > 1:
        return "; ".join(f"{m}: {helps[m]} (default: {defaults[m]!r})" for m in by_model)
    if len({repr(d) for d in defaults.values()}) == 1:
        shown = repr(next(iter(defaults.values())))
    else:
        shown = ", ".join(f"{m} {d!r}" for m, d in defaults.items())
    return f"{next(iter(helps.values()))} ({', '.join(by_model)}; default: {shown})"


def _add_flag(
    group: argparse._ArgumentGroup,
    name: str,
    tp: Any,
    help_text: str,
    choices: tuple[str, ...] | list[str] | None,
) -> None:
    flag = "--" + name.replace("_", "-")
    help_text = help_text.replace("%", "%%")
    if choices and tp is not bool:  # the metavar hides them from the usage line: list them here
        help_text += f" (one of: {', '.join(choices)})"
    if tp is bool:
        group.add_argument(
            flag,
            dest=_PREFIX + name,
            action=argparse.BooleanOptionalAction,
            default=None,
            help=help_text,
        )
    else:
        group.add_argument(
            flag,
            dest=_PREFIX + name,
            default=None,
            metavar=name.upper(),
            choices=choices,
            help=help_text,
        )


def _before_first_use(parser: argparse.ArgumentParser, build: Callable[[], None]) -> None:
    """Call ``build`` (which adds arguments) once, just before ``parser`` first parses or
    formats its help or usage."""
    pending = [build]

    def deferred(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run_first(*args: Any, **kwargs: Any) -> Any:
            while pending:
                pending.pop()()
            return method(*args, **kwargs)

        return run_first

    for name in ("parse_known_args", "format_help", "format_usage"):
        setattr(parser, name, deferred(getattr(parser, name)))

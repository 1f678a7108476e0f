"""One source of truth for the settings of a run.

:class:`RunConfig` is a flat dataclass whose defaults are the reference settings of Dai et al.
(docs/design.md, "The model" and "Training"). The CLI flags (``--batch-size``), the YAML/TOML
config files (``batch_size: 64``) and the grid files all map onto its fields, and a run
directory stores it whole in ``config.json``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotrans.atomic import write_text_atomic
from emotrans.errors import ConfigError
from emotrans.modalities import parse_modalities


@dataclass(frozen=True)
class Interval:
    """The valid range of a numeric setting, e.g. ``Interval(0, 1, high_open=True)`` for [0, 1).

    ``None`` bounds are unbounded; ``low_open``/``high_open`` exclude the bound itself.
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False  # NaN compares false with everything; inf is never a usable setting
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            return False
        return True

    def __str__(self) -> str:
        """How error messages and help texts say it: "positive", ">= 0", "in (0, 1]"."""
        if self.high is None:
            if self.low == 0 and self.low_open:
                return "positive"
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"


def _num(bound: float) -> str:
    """A bound as people write it: integers in full (4294967295), others as ``%g``."""
    if isinstance(bound, int) or float(bound).is_integer():
        return str(int(bound))
    return f"{bound:g}"


POSITIVE = Interval(0, low_open=True)
NON_NEGATIVE = Interval(0)
DROPOUT = Interval(0, 1)
SEEDS = Interval(0, 2**32 - 1)
_DEVICE = re.compile(r"auto|cpu|mps|(cuda|xpu)(:[0-9]+)?")
UNIT_OPEN = Interval(0, 1, low_open=True, high_open=True)


def setting(
    default: Any,
    help: str,
    choices: tuple[str, ...] | None = None,
    valid: Interval | None = None,
) -> Any:
    """A dataclass field of settings: its default, help text, allowed choices, valid range.

    Used by :class:`RunConfig` and by every model's settings dataclass; the CLI builds its
    flags, and :func:`check_setting` its checks, from this metadata.
    """
    meta = {"help": help, "choices": choices, "valid": valid}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.copy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(init=False)
class RunConfig:
    """Everything needed to rebuild the model and rerun a training run.

    The model's own settings (hidden sizes, recurrent cell, MulT widths, ...) are declared by
    the model (its ``Settings`` dataclass) and kept in :attr:`model_settings`. They may also be
    given flat, as in the config files and the grid files: ``RunConfig(hidden_audio=8)`` and
    ``RunConfig.from_dict({"hidden_audio": 8})`` both put ``hidden_audio`` in
    ``model_settings``. This layer cannot check them (it knows no models):
    :func:`emotrans.models.registry.resolve_config` validates them against the chosen model and
    fills in its defaults.
    """

    # -- data and embeddings ---------------------------------------------------------------
    data: str = setting("", "dataset path (directory or file)")
    format: str = setting("auto", "dataset format; 'auto' detects it from the files")
    embeddings: str = setting("default", "emotion embedding source spec (default, glove:PATH, ...)")
    emotions: list[str] = setting([], "label columns to use, comma-separated (default: all)")
    # -- model -----------------------------------------------------------------------------
    model: str = setting("transferable", "model name (see `emotrans models`)")
    modalities: str = setting("tav", "modalities: any non-empty combination of t, a, v")
    model_settings: dict[str, Any] = setting(
        {}, "the model's settings (see `emotrans models`); complete once resolved"
    )
    # -- training --------------------------------------------------------------------------
    seed: int = setting(0, "random seed", valid=SEEDS)
    epochs: int = setting(100, "maximum number of epochs", valid=POSITIVE)
    batch_size: int = setting(64, "batch size", valid=POSITIVE)
    batching: str = setting(
        "length",
        "training batches: length (shuffled batches of rows of similar length, so the exact "
        "encoders crop away most padding) or random (shuffled rows, the reference code's)",
        ("random", "length"),
    )
    lr: float = setting(1e-3, "Adam learning rate", valid=POSITIVE)
    weight_decay: float = setting(0.0, "Adam weight decay", valid=NON_NEGATIVE)
    clip: float = setting(1.0, "gradient-norm clip (0: off)", valid=NON_NEGATIVE)
    plateau_factor: float = setting(
        0.1, "ReduceLROnPlateau factor (on validation loss)", valid=UNIT_OPEN
    )
    plateau_patience: int = setting(5, "ReduceLROnPlateau patience, epochs", valid=NON_NEGATIVE)
    early_stop: int = setting(
        8, "stop after this many epochs without validation improvement", valid=POSITIVE
    )
    select_metric: str = setting(
        "auto",
        "validation figure used for model selection (auto: weighted accuracy, accuracy on "
        "IEMOCAP, MAE for sentiment; mae and loss are lower-is-better)",
        (
            "auto",
            "wacc",
            "acc",
            "f1",
            "auc",
            "loss",
            "mae",
            "corr",
            "acc7",
            "acc2_nonneg",
            "f1_nonneg",
            "acc2_nonzero",
            "f1_nonzero",
        ),
    )
    sentiment_loss: str = setting(
        "l1",
        "sentiment task: regression loss, l1 (mean absolute error, MulT's choice) or mse",
        ("l1", "mse"),
    )
    objective: str = setting(
        "binary",
        "emotion loss: binary (one BCE per emotion with pos_weight, the paper's protocol) or "
        "softmax (cross-entropy over the emotion logits; single-label data only)",
        ("binary", "softmax"),
    )
    threshold: float = setting(
        0.5, "decision threshold on sigmoid(logit)", valid=Interval(0, 1, True, True)
    )
    tune_thresholds: bool = setting(False, "tune per-emotion thresholds on the validation split")
    device: str = setting(
        "auto", "torch device: auto (CUDA when present, else the CPU), cpu, cuda, cuda:N"
    )
    precision: str = setting(
        "fp32",
        "fp32, or bf16 autocast (CPU and GPU), or amp (fp16 autocast with loss scaling, GPU "
        "only; fp32 on the CPU)",
        ("fp32", "bf16", "amp"),
    )
    threads: int = setting(
        0,
        "torch CPU threads (0: automatic, the usable cores minus those busy with other work, "
        "chosen once and logged)",
    )
    # -- low-resource protocols --------------------------------------------------------------
    zsl: list[str] = setting([], "zero-shot: emotions held out of training, comma-separated")
    zsl_data: str = setting(
        "", "IEMOCAP-9 data providing the unseen emotions' samples (IEMOCAP zero-shot)"
    )
    fsl: str = setting("", "few-shot: the target emotion")
    fsl_fraction: float = setting(
        0.01,
        "few-shot: fraction of the target's training positives kept (ceil)",
        valid=Interval(0, 1, low_open=True),
    )
    fsl_shots: int = setting(
        0,
        "few-shot: keep exactly this many positives (overrides the fraction)",
        valid=NON_NEGATIVE,
    )
    fsl_mode: str = setting("joint", "few-shot mode", ("joint", "finetune", "continual", "replay"))
    fsl_from: str = setting(
        "", "few-shot: zero-shot run directory to start from (finetune, continual, replay)"
    )
    fsl_epochs: int = setting(20, "few-shot: epochs of fine-tuning", valid=POSITIVE)
    fsl_lr: float = setting(
        3e-4,
        "few-shot: fine-tuning learning rate (chosen among 1e-4, 3e-4, 1e-3 on the validation "
        "split of generated CMU-MOSEI)",
        valid=POSITIVE,
    )
    fsl_memory: int = setting(
        256, "few-shot: samples of the original data kept as episodic memory", valid=NON_NEGATIVE
    )
    fsl_select: str = setting(
        "balanced",
        "few-shot fine-tuning (finetune, continual, replay): select the epoch on the mean of the "
        "target's and the seen emotions' validation scores ('balanced'), or on the plain "
        "average over all emotions, where the target weighs 1/K ('average')",
        ("balanced", "average"),
    )

    # -- methods -------------------------------------------------------------------------------
    def __init__(self, **values: Any) -> None:
        """Keyword arguments are the fields; any other keyword is a model setting given flat
        (``hidden_audio=8``) and goes to ``model_settings``, over what that mapping holds."""
        settings = dict(values.pop("model_settings", None) or {})
        for f in dataclasses.fields(self):
            if f.name != "model_settings":
                setattr(self, f.name, values.pop(f.name) if f.name in values else default_of(f))
        settings.update(values)
        self.model_settings = settings
        self.validate()

    def validate(self) -> RunConfig:
        """Raise :class:`ConfigError` for an invalid value (the model settings are checked by
        :func:`emotrans.models.registry.resolve_config`)."""
        for f in dataclasses.fields(self):
            check_setting(f, getattr(self, f.name))
        if not isinstance(self.model_settings, dict):
            raise ConfigError(f"model_settings = {self.model_settings!r}: must be a mapping")
        parse_modalities(self.modalities)
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ConfigError(f"threads = {self.threads!r}: must be >= 0 (0: automatic)")
        if not isinstance(self.device, str) or not _DEVICE.fullmatch(self.device):
            raise ConfigError(
                f"device = {self.device!r}: choose auto, cpu, cuda, cuda:N, mps or xpu[:N]"
            )
        for name in ("emotions", "zsl"):
            values = getattr(self, name)
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ConfigError(f"{name}: {', '.join(repeated)} given more than once")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> RunConfig:
        """Build from a mapping; keys may use ``-`` or ``_``.

        Values of the fields are converted to their types here. Every other key is a model
        setting (flat, as in the files and old run directories' ``config.json``) and joins
        ``model_settings``, as does a nested ``model_settings`` mapping (flat keys win); those
        are checked by :func:`emotrans.models.registry.resolve_config`.
        """
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        nested: dict[str, Any] = {}
        flat: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name == "model_settings":
                if not isinstance(value, dict):
                    raise ConfigError(f"{where}: model_settings must be a mapping of settings")
                nested = {str(k).replace("-", "_"): v for k, v in value.items()}
            elif name in known:
                kwargs[name] = coerce_setting(known[name], value, where)
            else:
                flat[name] = value
        try:
            return cls(**kwargs, model_settings={**nested, **flat})
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """Read a YAML, TOML or JSON file of settings (flat keys, as the CLI flags)."""
        return cls.from_dict(read_settings_file(path), where=str(path))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def digest(self) -> str:
        """Stable hash of every setting (used to key grid cells).

        Hash a resolved config (:func:`emotrans.models.registry.resolve_config`): its model
        settings are complete and of their declared types, so equal settings hash equally
        whether a default was written out or not.
        """
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; an unreadable file or a syntax error raises a one-line
    :class:`ConfigError` naming the file."""
    import yaml

    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise ConfigError(f"{path}: not valid YAML ({first})") from None


def read_settings_file(path: str | Path) -> dict[str, Any]:
    """Parse a flat YAML/TOML/JSON mapping; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            values = tomllib.loads(text)
        elif path.suffix == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text) or {}
    except Exception as exc:  # parser errors differ per format
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not a valid settings file ({first})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return values


def default_of(f: dataclasses.Field) -> Any:
    """The default value of a settings field (a fresh copy for list and dict defaults)."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def base_type(f: dataclasses.Field) -> Any:
    """The type of a settings field without ``None``: ``int``, ``float``, ``bool``, ``str``,
    ``list[str]`` or ``dict[str, Any]``."""
    return _base_type(f.type)


def _base_type(tp: Any) -> Any:
    if isinstance(tp, str):
        tp = eval(tp, vars(typing), {})  # annotations are strings under `from __future__`
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


def coerce_setting(f: dataclasses.Field, value: Any, where: str) -> Any:
    """``value`` (from a file or a flag: often a string) as the type of the field ``f``.

    Lists may be comma-separated strings; booleans may be ``true``/``false``/``yes``/``no``/
    ``1``/``0``; an integer setting refuses a fractional number. A value that does not convert
    raises a one-line :class:`ConfigError` starting with ``where``.
    """
    tp = base_type(f)
    try:
        if typing.get_origin(tp) is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or any(
                isinstance(v, list | tuple | dict) or v is None for v in value
            ):
                raise TypeError(value)  # a list of names, not an object or nested lists
            return [str(v) for v in value]
        if typing.get_origin(tp) is dict or tp is dict:
            if not isinstance(value, dict):
                raise TypeError(value)
            return dict(value)
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if tp is float:
            return float(value)
        if isinstance(value, list | tuple | dict) or value is None:
            raise TypeError(value)  # a name or a path, not a structure
        return str(value)
    except (TypeError, ValueError, OverflowError):
        valid = f.metadata.get("valid")
        hint = f"; must be {valid}" if valid is not None else ""
        raise ConfigError(
            f"{where}: {f.name} = {value!r} is not a valid {getattr(tp, '__name__', tp)}{hint}"
        ) from None


def check_setting(f: dataclasses.Field, value: Any, where: str = "") -> None:
    """Raise a one-line :class:`ConfigError` when ``value`` is not among the field's choices
    or outside its valid range (see :func:`setting`)."""
    prefix = f"{where}: " if where else ""
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"{prefix}{f.name} = {value!r}: choose one of {', '.join(choices)}")
    valid = f.metadata.get("valid")
    if valid is not None and value not in valid:
        raise ConfigError(f"{prefix}{f.name} = {value!r}: must be {valid}")

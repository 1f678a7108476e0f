"""One source of truth for the settings of a run.

:class:`RunConfig` is a flat dataclass whose defaults are the reference settings of Dai et al.
(docs/design.md, "The model" and "Training"). The CLI flags (``--batch-size``), the YAML/TOML
config files (``batch_size: 64``) and the grid files all map onto its fields, and a run
directory stores it whole in ``config.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotrans.atomic import write_text_atomic
from emotrans.errors import ConfigError
from emotrans.modalities import parse_modalities


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None, **kw: Any) -> Any:
    meta = {"help": help, "choices": choices}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta, **kw)
    return field(default=default, metadata=meta, **kw)


@dataclass
class RunConfig:
    """Everything needed to rebuild the model and rerun a training run."""

    # -- data and embeddings ---------------------------------------------------------------
    data: str = _opt("", "dataset path (directory or file)")
    format: str = _opt("auto", "dataset format; 'auto' detects it from the files")
    embeddings: str = _opt("default", "emotion embedding source spec (default, glove:PATH, ...)")
    emotions: list[str] = _opt([], "label columns to use, comma-separated (default: all)")
    # -- model -----------------------------------------------------------------------------
    model: str = _opt("transferable", "model name (see `emotrans models`)")
    modalities: str = _opt("tav", "modalities: any non-empty combination of t, a, v")
    rnn: str = _opt("lstm", "recurrent cell of the encoders", ("lstm", "gru"))
    layers: int = _opt(2, "recurrent layers per encoder")
    dropout: float = _opt(0.15, "dropout between recurrent layers")
    hidden_text: int = _opt(
        0, "text hidden size (0: the embedding dimension for transferable, 300 for baselines)"
    )
    hidden_audio: int = _opt(200, "audio hidden size")
    hidden_vision: int = _opt(100, "vision hidden size")
    pooling: str = _opt(
        "last", "utterance vector from the encoder outputs", ("last", "final", "mean")
    )
    padding: str = _opt(
        "packed",
        "padded steps: 'packed' (exact, outputs depend only on valid steps) or 'reference' "
        "(run through the RNN as the reference code does; faster when lengths vary)",
        ("packed", "reference"),
    )
    score: str = _opt("dot", "utterance-emotion score", ("dot", "cosine"))
    bidirectional: bool = _opt(True, "bidirectional encoders (baselines)")
    ef_hidden: int = _opt(300, "EF-LSTM hidden size")
    mult_dim: int = _opt(40, "MulT common width")
    mult_heads: int = _opt(10, "MulT attention heads")
    mult_layers: int = _opt(4, "MulT transformer layers")
    mult_kernel: int = _opt(1, "MulT temporal convolution kernel size")
    mult_attn_dropout: float = _opt(0.25, "MulT attention dropout")
    mult_relu_dropout: float = _opt(0.1, "MulT feed-forward dropout")
    mult_res_dropout: float = _opt(0.1, "MulT residual dropout")
    mult_out_dropout: float = _opt(0.1, "MulT output dropout")
    mult_embed_dropout: float = _opt(0.3, "MulT embedding dropout")
    # -- training --------------------------------------------------------------------------
    seed: int = _opt(0, "random seed")
    epochs: int = _opt(100, "maximum number of epochs")
    batch_size: int = _opt(64, "batch size")
    lr: float = _opt(1e-3, "Adam learning rate")
    weight_decay: float = _opt(0.0, "Adam weight decay")
    clip: float = _opt(1.0, "gradient-norm clip (0: off)")
    plateau_factor: float = _opt(0.1, "ReduceLROnPlateau factor (on validation loss)")
    plateau_patience: int = _opt(5, "ReduceLROnPlateau patience, epochs")
    early_stop: int = _opt(8, "stop after this many epochs without validation improvement")
    select_metric: str = _opt(
        "auto",
        "validation average used for model selection",
        ("auto", "wacc", "acc", "f1", "auc", "loss"),
    )
    threshold: float = _opt(0.5, "decision threshold on sigmoid(logit)")
    tune_thresholds: bool = _opt(False, "tune per-emotion thresholds on the validation split")
    device: str = _opt("cpu", "torch device: cpu, cuda, cuda:0, or auto")
    precision: str = _opt(
        "fp32",
        "fp32, or bf16 autocast (CPU and GPU), or amp (fp16 on GPU)",
        ("fp32", "bf16", "amp"),
    )
    threads: int = _opt(0, "torch CPU threads (0: torch's default)")
    # -- low-resource protocols --------------------------------------------------------------
    zsl: list[str] = _opt([], "zero-shot: emotions held out of training, comma-separated")
    zsl_data: str = _opt(
        "", "IEMOCAP-9 data providing the unseen emotions' samples (IEMOCAP zero-shot)"
    )
    fsl: str = _opt("", "few-shot: the target emotion")
    fsl_fraction: float = _opt(
        0.01, "few-shot: fraction of the target's training positives kept (ceil)"
    )
    fsl_shots: int = _opt(0, "few-shot: keep exactly this many positives (overrides the fraction)")
    fsl_mode: str = _opt("joint", "few-shot mode", ("joint", "finetune", "continual", "replay"))
    fsl_from: str = _opt(
        "", "few-shot: zero-shot run directory to start from (finetune, continual, replay)"
    )
    fsl_epochs: int = _opt(20, "few-shot: epochs of fine-tuning")
    fsl_lr: float = _opt(
        3e-4,
        "few-shot: fine-tuning learning rate (chosen among 1e-4, 3e-4, 1e-3 on the validation "
        "split of generated CMU-MOSEI)",
    )
    fsl_memory: int = _opt(256, "few-shot: samples of the original data kept as episodic memory")
    fsl_select: str = _opt(
        "balanced",
        "few-shot fine-tuning (finetune, continual, replay): select the epoch on the mean of the "
        "target's and the seen emotions' validation scores ('balanced'), or on the plain "
        "average over all emotions, where the target weighs 1/K ('average')",
        ("balanced", "average"),
    )

    # -- methods -------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> RunConfig:
        """Raise :class:`ConfigError` for an invalid value."""
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            value = getattr(self, f.name)
            if choices and value not in choices:
                raise ConfigError(f"{f.name} = {value!r}: choose one of {', '.join(choices)}")
        positive = (
            "epochs",
            "batch_size",
            "layers",
            "hidden_audio",
            "hidden_vision",
            "ef_hidden",
            "mult_dim",
            "mult_heads",
            "mult_layers",
            "mult_kernel",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} = {getattr(self, name)}: must be positive")
        if self.lr <= 0:
            raise ConfigError(f"lr = {self.lr}: must be positive")
        if not 0 < self.fsl_fraction <= 1:
            raise ConfigError(f"fsl_fraction = {self.fsl_fraction}: must be in (0, 1]")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold = {self.threshold}: must be in (0, 1)")
        parse_modalities(self.modalities)
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "config") -> RunConfig:
        """Build from a mapping; keys may use ``-`` or ``_``; unknown keys are an error."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(f"{where}: unknown setting {key!r}")
            kwargs[name] = _coerce(known[name], value, where)
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        """Read a YAML, TOML or JSON file of settings (flat keys, as the CLI flags)."""
        return cls.from_dict(read_settings_file(path), where=str(path))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def digest(self) -> str:
        """Stable hash of every setting (used to key grid cells)."""
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


def _base_type(tp: Any) -> Any:
    if isinstance(tp, str):
        tp = eval(tp, vars(typing), {})  # annotations are strings under `from __future__`
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _base_type(args[0])
    return tp


def _coerce(f: dataclasses.Field, value: Any, where: str) -> Any:
    tp = _base_type(f.type)
    try:
        if typing.get_origin(tp) is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            return [str(v) for v in value]
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if tp is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: {f.name} = {value!r} is not a valid {getattr(tp, '__name__', tp)}"
        ) from None


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Add one ``--flag`` per :class:`RunConfig` field (default: not given)."""
    group = parser.add_argument_group("settings (defaults are the reference settings)")
    for f in dataclasses.fields(RunConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        tp = _base_type(f.type)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = f"{f.metadata.get('help', '')} (default: {default!r})"
        if tp is bool:
            group.add_argument(
                flag,
                dest=f"cfg_{f.name}",
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            group.add_argument(
                flag,
                dest=f"cfg_{f.name}",
                default=None,
                metavar=f.name.upper(),
                choices=f.metadata.get("choices"),
                help=help_text,
            )


def config_from_args(args: argparse.Namespace, base: dict[str, Any] | None = None) -> RunConfig:
    """Merge settings: reference defaults < ``base`` (e.g. a --config file) < CLI flags."""
    values: dict[str, Any] = dict(base or {})
    for f in dataclasses.fields(RunConfig):
        given = getattr(args, f"cfg_{f.name}", None)
        if given is not None:
            values[f.name] = given
    return RunConfig.from_dict(values, where="command line")

"""The JSON documents of run directories and grid folders, read and checked for structure.

``config.json``, ``model.json``, ``metrics.json`` and a grid's ``grid.json`` are written by
emotrans but read back from folders a user may have edited, copied half-way or replaced. Each
is read with :func:`read_json` (missing, unreadable, not UTF-8, not JSON: one line) and then
checked with the ``check_*`` functions here: every key the code reads has the type it needs,
so a damaged document is a one-line :class:`~emotrans.errors.RunDirError` naming the file and
the key (``"run/model.json: 'dims' is a list, expected an object"``), never a traceback
further on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emotrans.errors import RunDirError

Check = Callable[[Any], bool]


def read_json(file: str | Path, what: str = "document") -> Any:
    """The parsed JSON of ``file``; a one-line :class:`RunDirError` naming it when it is
    missing, unreadable, not UTF-8 or not JSON (``what`` says what it should have been)."""
    file = Path(file)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise RunDirError(f"{file}: missing ({what})") from None
    except UnicodeDecodeError as exc:
        raise RunDirError(
            f"{file}: not UTF-8 text (byte {exc.start}); expected the JSON {what}"
        ) from None
    except OSError as exc:
        raise RunDirError(f"{file}: cannot read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise RunDirError(f"{file}: not valid JSON (nested too deeply)") from None


# -- value kinds -----------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_number_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_number(x) for x in v)


KINDS: dict[str, Check] = {
    "an object": lambda v: isinstance(v, dict),
    "a list": lambda v: isinstance(v, list),
    "a string": lambda v: isinstance(v, str),
    "an integer": _is_int,
    "a number": _is_number,
    "a number or null": lambda v: v is None or _is_number(v),
    "a boolean": lambda v: isinstance(v, bool),
    "a list of strings": _is_str_list,
    "a list of numbers": _is_number_list,
    "null or a list of numbers": lambda v: v is None or _is_number_list(v),
    "null or a string": lambda v: v is None or isinstance(v, str),
}


def describe(value: Any) -> str:
    """What a JSON value is, in words: ``a list``, ``the string 'x'``, ``null``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if _is_number(value):
        return f"the number {value}"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class Document:
    """A JSON object read from ``file``, its keys checked as they are read.

    Parameters
    ----------
    data : the parsed JSON (checked to be an object)
    file : the file it came from, named in every error
    what : what the file is ("the run's model description"), for the top-level error
    """

    def __init__(self, data: Any, file: str | Path, what: str = "document") -> None:
        self.file = Path(file)
        if not isinstance(data, dict):
            raise RunDirError(f"{self.file}: {describe(data)}, expected a JSON object ({what})")
        self.data = data

    def fail(self, key: str, problem: str) -> RunDirError:
        return RunDirError(f"{self.file}: {key!r} {problem}")

    def need(self, key: str, kind: str, value: Any = None, where: str = "") -> Any:
        """The value at ``key`` (of ``value``, default the whole document; ``where`` its path),
        which must be present and of ``kind`` (a key of :data:`KINDS`)."""
        obj = self.data if value is None else value
        name = f"{where}.{key}" if where else key
        if key not in obj:
            raise self.fail(name, f"is missing; expected {kind}")
        return self.check(name, obj[key], kind)

    def may(self, key: str, kind: str, default: Any = None) -> Any:
        """The value at ``key`` when present (of ``kind``), else ``default``."""
        if key not in self.data:
            return default
        return self.check(key, self.data[key], kind)

    def check(self, name: str, value: Any, kind: str) -> Any:
        if not KINDS[kind](value):
            raise self.fail(name, f"is {describe(value)}, expected {kind}")
        return value


# -- model.json ------------------------------------------------------------------------------

TASKS = ("emotion", "sentiment")
OBJECTIVES = ("binary", "softmax")


def check_model_info(data: Any, file: str | Path) -> dict[str, Any]:
    """``model.json`` checked; returns it with ``trained_emotions`` filled in (runs written
    before it had only ``emotions``).

    Required: ``emotions`` (a non-empty list of names), ``dims`` (modality -> feature
    dimension, positive integers), ``embedding_dim`` (an integer >= 0). Optional, checked when
    present: ``model``, ``task`` (emotion, sentiment), ``objective`` (binary, softmax),
    ``single_label``, ``modalities``, ``trained_emotions``, and ``thresholds`` and
    ``logit_offsets`` (null, or one finite number per trained emotion).
    """
    doc = Document(data, file, "the run's model description")
    emotions = doc.need("emotions", "a list of strings")
    if not emotions:
        raise doc.fail("emotions", "is an empty list; expected the names the model scores")
    dims = doc.need("dims", "an object")
    if not dims:
        raise doc.fail("dims", "is empty; expected modality -> feature dimension")
    for m, d in dims.items():
        if not _is_int(d) or d <= 0:
            raise doc.fail(f"dims.{m}", f"is {describe(d)}, expected a positive integer")
    dim = doc.need("embedding_dim", "an integer")
    if dim < 0:
        raise doc.fail("embedding_dim", f"is {dim}, expected an integer >= 0")
    doc.may("model", "a string")
    doc.may("modalities", "a list of strings")
    doc.may("single_label", "a boolean")
    task = doc.may("task", "a string", "emotion")
    if task not in TASKS:
        raise doc.fail("task", f"is {task!r}, expected one of {', '.join(TASKS)}")
    objective = doc.may("objective", "null or a string")
    if objective is not None and objective not in OBJECTIVES:
        raise doc.fail("objective", f"is {objective!r}, expected one of {', '.join(OBJECTIVES)}")
    trained = doc.may("trained_emotions", "a list of strings", list(emotions))
    for key in ("thresholds", "logit_offsets"):
        values = doc.may(key, "null or a list of numbers")
        if values is None:
            continue
        if values and len(values) != len(trained):
            raise doc.fail(key, f"has {len(values)} values for {len(trained)} trained emotions")
        if not all(math.isfinite(v) for v in values):
            raise doc.fail(key, "holds a non-finite value")
    return {**data, "trained_emotions": list(trained)}


# -- config.json -----------------------------------------------------------------------------

CONFIG_REQUIRED = ("model", "modalities", "embeddings")
"""Keys every run's config.json has had: without them the model cannot be rebuilt (the other
settings fall back to their defaults, as for runs written before a setting existed)."""


def check_config(data: Any, file: str | Path) -> dict[str, Any]:
    """``config.json`` checked for structure: an object holding :data:`CONFIG_REQUIRED`.
    The values themselves are checked by :meth:`emotrans.config.RunConfig.from_dict`."""
    doc = Document(data, file, "the run's settings")
    for key in CONFIG_REQUIRED:
        doc.need(key, "a string")
    return data


# -- metrics.json ----------------------------------------------------------------------------

_SECTIONS = frozenset(
    ("splits", "per_emotion", "average", "multilabel", "argmax", "sentiment", "positives",
     "zsl", "fsl", "unseen_metrics", "seen_metrics", "before", "after", "seen_average",
     "oracle")
)  # fmt: skip
"""Keys of metrics.json whose value, where present, is an object."""

_FIGURES = frozenset(
    ("wacc", "f1", "auc", "acc", "strict", "subset", "intersect", "accuracy", "weighted_f1",
     "macro_f1", "mae", "corr", "acc7", "acc2_nonneg", "f1_nonneg", "acc2_nonzero",
     "f1_nonzero", "forgetting", "target_gain", "shots", "n", "best_epoch", "seconds")
)  # fmt: skip
"""Keys of metrics.json whose value, where present, is a number (or null: NaN)."""

_STRINGS = ("dataset", "task", "model", "modalities", "select_metric")


def check_metrics(data: Any, file: str | Path) -> dict[str, Any]:
    """``metrics.json`` checked: an object with ``splits`` (split -> object); every section
    the reports read (``per_emotion``, ``average``, ``zsl``, ``fsl``, ...) an object, every
    figure (``wacc``, ``mae``, ``forgetting``, ...) a number or null, the names of the
    dataset, task, model and modalities strings and ``emotions`` a list of strings."""
    doc = Document(data, file, "the run's metrics")
    splits = doc.need("splits", "an object")
    for name, split in splits.items():
        doc.check(f"splits.{name}", split, "an object")
    for key in _STRINGS:
        doc.may(key, "a string")
    doc.may("emotions", "a list of strings")
    _walk(doc, data, "")
    return data


def _walk(doc: Document, value: Any, where: str) -> None:
    if isinstance(value, list):
        return
    for key, item in value.items():
        name = f"{where}.{key}" if where else key
        if key in _FIGURES:
            doc.check(name, item, "a number or null")
        elif key in _SECTIONS or (where.endswith("per_emotion") and where):
            doc.check(name, item, "an object")
        if isinstance(item, dict):
            _walk(doc, item, name)


# -- grid.json -------------------------------------------------------------------------------


def check_grid(data: Any, file: str | Path) -> dict[str, Any]:
    """A grid folder's ``grid.json`` checked: ``cells`` (objects with a ``name`` and optional
    ``settings`` object), ``runs`` (objects with ``run``, a relative path inside the folder,
    ``cell`` and an integer ``seed``; ``status`` and ``error`` strings or null), ``seeds``
    (integers), ``overrides`` (an object or null), ``grid``, ``description``, ``data``
    (strings)."""
    doc = Document(data, file, "a grid's record")
    for key in ("grid", "description", "data"):
        doc.may(key, "a string")
    seeds = doc.may("seeds", "a list", [])
    for i, seed in enumerate(seeds):
        doc.check(f"seeds[{i}]", seed, "an integer")
    if data.get("overrides") is not None:
        doc.need("overrides", "an object")
    for i, cell in enumerate(doc.may("cells", "a list", [])):
        where = f"cells[{i}]"
        doc.check(where, cell, "an object")
        doc.need("name", "a string", cell, where)
        if cell.get("settings") is not None:
            doc.need("settings", "an object", cell, where)
    for i, rec in enumerate(doc.may("runs", "a list", [])):
        where = f"runs[{i}]"
        doc.check(where, rec, "an object")
        run = doc.need("run", "a string", rec, where)
        path = Path(run)
        if not run or path.is_absolute() or ".." in path.parts:
            raise doc.fail(f"{where}.run", f"is {run!r}, expected a path inside the grid folder")
        doc.need("cell", "a string", rec, where)
        doc.need("seed", "an integer", rec, where)
        for key in ("status", "error"):
            if key in rec:
                doc.need(key, "null or a string", rec, where)
    return data

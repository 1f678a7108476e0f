"""Standard folds: which videos belong to the train, valid and test splits.

CMU-MultimodalSDK datasets are split by **video**. The package ships the standard folds of
CMU-MOSI (52 / 10 / 31 videos) and CMU-MOSEI (2,250 / 300 / 678 videos), read from the
CMU-MultimodalSDK's own fold files (``cmu_mosi_std_folds.py``, ``cmu_mosei_std_folds.py`` of
``cmu-multimodal-sdk`` 0.0.6) into ``standard_folds/*.json``. A folds source is one of:

- a **name**: ``mosi`` or ``mosei`` (any case; ``cmu-mosi``, ``cmu_mosei`` too), the shipped
  folds; ``sdk`` (or ``mmsdk``) is an alias for the shipped folds of the dataset given by the
  caller (``emotrans data from-csd`` tells it from the label file);
- a **path** to an existing file:

  - JSON: ``{"train": [ids], "valid": [ids], "test": [ids]}`` (``dev``, ``val`` and
    ``validation`` are read as ``valid``; the SDK's names ``standard_train_fold`` ... too), or
    a list of three lists in the order train, valid, test;
  - the SDK's ``*_std_folds.py``: its list literals of strings assigned to
    ``standard_train_fold``, ``standard_valid_fold`` and ``standard_test_fold`` are read with
    :mod:`ast`; the file is never executed;
  - text: one video per line, either ``<split> <id>`` / ``<id> <split>`` (separated by spaces,
    a tab or a comma), or bare ids under section lines ``[train]`` / ``train:``. Blank lines
    and lines starting with ``#`` are skipped.

The rule between names and paths cannot be ambiguous: a source with no path separator and no
``.`` is a name (and must be one of the names above), anything else is a path (and must
exist). A file called ``mosi`` is passed as ``./mosi``.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

from emotrans.atomic import write_text_atomic
from emotrans.data.dataset import SPLITS
from emotrans.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

Folds = dict[str, list[str]]
"""Split name (``train``, ``valid``, ``test``) -> video ids, in the order given."""

SDK_SOURCES = ("sdk", "mmsdk")
"""Aliases for the shipped standard folds of a dataset the caller names."""

STANDARD_FOLDS: dict[str, str] = {"mosi": "CMU-MOSI", "mosei": "CMU-MOSEI"}
"""Names of the shipped standard folds -> the dataset they split."""

_NAME_ALIASES = {"mosi": "mosi", "cmu-mosi": "mosi", "mosei": "mosei", "cmu-mosei": "mosei"}
_QUOTE_CHARS = 40
_ALIASES = {
    "train": "train",
    "training": "train",
    "standard_train_fold": "train",
    "valid": "valid",
    "val": "valid",
    "dev": "valid",
    "validation": "valid",
    "standard_valid_fold": "valid",
    "test": "test",
    "testing": "test",
    "standard_test_fold": "test",
}
_SECTION = re.compile(r"^\[?\s*([A-Za-z_]+)\s*\]?\s*:?$")


def load_folds(
    source: str | Path | Mapping[str, Sequence[str]], dataset: str | None = None
) -> Folds:
    """Folds from a name (``"mosi"``, ``"mosei"``, ``"sdk"``), a file (JSON, the SDK's
    ``*_std_folds.py``, text), or a mapping already in memory.

    Parameters
    ----------
    source : see the module docstring for the rule between names and paths
    dataset : ``"mosi"`` or ``"mosei"``: what the alias ``"sdk"`` stands for; ignored otherwise

    Returns
    -------
    dict with the keys ``train``, ``valid``, ``test`` (absent ones are empty lists), each a
    list of video ids without duplicates, in the order given.

    Raises
    ------
    DataFormatError
        The file is missing or unreadable, or names an unknown split.
    ConfigError
        An unknown name, or ``"sdk"`` without a dataset.
    """
    if isinstance(source, Mapping):
        return _normalise(source, "folds")
    text_source = str(source).strip()
    if is_folds_name(text_source):
        name = text_source.lower().replace("_", "-")
        if name in SDK_SOURCES:
            if dataset is None:
                raise ConfigError(
                    f"--folds {text_source}: cannot tell which dataset's standard folds are "
                    "meant; use --folds mosi (CMU-MOSI) or --folds mosei (CMU-MOSEI)"
                )
            name = dataset
        if name not in _NAME_ALIASES:
            raise ConfigError(
                f"--folds {text_source}: not a folds name (use {', '.join(STANDARD_FOLDS)}, or "
                "a path to a folds file; write ./NAME for a file without an extension)"
            )
        return standard_folds(_NAME_ALIASES[name])
    path = Path(source)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such folds file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read the folds file ({exc})") from None
    stripped = text.lstrip()
    if path.suffix.lower() == ".py" or re.match(r"standard_(train|valid|test)_fold\s*=", stripped):
        return _normalise(_parse_python(text, path), str(path))
    if stripped.startswith(("{", "[")) and not _SECTION.match(stripped.splitlines()[0].strip()):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"{path}: folds file is not valid JSON (line {exc.lineno}: {exc.msg})"
            ) from None
        if isinstance(data, list):
            if len(data) != 3 or not all(isinstance(x, list) for x in data):
                raise DataFormatError(
                    f"{path}: a JSON list of folds must hold three lists (train, valid, test)"
                )
            data = dict(zip(SPLITS, data))
        if not isinstance(data, dict):
            raise DataFormatError(f"{path}: folds JSON must be an object or a list of 3 lists")
        return _normalise(data, str(path))
    return _normalise(_parse_text(text, path), str(path))


def is_folds_name(source: str) -> bool:
    """Whether ``source`` is read as a folds name rather than a path: it has no path
    separator and no ``.`` (so no extension)."""
    return bool(source) and not any(c in source for c in "/\\.")


def standard_folds(name: str) -> Folds:
    """The standard folds shipped with emotrans: ``"mosi"`` (CMU-MOSI, 52 / 10 / 31 videos)
    or ``"mosei"`` (CMU-MOSEI, 2,250 / 300 / 678 videos), as listed in the
    CMU-MultimodalSDK's fold files.

    Raises
    ------
    ConfigError
        Another name.
    """
    key = _NAME_ALIASES.get(name.strip().lower().replace("_", "-"))
    if key is None:
        raise ConfigError(f"no standard folds named {name!r} (use {', '.join(STANDARD_FOLDS)})")
    data = resources.files("emotrans.data").joinpath("standard_folds", f"{key}.json")
    return _normalise(json.loads(data.read_text(encoding="utf-8")), f"standard folds {key}")


def dataset_of_videos(videos: Sequence[str]) -> str | None:
    """The shipped folds (``"mosi"`` or ``"mosei"``) that hold most of ``videos``, or None
    when neither holds any."""
    wanted = set(videos)
    best: tuple[int, str] | None = None
    for name in STANDARD_FOLDS:
        hits = sum(len(wanted.intersection(ids)) for ids in standard_folds(name).values())
        if hits and (best is None or hits > best[0]):
            best = (hits, name)
    return best[1] if best else None


def fold_of(folds: Folds) -> tuple[dict[str, str], int]:
    """Video id -> split name, and how many ids appear in more than one split.

    A video listed twice goes to the first split in the order train, valid, test (what the
    SDK's ``get_tensors`` does).
    """
    owner: dict[str, str] = {}
    duplicates = 0
    for split in SPLITS:
        for video in folds.get(split, []):
            if video in owner:
                duplicates += owner[video] != split
                continue
            owner[video] = split
    return owner, duplicates


def write_folds(folds: Mapping[str, Sequence[str]], path: str | Path) -> Path:
    """Write folds as JSON (atomically); returns the path."""
    path = Path(path)
    write_text_atomic(path, json.dumps({k: list(folds.get(k, [])) for k in SPLITS}, indent=1))
    return path


def _parse_text(text: str, path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p for p in re.split(r"[\s,]+", line) if p]
        if len(parts) == 1:
            header = _SECTION.match(line)
            if header and (line.startswith("[") or line.endswith(":")):
                name = header.group(1).lower()
                if name not in _ALIASES:
                    raise DataFormatError(f"{path}:{number}: unknown split {_quote(name)}")
                section = _ALIASES[name]
                continue
            if section is None:
                raise DataFormatError(
                    f"{path}:{number}: video id {_quote(line)} before any [train]/[valid]/[test] "
                    "section (or write '<split> <id>' per line)"
                )
            out.setdefault(section, []).append(parts[0])
            continue
        if len(parts) != 2:
            raise DataFormatError(
                f"{path}:{number}: expected '<split> <video id>', got {len(parts):,} tokens "
                f"({_quote(' '.join(parts[:3]))}{' ...' if len(parts) > 3 else ''})"
            )
        first, second = parts
        if first.lower() in _ALIASES:
            split, video = _ALIASES[first.lower()], second
        elif second.lower() in _ALIASES:
            split, video = _ALIASES[second.lower()], first
        else:
            raise DataFormatError(
                f"{path}:{number}: no split name (train/valid/test) in {_quote(line)}"
            )
        out.setdefault(split, []).append(video)
    return out


def _parse_python(text: str, path: Path) -> dict[str, list[str]]:
    """The fold lists of a CMU-MultimodalSDK ``*_std_folds.py``, read with :mod:`ast` (the
    file is never executed): only ``NAME = [ "id", ... ]`` (or a tuple) at the top level, with
    NAME one of the split names (``standard_train_fold`` ...); other statements are refused."""
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise DataFormatError(
            f"{path}:{exc.lineno}: not a Python fold list (syntax error: {exc.msg})"
        ) from None
    out: dict[str, list[str]] = {}
    for node in tree.body:
        where = f"{path}:{node.lineno}"
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            raise DataFormatError(
                f"{where}: expected 'standard_<split>_fold = [...]', found a "
                f"{type(node).__name__} statement (fold files are read, never run)"
            )
        name = node.targets[0].id
        split = _ALIASES.get(name.lower())
        if split is None:
            raise DataFormatError(
                f"{where}: unknown fold {_quote(name)} (expected standard_train_fold, "
                "standard_valid_fold or standard_test_fold)"
            )
        value = node.value
        if not isinstance(value, ast.List | ast.Tuple):
            raise DataFormatError(
                f"{where}: {name} is a {type(value).__name__}, not a list of video ids"
            )
        ids: list[str] = []
        for item in value.elts:
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str)):
                shown = ast.get_source_segment(text, item) or type(item).__name__
                raise DataFormatError(
                    f"{path}:{item.lineno}: {name} holds {_quote(shown)}, not a quoted video id"
                )
            ids.append(item.value)
        out.setdefault(split, []).extend(ids)
    if not out:
        raise DataFormatError(f"{path}: no standard_<split>_fold list in the file")
    return out


def _quote(text: str) -> str:
    """``text`` quoted for a message, cut to a few tokens."""
    text = str(text)
    return repr(text if len(text) <= _QUOTE_CHARS else text[:_QUOTE_CHARS] + "...")


def _normalise(data: Mapping[str, Sequence[str]], where: str) -> Folds:
    folds: Folds = {s: [] for s in SPLITS}
    for key, ids in data.items():
        split = _ALIASES.get(str(key).strip().lower())
        if split is None:
            raise DataFormatError(
                f"{where}: unknown split {_quote(str(key))} (use train, valid/dev, test)"
            )
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
            raise DataFormatError(f"{where}: split {_quote(str(key))} must be a list of video ids")
        seen = set(folds[split])
        for video in ids:
            video = str(video)
            if video not in seen:
                seen.add(video)
                folds[split].append(video)
    if not any(folds.values()):
        raise DataFormatError(f"{where}: the folds list no video at all")
    return folds

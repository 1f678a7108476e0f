"""Standard folds: which videos belong to the train, valid and test splits.

CMU-MultimodalSDK datasets are split by **video** (CMU-MOSEI: 2,249 / 300 / 678 videos). The
folds come from a file the user passes, or from the installed CMU-MultimodalSDK package
(``mmsdk``) when it is importable:

- JSON: ``{"train": [ids], "valid": [ids], "test": [ids]}`` (``dev``, ``val`` and
  ``validation`` are read as ``valid``; the SDK's names ``standard_train_fold`` ... too), or a
  list of three lists in the order train, valid, test.
- Text: one video per line, either ``<split> <id>`` / ``<id> <split>`` (separated by spaces,
  a tab or a comma), or bare ids under section lines ``[train]`` / ``train:``. Blank lines and
  lines starting with ``#`` are skipped.
- ``"sdk"`` (or ``"mmsdk"``): ``mmsdk.mmdatasdk.cmu_mosei.standard_folds``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from emotrans.atomic import write_text_atomic
from emotrans.data.dataset import SPLITS
from emotrans.errors import ConfigError, DataFormatError

log = logging.getLogger(__name__)

Folds = dict[str, list[str]]
"""Split name (``train``, ``valid``, ``test``) -> video ids, in the order given."""

SDK_SOURCES = ("sdk", "mmsdk")
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


def load_folds(source: str | Path | Mapping[str, Sequence[str]]) -> Folds:
    """Folds from a JSON or text file, from ``"sdk"`` (the installed ``mmsdk`` package), or
    from a mapping already in memory.

    Returns
    -------
    dict with the keys ``train``, ``valid``, ``test`` (absent ones are empty lists), each a
    list of video ids without duplicates, in the order given.

    Raises
    ------
    DataFormatError
        The file is missing or unreadable, or names an unknown split.
    ConfigError
        ``"sdk"`` was asked for but the CMU-MultimodalSDK package is not installed.
    """
    if isinstance(source, Mapping):
        return _normalise(source, "folds")
    if str(source).strip().lower() in SDK_SOURCES and not Path(source).exists():
        return sdk_folds()
    path = Path(source)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such folds file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read the folds file ({exc})") from None
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")) and not _SECTION.match(stripped.splitlines()[0].strip()):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{path}: folds file is not valid JSON ({exc})") from None
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


def sdk_folds() -> Folds:
    """The CMU-MOSEI standard folds shipped in the installed CMU-MultimodalSDK (``mmsdk``)."""
    try:
        from mmsdk.mmdatasdk.dataset.standard_datasets.CMU_MOSEI import (  # type: ignore
            cmu_mosei_std_folds as std,
        )
    except Exception as exc:  # ImportError, or the SDK failing on import
        raise ConfigError(
            "--folds sdk needs the CMU-MultimodalSDK package (mmsdk), which cannot be imported "
            f"here ({type(exc).__name__}: {exc}); pass a folds file (JSON or text) instead"
        ) from None
    return _normalise(
        {
            "train": list(std.standard_train_fold),
            "valid": list(std.standard_valid_fold),
            "test": list(std.standard_test_fold),
        },
        "mmsdk standard folds",
    )


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
                    raise DataFormatError(f"{path}:{number}: unknown split {name!r}")
                section = _ALIASES[name]
                continue
            if section is None:
                raise DataFormatError(
                    f"{path}:{number}: video id {line!r} before any [train]/[valid]/[test] "
                    "section (or write '<split> <id>' per line)"
                )
            out.setdefault(section, []).append(parts[0])
            continue
        if len(parts) != 2:
            raise DataFormatError(f"{path}:{number}: expected '<split> <video id>', got {line!r}")
        first, second = parts
        if first.lower() in _ALIASES:
            split, video = _ALIASES[first.lower()], second
        elif second.lower() in _ALIASES:
            split, video = _ALIASES[second.lower()], first
        else:
            raise DataFormatError(f"{path}:{number}: no split name (train/valid/test) in {line!r}")
        out.setdefault(split, []).append(video)
    return out


def _normalise(data: Mapping[str, Sequence[str]], where: str) -> Folds:
    folds: Folds = {s: [] for s in SPLITS}
    for key, ids in data.items():
        split = _ALIASES.get(str(key).strip().lower())
        if split is None:
            raise DataFormatError(f"{where}: unknown split {key!r} (use train, valid/dev, test)")
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
            raise DataFormatError(f"{where}: split {key!r} must be a list of video ids")
        seen = set(folds[split])
        for video in ids:
            video = str(video)
            if video not in seen:
                seen.add(video)
                folds[split].append(video)
    if not any(folds.values()):
        raise DataFormatError(f"{where}: the folds list no video at all")
    return folds

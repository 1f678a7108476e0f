"""Declarative experiment grids and their expansion into runs.

A grid file is YAML::

    name: fsl-mosei                    # defaults to the file name
    description: what the grid measures
    seeds: 5                           # 5 seeds (0..4) by default, or a list [0, 1, 7]
    requires: [zsl_data]               # settings the user must supply (optional)
    base:                              # RunConfig settings shared by every cell
      model: transferable
      fsl_fraction: 0.01
    cells:
      - name: "zsl-{zsl}"              # a name template over the cell's settings
        settings:
          zsl: [anger, disgust]        # a YAML list: one cell per element
      - name: "fsl-{fsl}-{fsl_mode}"
        settings:
          fsl: [anger, disgust]        # several lists: their product (2 x 2 cells here)
          fsl_mode: [joint, finetune]
          fsl_from: "@zsl-{fsl}"       # reference: the run directory of that cell, same seed

Rules:

- In ``cells``, a list value expands into one cell per element (the Cartesian product when
  several settings are lists, in the order they are written). A list-typed setting gets one
  literal list value as a comma-separated string (``emotions: "anger,sad"``), as on the CLI.
  ``base`` is never expanded: its values are taken as they are.
- Names are ``str.format`` templates over the cell's settings (base settings included); the
  expanded names must be unique and made of letters, digits and ``. _ + , = -``.
- A string value starting with ``@`` names another cell of the grid (after formatting with
  the cell's settings). It is replaced by the absolute path of that cell's run directory for
  the same seed, and the run waits until that run is complete (it is skipped if it failed).
- ``data`` and ``seed`` are set by ``emotrans reproduce`` and may not appear in a grid file.

Each (cell, seed) becomes a :class:`RunSpec` whose run directory is
``OUT/runs/<cell>/seed-<seed>-<digest>``, ``digest`` being :meth:`RunConfig.digest` of the
run's settings (with references written as run directories relative to ``OUT``, so a grid
folder can be moved). A changed setting therefore gives a new directory and never overwrites a
run of other settings or another seed.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emotrans.config import RunConfig, read_yaml
from emotrans.errors import ConfigError
from emotrans.grids import grid_file, grid_names
from emotrans.models.registry import model_settings_fields

DEFAULT_SEEDS = 5
_RESERVED = ("data", "seed")
_NAME_RE = re.compile(r"^[A-Za-z0-9._+,=-]+$")
_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}


def _is_setting(name: str) -> bool:
    """A :class:`RunConfig` field, or a model setting given flat (``hidden_audio``; asking for
    the model settings imports the models)."""
    return name in _FIELDS or name in model_settings_fields()


@dataclass(frozen=True)
class Cell:
    """One expanded cell of a grid.

    Attributes
    ----------
    name : the expanded name (unique in the grid; the run directories' parent folder)
    settings : the cell's own settings (RunConfig keys; references still ``"@cell"``)
    refs : setting -> name of the cell it references
    """

    name: str
    settings: dict[str, Any]
    refs: dict[str, str] = field(default_factory=dict)


@dataclass
class Grid:
    """A grid file, parsed and expanded (see the module docstring)."""

    name: str
    description: str
    base: dict[str, Any]
    seeds: list[int]
    cells: list[Cell]
    requires: list[str] = field(default_factory=list)
    source: str = ""

    def cell(self, name: str) -> Cell:
        for c in self.cells:
            if c.name == name:
                return c
        raise KeyError(name)

    def ordered_cells(self) -> list[Cell]:
        """The cells with every referenced cell before the cells that reference it."""
        order: list[Cell] = []
        state: dict[str, int] = {}

        def visit(c: Cell, chain: list[str]) -> None:
            if state.get(c.name) == 2:
                return
            if state.get(c.name) == 1:
                cycle = " -> ".join([*chain[chain.index(c.name) :], c.name])
                raise ConfigError(
                    f"{self.source or self.name}: cells reference each other: {cycle}"
                )
            state[c.name] = 1
            for target in c.refs.values():
                visit(self.cell(target), [*chain, c.name])
            state[c.name] = 2
            order.append(c)

        for c in self.cells:
            visit(c, [])
        return order


@dataclass
class RunSpec:
    """One (cell, seed) of an expanded grid, ready to train.

    Attributes
    ----------
    cell, seed : which run this is
    config : the settings to train with (references resolved to absolute run directories)
    digest : :meth:`RunConfig.digest` of the settings with references relative to the grid
        folder (the run's key)
    run_id : ``runs/<cell>/seed-<seed>-<digest>``, the run directory relative to the grid folder
    path : the absolute run directory
    depends : run ids that must be complete before this run starts
    """

    cell: str
    seed: int
    config: RunConfig
    digest: str
    run_id: str
    path: Path
    depends: list[str] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------


def known_grids() -> list[str]:
    """Names of the grids shipped with emotrans."""
    return grid_names()


def resolve_grid_file(name_or_path: str | Path) -> Path:
    """The file of a shipped grid name, or ``name_or_path`` when it is an existing file.

    Raises
    ------
    ConfigError
        Neither a shipped grid nor a file; the message lists the shipped grids.
    """
    text = str(name_or_path)
    shipped = grid_file(text)
    if shipped is not None:
        return shipped
    path = Path(text).expanduser()
    if path.is_file():
        return path
    raise ConfigError(
        f"unknown grid {text!r}: choose one of {', '.join(known_grids())}, or give the path "
        "of a grid file (YAML)"
    )


def load_grid(name_or_path: str | Path) -> Grid:
    """Read and expand a grid: a shipped grid's name or the path of a grid file."""
    path = resolve_grid_file(name_or_path)
    raw = read_yaml(path)
    return parse_grid(raw, source=str(path), default_name=path.stem)


def parse_grid(raw: Any, source: str = "grid", default_name: str = "grid") -> Grid:
    """Build a :class:`Grid` from the parsed YAML mapping (see the module docstring)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a grid file is a mapping with 'base', 'seeds' and 'cells'")
    allowed = {"name", "description", "seeds", "base", "cells", "requires"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {unknown[0]!r} (a grid has {', '.join(sorted(allowed))})"
        )
    base = raw.get("base") or {}
    if not isinstance(base, dict):
        raise ConfigError(f"{source}: 'base' must be a mapping of settings")
    _check_keys(base, f"{source}: base")
    for key, value in base.items():
        if isinstance(value, str) and value.startswith("@"):
            raise ConfigError(f"{source}: base: {key} = {value!r}: references belong in cells")
    seeds = parse_seeds(raw.get("seeds", DEFAULT_SEEDS), source)
    requires = raw.get("requires") or []
    if isinstance(requires, str):
        requires = [requires]
    for key in requires:
        if not _is_setting(key):
            raise ConfigError(f"{source}: requires {key!r}, which is not a setting")
    raw_cells = raw.get("cells")
    if not isinstance(raw_cells, list) or not raw_cells:
        raise ConfigError(f"{source}: 'cells' must be a non-empty list")
    cells: list[Cell] = []
    for i, raw_cell in enumerate(raw_cells):
        cells.extend(_expand_cell(raw_cell, base, f"{source}: cell {i + 1}"))
    seen: dict[str, int] = {}
    for c in cells:
        if c.name in seen:
            raise ConfigError(
                f"{source}: two cells expand to the same name {c.name!r}; put the settings "
                "that differ into the name template"
            )
        seen[c.name] = 1
    for c in cells:
        for key, target in c.refs.items():
            if target not in seen:
                raise ConfigError(
                    f"{source}: cell {c.name!r}: {key} refers to @{target}, which is not a cell "
                    "of this grid"
                )
            if target == c.name:
                raise ConfigError(f"{source}: cell {c.name!r} refers to itself")
    grid = Grid(
        name=str(raw.get("name") or default_name),
        description=" ".join(str(raw.get("description") or "").split()),
        base=dict(base),
        seeds=seeds,
        cells=cells,
        requires=list(requires),
        source=source,
    )
    grid.ordered_cells()  # reject reference cycles now
    return grid


def parse_seeds(value: Any, where: str = "seeds") -> list[int]:
    """``5`` -> [0, 1, 2, 3, 4]; a list of integers is taken as it is."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: seeds must be a positive integer or a list of integers")
    if isinstance(value, int):
        if value <= 0:
            raise ConfigError(f"{where}: seeds = {value}: must be positive")
        return list(range(value))
    if isinstance(value, list) and value and all(isinstance(s, int) for s in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"{where}: seeds {value} repeat a seed")
        return [int(s) for s in value]
    raise ConfigError(f"{where}: seeds must be a positive integer or a list of integers")


def _check_keys(settings: dict[str, Any], where: str) -> None:
    for key in settings:
        name = str(key).replace("-", "_")
        if name in _RESERVED:
            raise ConfigError(
                f"{where}: {key!r} is set by `emotrans reproduce` (--data, --seeds), not by the grid"
            )
        if not _is_setting(name):
            raise ConfigError(f"{where}: unknown setting {key!r}")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _format(template: str, values: dict[str, Any], where: str) -> str:
    fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    for name in fields:
        if name not in values:
            raise ConfigError(f"{where}: template {template!r} uses {{{name}}}, not a setting")
    try:
        return template.format_map({k: _text(v) for k, v in values.items()})
    except (ValueError, IndexError, KeyError) as exc:
        raise ConfigError(f"{where}: bad template {template!r} ({exc})") from None


def _expand_cell(raw: Any, base: dict[str, Any], where: str) -> list[Cell]:
    if not isinstance(raw, dict) or "name" not in raw:
        raise ConfigError(f"{where}: a cell is a mapping with 'name' and 'settings'")
    unknown = sorted(set(raw) - {"name", "settings"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (a cell has 'name' and 'settings'; settings "
            "go under 'settings')"
        )
    template = str(raw["name"])
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: 'settings' must be a mapping")
    settings = {str(k).replace("-", "_"): v for k, v in settings.items()}
    _check_keys(settings, f"{where} ({template})")
    axes = []
    for key, value in settings.items():
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"{where} ({template}): {key} is an empty list")
            axes.append([(key, v) for v in value])
        else:
            axes.append([(key, value)])
    base_values = {str(k).replace("-", "_"): v for k, v in base.items()}
    cells = []
    for combo in itertools.product(*axes):
        own = dict(combo)
        values = {**base_values, **own}
        name = _format(template, values, f"{where} ({template})")
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"{where}: cell name {name!r} may only use letters, digits and . _ + , = -"
            )
        refs = {}
        for key, value in own.items():
            if isinstance(value, str) and value.startswith("@"):
                refs[key] = _format(value[1:], values, f"{where} ({template})")
        cells.append(Cell(name=name, settings=own, refs=refs))
    return cells


# -- expansion into runs ---------------------------------------------------------------------


_PATH_SETTINGS = ("zsl_data", "fsl_from")


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if path else path


def expand_runs(
    grid: Grid,
    data: str | Path,
    out: str | Path,
    seeds: list[int] | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[RunSpec]:
    """Every (cell, seed) of ``grid`` as a :class:`RunSpec`, seed-major.

    Parameters
    ----------
    grid : the grid
    data : the dataset path (made absolute)
    out : the grid folder; run directories go to ``out/runs/<cell>/seed-<s>-<digest>``
    seeds : seeds to run (default: the grid's)
    overrides : settings applied on top of ``base`` for every cell (``--set``). A setting
        that some cell sets itself cannot be overridden: it is what the grid varies.

    Returns
    -------
    list of RunSpec, all cells of the first seed (referenced cells first), then the next seed.
    """
    out = Path(out).expanduser().resolve()
    overrides = {str(k).replace("-", "_"): v for k, v in (overrides or {}).items()}
    where = "--set"
    _check_keys(overrides, where)
    varied = {k for c in grid.cells for k in c.settings}
    for key in overrides:
        if key in varied:
            raise ConfigError(
                f"--set {key}: the cells of grid {grid.name!r} set {key} themselves (it is what "
                "the grid varies); copy the grid file and edit it instead"
            )
    seeds = list(grid.seeds if seeds is None else seeds)
    base = {str(k).replace("-", "_"): v for k, v in grid.base.items()}
    base.update(overrides)
    base["data"] = _absolute(str(data))
    for key in _PATH_SETTINGS:
        if isinstance(base.get(key), str) and not base[key].startswith("@"):
            base[key] = _absolute(base[key])
    missing = [k for k in grid.requires if not base.get(k)]
    if missing:
        flags = ", ".join(f"--{k.replace('_', '-')} PATH" for k in missing)
        raise ConfigError(f"grid {grid.name!r} needs {', '.join(missing)}: pass {flags}")
    order = grid.ordered_cells()
    runs: list[RunSpec] = []
    for seed in seeds:
        by_cell: dict[str, RunSpec] = {}
        for cell in order:
            values = {**base, **cell.settings, "seed": seed}
            keyed = dict(values)
            depends = []
            for key, target in cell.refs.items():
                dep = by_cell[target]
                values[key] = str(dep.path)
                keyed[key] = dep.run_id
                depends.append(dep.run_id)
            for key in _PATH_SETTINGS:
                if key not in cell.refs and isinstance(values.get(key), str):
                    values[key] = keyed[key] = _absolute(values[key])
            label = f"{grid.source or grid.name}: cell {cell.name}"
            config = RunConfig.from_dict(values, where=label)
            digest = RunConfig.from_dict(keyed, where=label).digest()
            run_id = f"runs/{cell.name}/seed-{seed}-{digest}"
            spec = RunSpec(
                cell=cell.name,
                seed=seed,
                config=config,
                digest=digest,
                run_id=run_id,
                path=out / run_id,
                depends=depends,
            )
            by_cell[cell.name] = spec
            runs.append(spec)
    return runs


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["epochs=2", "batch_size=16"]`` -> ``{"epochs": "2", "batch_size": "16"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set epochs=2")
        if not _is_setting(key):
            raise ConfigError(f"--set {item!r}: unknown setting {key!r}")
        out[key] = value.strip()
    return out

"""The experiment grids shipped with emotrans, one declarative YAML file per grid.

``emotrans reproduce NAME`` runs the grid ``NAME.yaml`` of this folder; a path to a YAML file
of the same shape runs a grid of the user's own. The format is described in
:mod:`emotrans.experiments.grid`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def grid_names() -> list[str]:
    """Names of the shipped grids, sorted."""
    folder = resources.files(__name__)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def grid_file(name: str) -> Path | None:
    """The file of the shipped grid ``name``, or None when there is no such grid."""
    if name not in grid_names():
        return None
    return Path(str(resources.files(__name__) / f"{name}.yaml"))


__all__ = ["grid_file", "grid_names"]

"""The package's import graph keeps the layers of docs/design.md ("Data flow and layers"):
imports point down, never up, never in a circle, never into another package's private names,
and sit at the top of modules unless they defer a heavy library (torch, sentence-transformers,
matplotlib, media).

The graph is read from the source with :mod:`ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "emotrans"

# Rank of each unit (a top-level module or subpackage of emotrans); a unit may import only
# units of a lower or equal rank. The root package is the public facade above everything.
LAYERS: dict[str, int] = {
    "errors": 0,
    "version": 0,
    "atomic": 0,
    "lazy": 0,
    "modalities": 0,
    "unpickle": 0,
    "limits": 0,
    "npz": 0,
    "metrics": 0,
    "config": 0,
    "grids": 0,
    "data": 1,
    "embeddings": 1,
    "media": 2,
    "models": 2,
    "training": 3,
    "experiments": 4,
    "recognizer": 4,
    "serve": 5,
    "cli": 6,
    "__main__": 7,
    "": 8,  # emotrans/__init__.py: the public API
}

HEAVY_LIBRARIES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "matplotlib",
    "opensmile",
    "mediapipe",
    "cv2",
    "ray",
    "fastapi",
    "uvicorn",
    "pocketsphinx",
)


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. "emotrans.training.pipeline"
    target: str  # imported module, e.g. "emotrans.data.dataset"
    names: tuple[str, ...]  # names taken from it (empty for `import x`)
    top_level: bool
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_package(module: str) -> bool:
    return (SRC.parent / Path(*module.split(".")) / "__init__.py").is_file()


def _resolve(module: str, imported: str, name: str) -> str:
    """``from imported import name``: the module meant (a submodule when ``name`` is one)."""
    candidate = f"{imported}.{name}"
    if (SRC.parent / Path(*candidate.split("."))).with_suffix(".py").is_file() or _is_package(
        candidate
    ):
        return candidate
    return imported


def _walk_top(tree: ast.Module):
    """Top-level statements, including those inside module-level ``if``/``try`` blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If | ast.Try):
            for block in (
                node.body,
                node.orelse,
                getattr(node, "handlers", []),
                node.finalbody if isinstance(node, ast.Try) else [],
            ):
                for child in block:
                    stack.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])


def _graph() -> tuple[dict[str, list[Edge]], dict[str, set[str]]]:
    edges: dict[str, list[Edge]] = {}
    external_top: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_nodes = {id(n) for n in _walk_top(tree)}
        type_checking = set()
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.If)
                and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"
            ):
                type_checking.update(id(c) for c in ast.walk(node))
        out: list[Edge] = []
        ext: set[str] = set()
        package = module if _is_package(module) else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in type_checking:
                continue  # annotations only: never executed
            top = id(node) in top_nodes
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("emotrans"):
                        out.append(Edge(module, alias.name, (), top, node.lineno))
                    elif top:
                        ext.add(alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    imported = ".".join(base + ([node.module] if node.module else []))
                else:
                    imported = node.module or ""
                if not imported.startswith("emotrans"):
                    if top and imported:
                        ext.add(imported.split(".")[0])
                    continue
                for alias in node.names:
                    target = _resolve(module, imported, alias.name)
                    names = () if target != imported else (alias.name,)
                    out.append(Edge(module, target, names, top, node.lineno))
        edges[module] = out
        external_top[module] = ext
    return edges, external_top


EDGES, EXTERNAL = _graph()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _heavy_modules() -> set[str]:
    heavy = {m for m, libs in EXTERNAL.items() if libs & set(HEAVY_LIBRARIES)}
    changed = True
    while changed:
        changed = False
        for module, out in EDGES.items():
            if module not in heavy and any(e.top_level and e.target in heavy for e in out):
                heavy.add(module)
                changed = True
    return heavy


def _all_edges() -> list[Edge]:
    return [e for out in EDGES.values() for e in out if e.target != e.source]


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in EDGES}
    assert units <= set(LAYERS), f"add these to LAYERS (and docs/design.md): {units - set(LAYERS)}"


def test_no_import_points_up():
    upward = [
        f"{e.source}:{e.line} imports {e.target} ({_unit(e.source) or 'emotrans'} is below "
        f"{_unit(e.target) or 'emotrans'})"
        for e in _all_edges()
        if LAYERS[_unit(e.source)] < LAYERS[_unit(e.target)]
    ]
    assert not upward, "\n".join(upward)


def test_nothing_imports_the_root_package():
    offenders = [f"{e.source}:{e.line}" for e in _all_edges() if e.target == "emotrans"]
    assert not offenders, "import from the defining module instead: " + ", ".join(offenders)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_module_cycle():
    graph: dict[str, set[str]] = {}
    for e in _all_edges():
        # a package importing its own submodules (re-exports) is not a dependency cycle
        if e.target.startswith(e.source + "."):
            continue
        graph.setdefault(e.source, set()).add(e.target)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_cycle_between_units():
    graph: dict[str, set[str]] = {}
    for e in _all_edges():
        a, b = _unit(e.source), _unit(e.target)
        if a != b and a:
            graph.setdefault(a, set()).add(b)
    cycle = _find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_no_private_name_across_units():
    offenders = []
    for e in _all_edges():
        if _unit(e.source) == _unit(e.target):
            continue
        private_module = any(p.startswith("_") for p in e.target.split(".")[1:])
        private_names = [n for n in e.names if n.startswith("_") and n != "__version__"]
        if private_module or private_names:
            offenders.append(f"{e.source}:{e.line} takes {e.target} {private_names or ''}")
    assert not offenders, "\n".join(offenders)


def test_deferred_imports_only_defer_heavy_modules():
    heavy = _heavy_modules()
    light = [
        f"{e.source}:{e.line} imports {e.target} inside a function; move it to the top"
        for e in _all_edges()
        if not e.top_level and e.target not in heavy and _unit(e.source) != ""
    ]
    assert not light, "\n".join(light)


@pytest.mark.parametrize("unit", ["errors", "config", "data", "embeddings", "metrics"])
def test_light_layers_do_not_import_torch_at_import_time(unit):
    heavy = _heavy_modules()
    offenders = sorted(m for m in heavy if _unit(m) == unit)
    assert not offenders, f"{offenders} import a heavy library at module level"

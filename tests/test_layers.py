"""The package's layers, checked on its source: the table in docs/architecture.md is the rule.

Every module under src/stash_sense is parsed (nothing is imported) and each of its imports,
absolute or relative, at module level, inside functions or under ``TYPE_CHECKING``, is mapped
to the layer it names. A layer may import only itself and the layers its row lists, and those
must sit on lower levels, so the order is strict; the import graph between layers, and between
modules, must have no cycle; and only cli/ and devtools/ itself may import devtools/.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "src" / "stash_sense"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
PACKAGE = "stash_sense"
DEVTOOLS_USERS = {"cli", "devtools"}
EVERY_LOWER_LAYER = "every lower layer"


@dataclass(frozen=True, slots=True)
class Layer:
    name: str  # "faces", "config", or "stash_sense" for the package's own __init__
    level: int
    may_import: frozenset[str] | None  # None: every layer on a lower level


@dataclass(frozen=True, slots=True)
class Edge:
    module: str  # the importing module, e.g. "stash_sense.scenes.engine"
    line: int
    target: str  # the module (or package) imported


def _layer_name(cell: str) -> str:
    return cell.strip().strip("`").removesuffix("/").removesuffix(".py")


def parse_layers(text: str) -> dict[str, Layer]:
    """The rows of the table whose header starts ``| Level | Layer |``."""
    layers: dict[str, Layer] = {}
    in_table = False
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        if cells[:2] == ["Level", "Layer"]:
            in_table = True
            continue
        if not in_table or set(cells[0]) <= set("-: "):
            continue
        level, name, may = int(cells[0]), _layer_name(cells[1]), cells[-1]
        if may == "nothing":
            allowed: frozenset[str] | None = frozenset()
        elif may == EVERY_LOWER_LAYER:
            allowed = None
        else:
            allowed = frozenset(_layer_name(n) for n in re.findall(r"`([^`]+)`", may))
        assert name not in layers, f"layer {name} has two rows in {ARCHITECTURE.name}"
        layers[name] = Layer(name, level, allowed)
    assert layers, f"no '| Level | Layer |' table in {ARCHITECTURE}"
    return layers


@cache
def layers() -> dict[str, Layer]:
    return parse_layers(ARCHITECTURE.read_text(encoding="utf-8"))


@cache
def source_modules() -> dict[str, Path]:
    """Every module (and package) in the source tree by dotted name."""
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    for folder in PACKAGE_DIR.rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__":
            modules.setdefault(".".join(folder.relative_to(PACKAGE_DIR.parent).parts), folder)
    return modules


def _resolve(base: str, name: str) -> str:
    """``from base import name``: the submodule when ``name`` is one, else ``base`` itself."""
    candidate = f"{base}.{name}" if base else name
    return candidate if candidate in source_modules() else base


def imports_of(module: str, source: str) -> list[Edge]:
    """Every import of the package's own modules in ``source`` (the text of ``module``)."""
    is_package = source_modules()[module].name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    edges: list[Edge] = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                if node.module:
                    base = f"{base}.{node.module}"
            else:
                base = node.module or ""
            targets = [_resolve(base, alias.name) for alias in node.names]
        edges += [Edge(module, node.lineno, t) for t in targets if t == PACKAGE or t.startswith(PACKAGE + ".")]
    return edges


@cache
def all_edges() -> tuple[Edge, ...]:
    edges: list[Edge] = []
    for module, path in source_modules().items():
        if path.suffix == ".py":
            edges += imports_of(module, path.read_text(encoding="utf-8"))
    return tuple(edges)


def layer_of(module: str) -> str:
    """``stash_sense.scenes.engine`` -> ``scenes``; the package's own ``__init__`` -> ``stash_sense``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def _where(edge: Edge) -> str:
    path = source_modules()[edge.module]
    return f"{path.relative_to(ROOT)}:{edge.line} imports {edge.target}"


def layer_violations(edges: tuple[Edge, ...] | list[Edge], table: dict[str, Layer]) -> list[str]:
    """Imports of a layer that is not below the importer, or not on its row's list."""
    bad = []
    for edge in edges:
        src, dst = table[layer_of(edge.module)], table[layer_of(edge.target)]
        if src.name == dst.name:
            continue
        if dst.level >= src.level:
            bad.append(f"{_where(edge)}: {src.name} (level {src.level}) may not import {dst.name} (level {dst.level})")
        elif src.may_import is not None and dst.name not in src.may_import:
            bad.append(f"{_where(edge)}: {dst.name} is not among the layers {src.name} may import ({ARCHITECTURE.name})")
    return bad


def devtools_violations(edges: tuple[Edge, ...] | list[Edge]) -> list[str]:
    return [
        f"{_where(e)}: only {', '.join(sorted(DEVTOOLS_USERS))} may import devtools"
        for e in edges
        if layer_of(e.target) == "devtools" and layer_of(e.module) not in DEVTOOLS_USERS
    ]


def layer_cycles(edges: tuple[Edge, ...] | list[Edge]) -> list[list[str]]:
    """Cycles in the graph of imports between layers (each as its layers, in import order)."""
    return find_cycles((layer_of(e.module), layer_of(e.target)) for e in edges)


def find_cycles(pairs: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Cycles of a directed graph given as (from, to) pairs; a pair (x, x) is no cycle."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in pairs:
        if a != b:
            graph[a].add(b)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


# -- the rules ------------------------------------------------------------------------------------


def test_every_module_belongs_to_a_layer_of_the_table() -> None:
    found = {layer_of(m) for m in source_modules()}
    assert not found - set(layers()), f"add these to the table in {ARCHITECTURE.name}: {sorted(found - set(layers()))}"
    assert not set(layers()) - found, f"{ARCHITECTURE.name} lists layers the source does not have: {sorted(set(layers()) - found)}"


def test_each_layer_may_import_only_lower_layers() -> None:
    table = layers()
    for layer in table.values():
        for name in layer.may_import or ():
            assert name in table, f"{layer.name} may import {name!r}, which is no layer"
            assert table[name].level < layer.level, f"{layer.name} (level {layer.level}) lists {name} (level {table[name].level})"


def test_no_module_imports_a_higher_layer() -> None:
    assert all_edges(), "no imports found: is the source tree where this test looks?"
    bad = layer_violations(all_edges(), layers())
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_only_cli_and_devtools_import_devtools() -> None:
    bad = devtools_violations(all_edges())
    assert not bad, "\n".join(bad)


def test_no_package_cycle() -> None:
    cycles = layer_cycles(all_edges())
    assert not cycles, "import cycles between layers: " + "; ".join(" -> ".join(c) for c in cycles)


def test_no_module_cycle() -> None:
    # Inside a layer too: two modules that import each other (even lazily) are one module in
    # two files; move what both need into a third.
    cycles = find_cycles((e.module, e.target) for e in all_edges())
    assert not cycles, "import cycles between modules: " + "; ".join(" -> ".join(c) for c in cycles)


# -- the checker itself ---------------------------------------------------------------------------


TOY_TABLE = """
| Level | Layer | Holds | May import |
|---|---|---|---|
| 0 | `config.py` | settings | nothing |
| 1 | `faces/` | pure ML | `config.py` |
| 2 | `matching/` | matching | `faces/` |
| 3 | `stash/` | client | every lower layer |
| 4 | `api/` | the API | every lower layer |
| 5 | `devtools/` | tools | every lower layer |
"""


def test_the_table_is_read_as_written() -> None:
    table = parse_layers(TOY_TABLE)
    assert table["config"] == Layer("config", 0, frozenset())
    assert table["matching"] == Layer("matching", 2, frozenset({"faces"}))
    assert table["api"] == Layer("api", 4, None)


def test_the_checker_sees_every_kind_of_import_and_each_breach() -> None:
    # Relative and absolute, inside a function and under TYPE_CHECKING: each is one edge.
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ..faces import catalog\n"
        "from . import gallery\n"
        "from .. import config\n"
        "import stash_sense.stash.client\n"
        "if TYPE_CHECKING:\n"
        "    from stash_sense.api.app import create_app\n"
        "def f():\n"
        "    from ..devtools.emulator import create_app\n"
    )
    edges = imports_of("stash_sense.matching.calibration", source)
    assert sorted(e.target for e in edges) == [
        "stash_sense.api.app",
        "stash_sense.config",
        "stash_sense.devtools.emulator",
        "stash_sense.faces.catalog",
        "stash_sense.matching.gallery",
        "stash_sense.stash.client",
    ]
    # config is lower but not on matching's row; stash, api and devtools are higher.
    bad = layer_violations(edges, parse_layers(TOY_TABLE))
    assert [b.split(": ", 1)[0].rsplit(" ", 1)[1] for b in bad] == [
        "stash_sense.config", "stash_sense.stash.client", "stash_sense.api.app", "stash_sense.devtools.emulator",
    ]
    assert len(devtools_violations(edges)) == 1
    assert not layer_cycles(edges)
    assert layer_cycles([*edges, Edge("stash_sense.faces.embed", 1, "stash_sense.matching")]) == [["faces", "matching", "faces"]]

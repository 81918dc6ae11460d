"""The shape of the package, read from its source with ``ast``: no import loops, no hidden imports
inside functions, and the layers in order (faces -> narrate -> counterfactual -> analysis ->
engine -> scenario).

Imports under ``if TYPE_CHECKING:`` are not run, so they are not edges of the import graph (a
module may name for the type checker a type whose module imports it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

import kremlinology

PACKAGE = Path(kremlinology.__file__).parent
ROOT = PACKAGE.parent

LAZY_LIBRARIES = {
    "dask": "the Dask cluster's settings, loaded only with --cluster (with distributed)",
    "distributed": "the Dask cluster, loaded only with --cluster",
    "matplotlib": "plotting, loaded only when a chart is drawn",
    "pandas": "DataFrames, loaded only when a result is asked for one",
    "scipy": "special functions, loaded only by scenarios with beta or truncated-normal priors",
    "sklearn": "clustering, loaded only when families of timelines are formed",
    "threadpoolctl": "thread limits around scikit-learn's clustering",
    "uvicorn": "the web server, loaded only by `kremlinology serve`",
}
"""Heavy third-party libraries that may be imported inside a function, and why."""

LAZY_MODULES = {
    ("kremlinology", "kremlinology.api"): "the package root re-exports the API on first use, so "
    "that importing any subpackage (which imports the root first) stays cheap",
    ("kremlinology.cli.web", "kremlinology.web.app"): "the web app imports FastAPI and Jinja2 "
    "(a quarter of a second); only `serve` needs it, so the other commands start without them",
}
"""Imports of the package's own modules inside a function: (importing module, imported module)."""

LEAVES = {
    "kremlinology.months",
    "kremlinology.version",
    "kremlinology.defaults",
    "kremlinology.limits",
    "kremlinology.processes",
}
"""Modules every layer may import: they import nothing of the package but one another."""

LAYERS: dict[str, set[str]] = {
    # layer: the layers (and leaves) its modules may import
    "__main__": {"cli"},
    "scenario": {"scenario", "leaf"},
    "engine": {"engine", "scenario", "leaf"},
    "analysis": {"analysis", "engine", "scenario", "leaf"},
    "counterfactual": {"counterfactual", "analysis", "engine", "scenario", "leaf"},
    "narrate": {"narrate", "counterfactual", "analysis", "scenario", "leaf"},
    "api": {"api", "narrate", "counterfactual", "analysis", "engine", "scenario", "leaf"},
    "web": {"web", "api", "narrate", "counterfactual", "analysis", "engine", "scenario", "leaf"},
    "cli": {
        "cli",
        "web",
        "api",
        "narrate",
        "counterfactual",
        "analysis",
        "engine",
        "scenario",
        "leaf",
    },
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, where it stands and whether it runs."""

    source: str  # importing module
    target: str  # imported module (the longest known module prefix for our own)
    line: int
    in_function: bool
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def own_module(name: str) -> str | None:
    """The package module ``name`` refers to (a name inside a module resolves to the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, base] if base else parts)
    return [f"{base}.{alias.name}" for alias in node.names]


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(module: str, path: Path) -> list[Import]:
    """Every import in a module's source, with its context."""
    found: list[Import] = []
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            function = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            typing = type_only or _is_type_checking(child)
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module, is_package):
                    resolved = own_module(target) if target.startswith("kremlinology") else None
                    name = resolved or target
                    if name != module:
                        found.append(Import(module, name, child.lineno, in_function, type_only))
            visit(child, function, typing)

    visit(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


ALL_IMPORTS = [i for module, path in MODULES.items() for i in imports_of(module, path)]


def runtime_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for item in ALL_IMPORTS:
        if not item.type_only and item.target in MODULES:
            graph[item.source].add(item.target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def layer_of(module: str) -> str | None:
    if module in LEAVES:
        return "leaf"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


# -- the checks themselves -------------------------------------------------------------------


def test_the_walk_sees_the_whole_package() -> None:
    """Guard against a walk that finds nothing (and so passes everything)."""
    assert {"kremlinology.cli", "kremlinology.engine.vector", "kremlinology.web.app"} <= set(
        MODULES
    )
    assert len(ALL_IMPORTS) > 200
    graph = runtime_graph()
    assert "kremlinology.engine.simulate" in graph["kremlinology.counterfactual.twin"]


def test_the_cycle_finder_finds_a_planted_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_loops() -> None:
    assert find_cycle(runtime_graph()) is None


def test_no_imports_inside_functions_but_the_documented_lazy_ones() -> None:
    hidden = []
    for item in ALL_IMPORTS:
        if not item.in_function:
            continue
        top = item.target.split(".")[0]
        if top in LAZY_LIBRARIES or (item.source, item.target) in LAZY_MODULES:
            continue
        hidden.append(f"{item.source}:{item.line} imports {item.target} inside a function")
    assert hidden == []


def test_lazy_imports_of_heavy_libraries_stay_lazy() -> None:
    """A documented lazy library is never imported at the top of a module (or it is not lazy)."""
    eager = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in ALL_IMPORTS
        if i.target.split(".")[0] in LAZY_LIBRARIES and not i.in_function and not i.type_only
    ]
    assert eager == []


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_import_only_what_is_below_them(layer: str) -> None:
    wrong = []
    for item in ALL_IMPORTS:
        if layer_of(item.source) != layer or item.type_only or item.target not in MODULES:
            continue
        target = layer_of(item.target)
        if target is not None and target not in LAYERS[layer]:
            wrong.append(f"{item.source}:{item.line} imports {item.target}")
    assert wrong == []


def test_leaves_import_nothing_of_the_package_but_leaves() -> None:
    for leaf in LEAVES:
        found = {i.target for i in ALL_IMPORTS if i.source == leaf and i.target in MODULES}
        assert found <= LEAVES, leaf


def test_the_engine_knows_nothing_of_why_it_runs() -> None:
    """Spelled out from the layer table: the engine imports no counterfactual, analysis, narrate
    or face module, and analysis imports neither the counterfactual layer nor a face."""
    for item in ALL_IMPORTS:
        source, target = layer_of(item.source), layer_of(item.target)
        if source == "engine":
            assert target not in {"counterfactual", "analysis", "narrate", "api", "web", "cli"}
        if source == "analysis":
            assert target not in {"counterfactual", "narrate", "api", "web", "cli"}, item
        if source == "narrate" and not item.type_only:
            assert target != "engine", item


def test_the_core_never_imports_the_command_line() -> None:
    users = {i.source for i in ALL_IMPORTS if layer_of(i.target) == "cli"}
    assert {layer_of(u) for u in users} <= {"cli", "__main__"}


def public_functions_without_docstring() -> list[str]:
    """Public module functions and methods of public classes that lack a docstring."""
    missing: list[str] = []

    def visit(node: ast.AST, prefix: str, module: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not child.name.startswith("_") and ast.get_docstring(child) is None:
                    missing.append(f"{module}:{child.lineno} {prefix}{child.name}")
            elif isinstance(child, ast.ClassDef) and not child.name.startswith("_"):
                visit(child, f"{prefix}{child.name}.", module)

    for module, path in MODULES.items():
        visit(ast.parse(path.read_text(encoding="utf-8")), "", module)
    return missing


def test_every_public_function_states_its_contract() -> None:
    assert public_functions_without_docstring() == []

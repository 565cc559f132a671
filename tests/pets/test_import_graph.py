"""pets/ imports form no cycle, and no function imports a project module.

Read from the source with ``ast`` (nothing is imported), so a cycle that only closes inside a
function, where Python would tolerate it at run time, is caught too.
"""
from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PETS_DIR = Path(__file__).resolve().parents[2] / "pets"
PROJECT_PACKAGES = {"core", "competition", "features", "models", "ensembling", "submissions", "pets"}


def module_name(path: Path, package: str) -> str:
    return package if path.stem == "__init__" else f"{package}.{path.stem}"


def imported_modules(node: ast.Import | ast.ImportFrom, package: str, submodules: set[str]) -> list[str]:
    """The modules an import statement loads; ``from pets import cv`` names the submodule ``pets.cv``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from . import x, from .x import y
        base = f"{package}.{base}" if base else package
    names = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in submodules]
    return names or [base]


def import_graph(folder: Path, package: str) -> tuple[dict[str, set[str]], list[str]]:
    """(module -> the package's modules it imports, anywhere in the file; function-level imports
    of project modules as ``"module:line: import"``)."""
    paths = sorted(folder.glob("*.py"))
    submodules = {module_name(p, package) for p in paths}
    graph: dict[str, set[str]] = {}
    in_function: list[str] = []
    for path in paths:
        name = module_name(path, package)
        tree = ast.parse(path.read_text(), filename=str(path))
        graph[name] = set()
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
        nested = {id(n) for f in functions for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = imported_modules(node, package, submodules)
            graph[name] |= {t for t in targets if t in submodules and t != name}
            if id(node) in nested and any(t.split(".")[0] in PROJECT_PACKAGES for t in targets):
                in_function.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return graph, in_function


def assert_acyclic(graph: dict[str, set[str]]) -> list[str]:
    """A dependency order (each module after the ones it imports); fails with the cycle."""
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        # graphlib lists the cycle from importer to imported backwards
        pytest.fail(f"import cycle: {' -> '.join(reversed(err.args[1]))}")


def test_pets_imports_form_no_cycle():
    graph, _ = import_graph(PETS_DIR, "pets")
    order = assert_acyclic(graph)
    # Not vacuous: the modules and the edges the layering rests on are seen.
    assert {"pets.config", "pets.classifier", "pets.train", "pets.plots", "pets.heatmap"} <= set(graph)
    assert {"pets.classifier", "pets.plots", "pets.probe"} <= graph["pets.train"]
    assert order.index("pets.config") < order.index("pets.classifier") < order.index("pets.train")


def test_pets_has_no_function_level_project_import():
    _, in_function = import_graph(PETS_DIR, "pets")
    assert in_function == [], "import these at the top of the module:\n" + "\n".join(in_function)


def test_the_checks_catch_a_cycle_and_a_function_level_import(tmp_path):
    # A package of three modules: a -> b at the top, b -> c at the top, c -> a inside a function.
    pkg = tmp_path / "pets"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pets.b import B\n")
    (pkg / "b.py").write_text("from pets import c\nB = 1\n")
    (pkg / "c.py").write_text("import numpy\n\ndef f():\n    from pets.a import A  # noqa\n    import json\n")
    graph, in_function = import_graph(pkg, "pets")
    assert graph == {"pets": set(), "pets.a": {"pets.b"}, "pets.b": {"pets.c"}, "pets.c": {"pets.a"}}
    assert in_function == ["pets.c:4: from pets.a import A"]
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        assert_acyclic(graph)

"""The project's import graph: no cycle, and no project module imported inside a function.

A cycle only loads when some import hides inside a function (pets had one), and such an import also hides a
dependency from the reader, so both are checked here over every package's source (with ``ast``,
without importing anything). ``ruff``'s PLC0415 (``make lint``) covers third-party imports.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "competition", "features", "models", "ensembling", "submissions", "pets", "experiments")
# Measurement tools (ablations, member curves, candidate families) that `make submit` never runs.
EXPERIMENTS = "experiments"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imported(node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The project modules an import statement loads (``from a import b`` loads ``a.b`` if a module).

    ``from a import b`` with ``a.b`` a module depends on ``a.b`` alone, like ``import a.b``: the
    submodule is loaded even while ``a``'s ``__init__`` is still running. Any other name comes
    from ``a`` itself, which is then a dependency.
    """
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level or node.module is None:
            return []
        names = [f"{node.module}.{alias.name}" for alias in node.names]
        if not all(n in modules for n in names):
            names.append(node.module)
    return sorted({n for n in names if n in modules})


def import_graph(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """``(module-level edges, function-level project imports as "module:line target")``."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    inside: list[str] = []
    names = set(modules)
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        nested = {id(n) for f in functions for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets = [t for t in imported(node, names) if t != mod]
                if id(node) in nested:
                    inside += [f"{mod}:{node.lineno} {t}" for t in targets]
                else:
                    edges[mod].update(targets)
    return edges, inside


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t not in state and (cycle := visit(t)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def test_the_project_import_graph_has_no_cycle() -> None:
    edges, _ = import_graph(project_modules())
    assert len(edges) > 50
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_no_project_module_is_imported_inside_a_function() -> None:
    _, inside = import_graph(project_modules())
    assert inside == [], "import these at the top of the module:\n" + "\n".join(inside)


def test_the_product_never_imports_the_experiments() -> None:
    """``experiments/`` may use the product; no product module may load it, directly or through
    another module, so what ``make submit`` runs holds no experiment code."""
    modules = project_modules()
    edges, _ = import_graph(modules)
    assert any(m.startswith(EXPERIMENTS + ".") for m in modules)
    product = [m for m in modules if m.split(".")[0] != EXPERIMENTS]
    bad = sorted(f"{m} loads {t}" for m in product for t in loaded_by(m, edges) if t.split(".")[0] == EXPERIMENTS)
    assert bad == [], "move the code the product needs out of experiments/:\n" + "\n".join(bad)


def commands(modules: dict[str, Path]) -> list[str]:
    """The modules run as ``python -m <module>`` (those with a ``__main__`` block)."""
    return [m for m, p in modules.items() if 'if __name__ == "__main__"' in p.read_text()]


def loaded_by(start: str, edges: dict[str, set[str]]) -> set[str]:
    """Every module that importing ``start`` loads at module level (``start`` included)."""
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += sorted(edges.get(m, ()))
    return seen


def test_no_package_imports_its_own_commands() -> None:
    """``python -m a.b`` imports the package ``a`` first; if ``a``'s public API (its ``__init__``)
    already loaded ``a.b``, the command runs a second copy of it and Python warns."""
    modules = project_modules()
    edges, _ = import_graph(modules)
    bad = []
    for command in commands(modules):
        parts = command.split(".")
        parents = [".".join(parts[:i]) for i in range(1, len(parts))]
        bad += [f"{parent} loads {command}" for parent in parents if command in loaded_by(parent, edges)]
    assert bad == [], "a package's __init__ may not load a module run with python -m:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, expected", [
    ({"a": "import b\n", "b": "from a import x\n"}, ["a", "b", "a"]),
    ({"a": "import b\n", "b": "x = 1\n"}, None),
    # A package's __init__ re-exporting from its modules: a module that takes a sibling module
    # through the package is no cycle, one that takes a name defined in the __init__ is.
    ({"p": "from p.q import f\n", "p.q": "from p import r\n", "p.r": "x = 1\n"}, None),
    ({"p": "from p.q import f\n", "p.q": "from p import VALUE\n"}, ["p", "p.q", "p"]),
])
def test_find_cycle_finds_a_planted_cycle(tmp_path: Path, source: dict[str, str], expected: list[str] | None
                                          ) -> None:
    paths = {}
    for name, text in source.items():
        (tmp_path / f"{name}.py").write_text(text)
        paths[name] = tmp_path / f"{name}.py"
    edges = {m: set() for m in paths}
    for m, p in paths.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges[m].update(imported(node, set(paths)))
    assert find_cycle(edges) == expected

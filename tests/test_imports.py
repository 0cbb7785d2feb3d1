"""segkit's imports: no private name crosses a package, and no package needs itself back.

Read from the source (ast), not by importing: a package is ``segkit.<name>``
(``segkit.features``, ``segkit.spark``, ...), a top-level module its own
package (``segkit.errors``, ``segkit.api``). A name starting with one
underscore is private to the package that defines it; one that must be shared
gets a public name (and a docstring) in the module that owns it.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "segkit"

def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _package(module: str) -> str:
    """``segkit.features.run`` -> ``segkit.features``; ``segkit.errors`` -> itself."""
    return ".".join(module.split(".")[:2])


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The module an ``from ... import`` reads, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, *, top_level_only: bool) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` of segkit imports in a module.

    ``top_level_only``: the imports that run when the module is imported (not
    inside functions, nor under ``if TYPE_CHECKING``).
    """
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    nodes: list[ast.stmt] = []

    def visit(body) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                nodes.append(node)
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody,
                             *(h.body for h in node.handlers)):
                    visit(part)
            elif isinstance(node, (ast.With, ast.For, ast.While)):
                visit(node.body)

    if top_level_only:
        visit(tree.body)
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "segkit"]
        else:
            source = _absolute(module, node)
            if source.split(".")[0] == "segkit":
                found += [(source, a.name, node.lineno) for a in node.names]
    return found


def _targets(importer: str, source: str, name: str | None) -> list[str]:
    """The segkit modules an import loads: the module, its parent packages (but the
    importer's own, loaded before it), and a submodule imported by name. Not
    ``segkit`` itself: Python loads it before any of its modules."""
    parts = source.split(".")
    own = importer.split(".")
    ancestors = {".".join(own[:i]) for i in range(1, len(own))}
    loaded = [".".join(parts[:i]) for i in range(2, len(parts) + 1)]
    loaded = [m for m in loaded if m not in ancestors or m == source]
    if name is not None and f"{source}.{name}" in MODULES:
        loaded.append(f"{source}.{name}")
    return [m for m in loaded if m in MODULES and m != "segkit"]


def _private_uses(module: str) -> set[str]:
    """Private names of another package this module imports or reads off a module."""
    here = _package(module)
    found = set()
    bound: dict[str, str] = {}  # local name -> segkit module it is bound to
    for source, name, _ in _imports(module, top_level_only=False):
        if name is None:
            continue
        full = f"{source}.{name}"
        if full in MODULES:
            bound[name] = full
        where = full if full in MODULES else source
        if _package(where) == here or where == "segkit":
            continue
        if _private(name) or any(_private(p) for p in source.split(".")):
            found.add(full)
    # module.attribute.._private: a private name reached through an imported module
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _private(node.attr)):
            continue
        chain, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in bound:
            owner = ".".join([bound[inner.id], *reversed(chain[1:])])
            if _package(owner) != here:
                found.add(f"{owner}.{node.attr}")
    return found


def test_no_private_name_crosses_a_package():
    uses = sorted((str(MODULES[m].relative_to(REPO)), name)
                  for m in MODULES for name in _private_uses(m))
    assert not uses, (
        "private names used from another package (give them a public name, with a "
        f"docstring, in the module that defines them): {uses}")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _graph(*, top_level_only: bool, packages: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module in MODULES:
        node = _package(module) if packages else module
        graph[node]
        for source, name, _ in _imports(module, top_level_only=top_level_only):
            for target in _targets(module, source, name):
                other = _package(target) if packages else target
                if other != node:
                    graph[node].add(other)
    return graph


def test_modules_import_without_a_cycle():
    """What runs on import: no module needs, through others, a module that needs it."""
    assert _cycles(_graph(top_level_only=True, packages=False)) == []


@pytest.mark.parametrize("top_level_only", [True, False], ids=["on import", "any import"])
def test_packages_depend_without_a_cycle(top_level_only):
    """Packages form layers: none imports, even inside a function, one that imports it
    (the pipeline uses the engines; no engine uses the pipeline)."""
    assert _cycles(_graph(top_level_only=top_level_only, packages=True)) == []


def test_the_walk_sees_what_it_checks(tmp_path, monkeypatch):
    """The checks above are not vacuous: the walk finds known imports, and a private
    name taken from another package, however it is reached."""
    sequence = {s for s, _, _ in _imports("segkit.pipeline.sequence", top_level_only=True)}
    assert {"segkit.engines", "segkit.pipeline.publish"} <= sequence
    graph = _graph(top_level_only=False, packages=True)
    assert "segkit.engines" in graph["segkit.pipeline"]
    assert "segkit.spark" in graph["segkit.pipeline"]  # the Spark engine, imported when asked
    assert "segkit.engines" in graph["segkit.spark"]
    probe = tmp_path / "probe.py"
    probe.write_text("from segkit.model.tsne import _sample\n"
                     "from segkit import project\n"
                     "def f():\n"
                     "    from ..features import context\n"
                     "    return project._hidden, context._levels\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "segkit.spark.probe", probe)
    assert _private_uses("segkit.spark.probe") == {
        "segkit.model.tsne._sample", "segkit.project._hidden",
        "segkit.features.context._levels"}


def test_no_module_is_over_400_code_lines():
    """Docstrings, comments and blank lines aside."""
    long = {}
    for module, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        docstrings = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)) and ast.get_docstring(node) is not None:
                first = node.body[0]
                docstrings.update(range(first.lineno, first.end_lineno + 1))
        code = [line for n, line in enumerate(source.splitlines(), 1)
                if n not in docstrings and line.strip() and not line.strip().startswith("#")]
        if len(code) > 400:
            long[module] = len(code)
    assert not long, f"modules over 400 code lines: {long}"

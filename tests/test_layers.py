"""The layering contract of the package, read from the source's own imports.

Bottom to top, the tree is the path of the data::

    0 base      errors, hookspecs, sections, sources, sinks, http, render, plugins, testing, results, formatting
    1 spec      YAML with locations, schema, sections, checks -> a typed Project
    2 sql       compiler, periods, funnel SQL
    3 run       engine, history, runs
    4 analysis  funnels, explain, root cause
    5 alerting  rules, state, routing, outbox
    6 dashboard
    7 cli
    8 facades   kpiengine.loader, kpiengine.engine: stable paths for scripts; nothing inside imports them

A module imports only its own layer and the layers below it; the import graph
has no cycle; no module takes another module's ``_private`` name; an import
inside a function is there only to keep start-up fast or a dependency
optional, and says so with a ``# lazy:`` comment; the built-in plugins use
only the public plugin API (layer 0). This test is the contract: when it fails,
move the code to the layer it belongs to instead of loosening the test.
"""
from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kpiengine"
PLUGINS = REPO / "plugins"

BASE = {"errors", "hookspecs", "sections", "sources", "sinks", "http", "render", "plugins", "testing", "results",
        "formatting"}
LAYERS = {"spec": 1, "sql": 2, "run": 3, "analysis": 4, "alerting": 5, "dashboard": 6, "cli": 7}
FACADES = {"loader", "engine"}
FACADE_LAYER = 8


def layer_of(module: str) -> int:
    parts = module.split(".")
    if parts == ["kpiengine"]:
        return 0
    head = parts[1]
    if head in BASE:
        return 0
    if head in LAYERS:
        return LAYERS[head]
    if head in FACADES:
        return FACADE_LAYER
    raise AssertionError(f"module {module} belongs to no layer: put it in a layer package or add it to BASE "
                         "in tests/test_layers.py (and docs/architecture.md)")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module
    names: tuple[str, ...]
    line: int
    inner: bool  # inside a function body
    justified: bool  # a "# lazy:" comment explains an inner import


def module_name(path: Path, root: Path, package: str) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join([package, *parts]), is_package


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _justified(lines: list[str], node: ast.stmt) -> bool:
    start = node.lineno - 1
    while start > 0 and lines[start - 1].lstrip().startswith(("from ", "import ")):
        start -= 1
    block = lines[max(0, start - 1): node.end_lineno]
    return any("# lazy:" in line for line in block)


def imports_of(path: Path, root: Path, package: str, known: set[str]) -> list[Import]:
    source, is_package = module_name(path, root, package)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` and try/except at module level are still module level
        if isinstance(node, (ast.If, ast.Try)):
            top_level.update(id(child) for child in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(source, is_package, node.level, node.module) if node.level else (node.module or "")
            names = tuple(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            target, names = node.names[0].name, ()
        else:
            continue
        if not target.startswith(("kpiengine", "kpiengine_plugins")):
            continue
        inner = id(node) not in top_level
        justified = inner and _justified(lines, node)
        # `from pkg import submodule` imports the submodule
        modules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known] or [target]
        for mod in modules:
            found.append(Import(source, mod, names, node.lineno, inner, justified))
    return found


def _all_modules(root: Path, package: str) -> dict[str, Path]:
    return {module_name(p, root, package)[0]: p for p in root.rglob("*.py")}


MODULES = _all_modules(PACKAGE, "kpiengine")
PLUGIN_MODULES = _all_modules(PLUGINS, "kpiengine_plugins")
IMPORTS = [imp for path in MODULES.values() for imp in imports_of(path, PACKAGE, "kpiengine", set(MODULES))]


def _where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(REPO)}:{imp.line}"


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_point_down_only():
    upward = [f"{_where(i)}: {i.source} (layer {layer_of(i.source)}) imports {i.target} (layer {layer_of(i.target)})"
              for i in IMPORTS if i.target.startswith("kpiengine.") or i.target == "kpiengine"
              if layer_of(i.target) > layer_of(i.source)]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_nothing_inside_imports_the_facades():
    users = [f"{_where(i)}: {i.source} imports the facade {i.target}" for i in IMPORTS
             if layer_of(i.target) == FACADE_LAYER]
    assert not users, "\n".join(users)


def test_the_core_never_imports_the_builtin_plugins():
    users = [f"{_where(i)}: {i.target}" for i in IMPORTS if i.target.startswith("kpiengine_plugins")]
    assert not users, "\n".join(users)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.target in graph and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_private_names_across_modules():
    private = [f"{_where(i)}: {i.source} imports {', '.join(n for n in i.names if _private(n))} from {i.target}"
               for i in IMPORTS if any(_private(n) for n in i.names)]
    assert not private, "give shared helpers public names:\n" + "\n".join(private)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_imports_inside_functions_say_why():
    unexplained = [f"{_where(i)}: {i.source} imports {i.target} inside a function" for i in IMPORTS
                   if i.inner and not i.justified]
    assert not unexplained, ("move these imports to the top of the module, or say with `# lazy: <why>` that "
                             "they keep start-up fast or a dependency optional:\n" + "\n".join(unexplained))


@pytest.mark.parametrize("module", sorted(PLUGIN_MODULES))
def test_builtin_plugins_use_only_the_plugin_api(module):
    path = PLUGIN_MODULES[module]
    used = imports_of(path, PLUGINS, "kpiengine_plugins", set(MODULES) | set(PLUGIN_MODULES))
    beyond = [f"{path.relative_to(REPO)}:{i.line}: {i.target}" for i in used
              if i.target.startswith("kpiengine.") and layer_of(i.target) != 0]
    assert not beyond, "a plugin imports only the public API (layer 0):\n" + "\n".join(beyond)


def test_every_package_is_installed():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert packages <= listed, f"add to [tool.setuptools] packages: {sorted(packages - listed)}"


def test_every_module_explains_why_it_exists():
    silent = [str(p.relative_to(REPO)) for p in MODULES.values()
              if p.stat().st_size and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not silent, "add a module docstring saying why the module exists:\n" + "\n".join(silent)


def test_the_architecture_page_names_every_layer():
    page = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [name for name in LAYERS if not re.search(rf"kpiengine/{name}/", page)]
    assert not missing, f"docs/architecture.md does not describe: {missing}"

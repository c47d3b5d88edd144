"""The Co-Branded UI package's layout: every module says what it holds, none imports another that imports
it back (directly or in a chain, type-checking imports included)."""

from __future__ import annotations

import ast
import graphlib
import importlib
import pkgutil
from importlib.resources import files

import fpscore.processor.cbui as cbui


def _cbui_imports(module: str) -> set[str]:
    """The modules of the package that `module` imports, wherever in its source the import stands."""
    tree = ast.parse(files(cbui).joinpath(f"{module.rpartition('.')[2]}.py").read_text())
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            named |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
    return {name for name in named if name.startswith(f"{cbui.__name__}.")}


def test_cbui_modules_have_docstrings_and_no_import_cycle():
    modules = [f"{cbui.__name__}.{info.name}" for info in pkgutil.iter_modules(cbui.__path__)]
    names = {module.rpartition(".")[2] for module in modules}
    assert names == {"request", "state", "pages", "controller", "round_trips"}
    graph = {}
    for module in modules:
        assert (importlib.import_module(module).__doc__ or "").strip(), module
        graph[module] = _cbui_imports(module) & set(modules)
    order = list(graphlib.TopologicalSorter(graph).static_order())  # CycleError on a cycle
    assert order[-1] == f"{cbui.__name__}.controller"  # the controller uses the rest; nothing uses it


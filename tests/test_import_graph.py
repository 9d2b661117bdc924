"""The layering, checked on the source: tasks → services → selectors → models, and a pure engine.

Read from the modules' ASTs (nothing is imported), so a function-level import
counts as much as a top-level one: hiding an import inside a function does not
hide a cycle from this test. ``if TYPE_CHECKING:`` blocks are annotations only
and do not count.
"""

import ast
from pathlib import Path

import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

ROOT = Path(__file__).resolve().parent.parent
#: Layers that must import no cases module inside a function: such an import only ever dodged a cycle.
NO_LOCAL_IMPORTS = ("cases.services", "cases.selectors", "cases.tasks", "cases.ownership")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in (ROOT / "cases").rglob("*.py") if "migrations" not in path.parts}


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(module: str) -> list[tuple[str, bool]]:
    """``(imported module, inside a function)`` for every runtime import statement of ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            local = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, local) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in child.names:
                    submodule = f"{base}.{alias.name}"
                    found.append((submodule if submodule in MODULES else base, local))
            visit(child, local)

    visit(ast.parse(path.read_text()), False)
    return found


def _cases_imports(module: str) -> set[str]:
    return {target for target, _local in _imports(module) if target in MODULES and target != module}


def _layer(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    names = sorted(set(edges) | {target for targets in edges.values() for target in targets})
    index = {name: i for i, name in enumerate(names)}
    rows = [index[a] for a, targets in edges.items() for _b in targets]
    cols = [index[b] for targets in edges.values() for b in targets]
    matrix = csr_matrix(([1] * len(rows), (rows, cols)), shape=(len(names), len(names)))
    count, labels = connected_components(matrix, directed=True, connection="strong")
    groups = [[name for name in names if labels[index[name]] == label] for label in range(count)]
    return [group for group in groups if len(group) > 1]


def test_no_services_module_imports_tasks():
    offenders = {
        module: sorted(target for target in _cases_imports(module) if _layer(target) == "cases.tasks")
        for module in MODULES
        if _layer(module) == "cases.services"
    }
    assert {module: targets for module, targets in offenders.items() if targets} == {}


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("cases.selectors", {"cases.services", "cases.tasks", "cases.admin", "cases.api"}),
        ("cases.models", {"cases.services", "cases.selectors", "cases.tasks", "cases.admin", "cases.api"}),
    ],
)
def test_reads_and_models_do_not_import_upwards(layer, forbidden):
    upward = {
        module: sorted(target for target in _cases_imports(module) if _layer(target) in forbidden)
        for module in MODULES
        if _layer(module) == layer
    }
    assert {module: targets for module, targets in upward.items() if targets} == {}


def test_the_engine_imports_nothing_of_django_or_the_rest_of_cases():
    outside = {
        module: sorted(
            target
            for target, _local in _imports(module)
            if target.split(".")[0] == "django" or (target.startswith("cases") and _layer(target) != "cases.ownership")
        )
        for module in MODULES
        if _layer(module) == "cases.ownership"
    }
    assert {module: targets for module, targets in outside.items() if targets} == {}


def test_no_import_cycle_among_cases_packages_or_modules():
    by_module = {module: _cases_imports(module) for module in MODULES}
    by_layer: dict[str, set[str]] = {}
    for module, targets in by_module.items():
        by_layer.setdefault(_layer(module), set()).update(
            _layer(target) for target in targets if _layer(target) != _layer(module)
        )
    # A package imports its own modules (``__init__`` re-exports); only module-to-module edges count.
    modules_only = {
        module: {target for target in targets if MODULES[target].name != "__init__.py"}
        for module, targets in by_module.items()
    }
    assert _cycles(by_layer) == []
    assert _cycles(modules_only) == []


def test_the_lower_layers_import_cases_modules_only_at_module_level():
    local = sorted(
        f"{module} imports {target}"
        for module in MODULES
        if _layer(module) in NO_LOCAL_IMPORTS
        for target, in_function in _imports(module)
        if in_function and target.startswith("cases")
    )
    assert local == []

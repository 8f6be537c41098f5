"""The two layers of dashboard/, checked by reading every module's imports (ast), not by running them.

- engine/ (contract, loading, SQL, metric tables, statistics) imports nothing of dashboard outside
  engine/: no review product, no page, no Streamlit helper.
- review/ (weekly review, report, KPIs, trends, …) imports the engine's public names only (no
  `_private` name), and of the rest of dashboard only the pure helpers charts/formatting/memo.
- Neither imports streamlit; no import cycle among dashboard's modules (imports inside functions
  count too: a lazy import that runs back up is still a cycle in the design).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dashboard"
# Pure helpers (no Streamlit) that the review products may use to draw and word a report.
REVIEW_MAY_USE = ("dashboard.engine", "dashboard.review", "dashboard.charts", "dashboard.formatting",
                  "dashboard.memo")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module imported, names taken from it, line) for every import statement in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import (the layer rules read absolute ones)"
            found.append((node.module, tuple(alias.name for alias in node.names), node.lineno))
    return found


def dashboard_targets(module: str, names: tuple[str, ...]) -> list[str]:
    """The dashboard modules an import statement loads (`from pkg import mod` loads pkg.mod)."""
    if not (module == "dashboard" or module.startswith("dashboard.")):
        return []
    targets = [f"{module}.{name}" for name in names if f"{module}.{name}" in MODULES]
    return targets or [module]


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def test_the_layer_rule_reads_imports_inside_functions_too():
    # A lazy import in a function is found as well as a top-level one (the rules would miss it otherwise).
    found = [m for m, _, _ in imports_of(PACKAGE / "engine" / "families.py")]
    assert "dashboard.engine.metrics.off_policy" in found  # imported inside _off_policy_family()


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) == "engine"])
def test_engine_imports_only_the_engine(module):
    wrong = [f"line {line}: {imported}" for imported, names, line in imports_of(MODULES[module])
             for target in dashboard_targets(imported, names) if not target.startswith("dashboard.engine")]
    wrong += [f"line {line}: {imported}" for imported, _, line in imports_of(MODULES[module])
              if imported.split(".")[0] == "streamlit"]
    assert not wrong, f"{module} reaches outside the engine: {wrong}"


@pytest.mark.parametrize("module", [m for m in MODULES if layer_of(m) == "review"])
def test_review_reads_only_public_engine_names(module):
    wrong = []
    for imported, names, line in imports_of(MODULES[module]):
        if imported.split(".")[0] == "streamlit":
            wrong.append(f"line {line}: streamlit")
        for target in dashboard_targets(imported, names):
            if not target.startswith(REVIEW_MAY_USE):
                wrong.append(f"line {line}: {target}")
        if imported.startswith("dashboard.engine"):
            wrong += [f"line {line}: {imported}.{name} is private" for name in names if name.startswith("_")]
    wrong += private_attributes_of_engine_modules(MODULES[module])
    assert not wrong, f"{module} breaks the review layer's rules: {wrong}"


def private_attributes_of_engine_modules(path: Path) -> list[str]:
    """`stats._helper`: a private name reached through an imported engine module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    engine_modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dashboard.engine"):
            engine_modules |= {alias.asname or alias.name for alias in node.names
                               if f"{node.module}.{alias.name}" in MODULES}
        elif isinstance(node, ast.Import):
            engine_modules |= {alias.asname for alias in node.names
                               if alias.asname and alias.name.startswith("dashboard.engine")}
    return [f"line {node.lineno}: {node.value.id}.{node.attr} is private" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id in engine_modules and node.attr.startswith("_") and not node.attr.startswith("__")]


def test_a_private_name_reached_through_an_engine_module_is_found(tmp_path):
    # The bug this pins: experiment_health called stats._sp.chdtrc (scipy.special, private to stats).
    planted = tmp_path / "planted.py"
    planted.write_text("from dashboard.engine import stats\n\ndef f(x):\n    return stats._sp.ndtr(x)\n")
    assert private_attributes_of_engine_modules(planted) == ["line 4: stats._sp is private"]


def import_graph() -> dict[str, set[str]]:
    return {module: {target for imported, names, _ in imports_of(path)
                     for target in dashboard_targets(imported, names) if target != module}
            for module, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_dashboard():
    # A package's __init__ importing its own submodules is the usual package shape, not a cycle
    # of the design; the graph leaves out an import of a module by its own package.
    graph = {module: {t for t in targets if not t.startswith(module + ".")}
             for module, targets in import_graph().items()}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_no_streamlit_in_the_pure_helpers():
    for module in ("dashboard.charts", "dashboard.formatting", "dashboard.memo"):
        assert not [m for m, _, _ in imports_of(MODULES[module]) if m.split(".")[0] == "streamlit"], module

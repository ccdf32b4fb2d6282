"""The import graph: no cycles between project modules (imports inside functions count), and
layers point one way. Run alone for a report: `python -m pytest tests/test_architecture.py -q`
or `python tests/test_architecture.py` (prints the package graph and any violation)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lower layers never import higher ones. Packages on one layer do not import each other.
LAYERS: dict[str, int] = {
    "config": 0,
    "store": 1, "prompts": 1,
    "agent": 2,
    "tools": 3,
    "service": 4,
    "evals": 5, "reports": 5,
    "slack_app": 6,
    "api": 7,
    # The benchmark (outside the wheel) drives a real server; `hitl bench` runs it from a checkout.
    "bench": 8,
    "hitl": 9,
}


def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports, at any depth (inside functions too), except
    under `if TYPE_CHECKING:` (never executed)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                resolved = resolve(target)
                if resolved and resolved != name:
                    graph[name].add(resolved)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
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
                    found.append(sorted(component))
    return found


def back_arrows(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = source.split(".")[0], target.split(".")[0]
            if a != b and LAYERS[b] >= LAYERS[a]:
                wrong.append(f"{source} -> {target} ({a} is layer {LAYERS[a]}, "
                             f"{b} is layer {LAYERS[b]})")
    return wrong


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_layers_point_one_way() -> None:
    assert back_arrows(import_graph()) == []


def test_no_source_file_over_400_lines() -> None:
    """Product code and tests alike: a file past 400 lines is doing more than one thing."""
    files = [*modules().values(), *sorted((ROOT / "tests").rglob("*.py"))]
    long = {str(p.relative_to(ROOT)): n for p in files
            if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def imports_of_test_modules() -> dict[str, list[str]]:
    """tests/ file -> the test_*.py modules it imports (absolute or relative, at any depth)."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        package = path.relative_to(ROOT).parent.parts
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join([*package[:len(package) - node.level + 1], node.module or ""]
                                if node.level else [node.module or ""]).strip(".")
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                parts = name.split(".")
                target = ROOT.joinpath(*parts).with_suffix(".py")
                if parts[-1].startswith("test_") and target.is_file() and target != path:
                    found.setdefault(str(path.relative_to(ROOT)), []).append(name)
    return found


def test_no_test_module_imports_another() -> None:
    """Shared fixtures live in a conftest.py, shared helpers in a module not named test_*: a
    test module imported by another would have its tests collected twice (issue 14)."""
    assert imports_of_test_modules() == {}


if __name__ == "__main__":
    g = import_graph()
    packages: dict[str, set[str]] = defaultdict(set)
    for s, ts in g.items():
        for t in ts:
            if s.split(".")[0] != t.split(".")[0]:
                packages[s.split(".")[0]].add(t.split(".")[0])
    for p in sorted(packages, key=lambda p: LAYERS[p]):
        print(f"{p} -> {', '.join(sorted(packages[p], key=lambda q: LAYERS[q]))}")
    for c in cycles(g):
        print("cycle:", " <-> ".join(c))
    for w in back_arrows(g):
        print("back-arrow:", w)
    sys.exit(1 if cycles(g) or back_arrows(g) else 0)

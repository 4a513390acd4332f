"""The layout holds: imports flow one way between the packages, the module graph has no circle, and
modules stay small. Read from the source with `ast` (module-level and function-level imports, and
those under `TYPE_CHECKING`), so a lazy import inside a function cannot slip past."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flight_gateway", "auth")

# The service layer, under its package once it exists and under its loose names until they move.
SERVICE = ("flight_gateway.service", "flight_gateway.execution", "flight_gateway.detached", "flight_gateway.streaming")
PROTOCOL = ("flight_gateway.protocol",)
ENGINES = ("flight_gateway.engines",)
# The engine contract (StatementKind, StatementShape) is the one engines module policy may read.
ENGINE_CONTRACT = ("flight_gateway.engines.base",)

# (who, may not import, except): `flight_gateway.app` covers the module and the package it becomes.
RULES: list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = [
    (ENGINES, (*PROTOCOL, *SERVICE, "flight_gateway.app", "flight_gateway.cli"), ()),
    (SERVICE, PROTOCOL, ()),
    (("flight_gateway.jobs", "flight_gateway.offload"), (*PROTOCOL, *ENGINES), ()),
    (("flight_gateway.policy",), (*PROTOCOL, *ENGINES, *SERVICE), ENGINE_CONTRACT),
    (("auth",), ("flight_gateway",), ()),
]

MAX_LINES = 300
# Modules over MAX_LINES today, with their size: they may shrink, not grow. Generated `*_pb2.py`
# are exempt.
OVERSIZED = {
    "flight_gateway/jobs/dynamodb.py": 306,
    "flight_gateway/policy/pg_classify.py": 308,
}


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@cache
def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package)."""
    found = {}
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _imports(name: str, source: str, is_package: bool, known: dict[str, tuple[Path, bool]]) -> set[str]:
    """The project modules `name` imports anywhere in its source (a name imported from a package
    counts as its submodule when there is one)."""
    package = name if is_package else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets += [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
    edges = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


@cache
def import_graph() -> dict[str, frozenset[str]]:
    known = _modules()
    return {name: frozenset(_imports(name, path.read_text(), pkg, known)) for name, (path, pkg) in known.items()}


def cycles(graph: dict[str, frozenset[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
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
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_the_graph_sees_every_kind_of_import() -> None:
    assert len(import_graph()) > 100, "too few modules found"
    source = "import x.y\nfrom . import z\ndef f():\n    from .w import v\nif TYPE_CHECKING:\n    from q import r\n"
    known = {m: (Path(), False) for m in ("x.y", "p.z", "p.w", "q", "p.m")}
    assert _imports("p.m", source, False, known) == {"x.y", "p.z", "p.w", "q"}
    graph = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}


@pytest.mark.parametrize(("who", "forbidden", "allowed"), RULES, ids=lambda v: "+".join(v) if v else "-")
def test_imports_flow_one_way(who: tuple[str, ...], forbidden: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    graph = import_graph()
    assert any(_under(m, who) for m in graph), f"no module under {who}: fix the rule"
    leaks = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _under(module, who)
        for target in targets
        if _under(target, forbidden) and not _under(target, allowed)
    )
    assert not leaks, "\n".join(leaks)


def test_the_import_graph_has_no_circle() -> None:
    found = sorted(sorted(c) for c in cycles(import_graph()))
    assert not found, f"import circles (break them with a Protocol or by moving the shared part down): {found}"


def test_modules_stay_small() -> None:
    problems = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name.endswith("_pb2.py"):
                continue
            rel = path.relative_to(ROOT).as_posix()
            lines = len(path.read_text().splitlines())
            limit = OVERSIZED.get(rel, MAX_LINES)
            if lines > limit:
                problems.append(f"{rel}: {lines} lines (at most {limit}); split it by job")
    assert not problems, "\n".join(problems)

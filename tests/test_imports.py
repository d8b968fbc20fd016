"""Layers point down (STYLE.md rule 1): no import cycle between gridgov modules — imports
inside functions count, a cycle hidden there is still a cycle — and domain/ stays free of
Prefect, SQL and HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "gridgov"


def _modules() -> dict[str, Path]:
    out = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(path: Path) -> set[str]:
    """Every module named by an import in ``path`` (outside ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_import_cycles() -> None:
    mods = _modules()
    graph = {m: {d for d in _imports(p) if d in mods and d != m} for m, p in mods.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append([*path[path.index(d) :], d])
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    # A package's __init__ importing its own submodules is not a cycle of behaviour.
    cycles = [c for c in cycles if not all(x.startswith(c[0] + ".") for x in c[1:-1])]
    assert cycles == []


def test_domain_imports_no_framework() -> None:
    banned = ("prefect", "sqlalchemy", "fastapi", "httpx", "starlette")
    for name, path in _modules().items():
        if name.startswith("gridgov.domain"):
            bad = {i for i in _imports(path) if i.split(".")[0] in banned}
            assert not bad, (name, bad)

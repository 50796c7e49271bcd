"""One convention per concept, checked on the source: the engine is free of Flask, and views never commit."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "atomicseats"
VIEWS = ("api", "web", "host", "admin")


def _modules(*packages: str) -> list[tuple[str, ast.Module]]:
    return [
        (str(path.relative_to(ROOT.parent)), ast.parse(path.read_text()))
        for package in packages
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


def test_the_engine_imports_no_flask_and_takes_no_request_parameter():
    found = []
    for name, tree in _modules("booking"):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                found += [f"{name}: imports {m}" for m in modules if m.split(".")[0] in ("flask", "flask_mail")]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                found += [f"{name}: {node.name}(request)" for a in arguments if a.arg == "request"]
    assert found == []


def test_views_never_commit_or_roll_back_services_own_their_transactions():
    found = [
        f"{name}:{node.lineno}"
        for name, tree in _modules(*VIEWS)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("commit", "rollback")
    ]
    assert found == []

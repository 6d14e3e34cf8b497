"""Imports point one way: consumers → destinations → schemas; schemas use the stdlib only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"consumers", "destinations", "schemas"}
FORBIDDEN = {"schemas": {"consumers", "destinations"}, "destinations": {"consumers"}, "consumers": set()}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_layers_import_only_downwards() -> None:
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        for path in (ROOT / layer).rglob("*.py"):
            bad = imported_top_levels(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert violations == []


def test_schemas_use_only_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"schemas", "__future__"}
    violations = []
    for path in (ROOT / "schemas").rglob("*.py"):
        extra = imported_top_levels(path) - allowed
        if extra:
            violations.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert violations == []

"""Import rules over the whole import graph (every import statement, top level or inside a function).

Layers, outermost first; a module imports its own layer or the ones below it, never one above:

    entry points   consumers.kinesis, consumers.api, consumers.campaign_hook, consumers.segment_import,
                   consumers.refresh_sweep_handler, consumers.cli (the ``pue`` command and its modules)
    bootstrap      consumers.bootstrap: the one place adapters are built and wired to ports
    application    consumers.stream, .runners, .web, .engagement, .onboarding
    config         consumers.config: settings, secrets, logging
    adapters       destinations.aws, .segment, .local
    ports          destinations.ports and the helpers the adapters share
    schemas        stdlib only

No entry point imports another one, no adapter package imports a sibling adapter package, and there is no
import cycle anywhere (a circle through lazy imports is still a circle: it only moves the failure to run
time).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("consumers", "destinations", "schemas")

ENTRY_POINTS = (
    "consumers.kinesis",
    "consumers.api",
    "consumers.campaign_hook",
    "consumers.segment_import",
    "consumers.refresh_sweep_handler",
    "consumers.cli",
)
APPLICATION = (
    "consumers.stream",
    "consumers.runners",
    "consumers.web",
    "consumers.engagement",
    "consumers.onboarding",
)
# (layer name, module prefixes), outermost first.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry points", ENTRY_POINTS),
    ("bootstrap", ("consumers.bootstrap",)),
    ("application", APPLICATION),
    ("config", ("consumers.config",)),
    ("adapters", ("destinations.aws", "destinations.segment", "destinations.local")),
    ("ports", ("destinations",)),
    ("schemas", ("schemas",)),
)
PACKAGE_ROOTS = ("consumers", "destinations", "schemas")  # their __init__ holds nothing but a docstring
ADAPTER_PACKAGES = ("destinations.aws", "destinations.segment", "destinations.local")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for top in PROJECT for p in sorted((root / top).rglob("*.py"))}


def _belongs(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[tuple[int, str]]:
    """(line, imported project module) for every import in the file, resolved to the deepest module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules and "." in target:
                target = target.rpartition(".")[0]  # `import a.b.c` or a name inside a module
            if target.split(".")[0] in PROJECT:
                yield node.lineno, target


def import_graph(root: Path = ROOT) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, project modules only."""
    modules = project_modules(root)
    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges: dict[str, int] = {}
        for line, target in imports_of(module, path, modules):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def cycles(graph: Mapping[str, Mapping[str, int]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as one circle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def layer_of(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(_belongs(module, prefix) for prefix in prefixes):
            return rank
    return None


def entry_point_of(module: str) -> str | None:
    return next((entry for entry in ENTRY_POINTS if _belongs(module, entry)), None)


def adapter_package_of(module: str) -> str | None:
    return next((package for package in ADAPTER_PACKAGES if _belongs(module, package)), None)


def rule_violations(graph: Mapping[str, Mapping[str, int]]) -> list[str]:
    problems = []
    for module, edges in sorted(graph.items()):
        rank = layer_of(module)
        for target, line in sorted(edges.items()):
            where = f"{module}:{line} imports {target}"
            if target in PACKAGE_ROOTS:
                continue
            target_rank = layer_of(target)
            if rank is None or target_rank is None:
                continue  # reported by test_every_module_has_a_layer
            if target_rank < rank:
                problems.append(f"{where}: {LAYERS[rank][0]} may not import {LAYERS[target_rank][0]}")
            entry, target_entry = entry_point_of(module), entry_point_of(target)
            if entry and target_entry and entry != target_entry:
                problems.append(f"{where}: an entry point may not import another entry point")
            adapter, target_adapter = adapter_package_of(module), adapter_package_of(target)
            if adapter and target_adapter and adapter != target_adapter:
                problems.append(f"{where}: an adapter package may not import a sibling adapter package")
    return problems


def test_there_is_no_import_cycle_anywhere() -> None:
    assert cycles(import_graph()) == []


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in import_graph() if layer_of(m) is None and m not in PACKAGE_ROOTS]
    assert unplaced == [], "place each module in a layer (tests/unit/test_layering.py LAYERS)"


def test_imports_point_inwards_and_entry_points_stay_apart() -> None:
    assert rule_violations(import_graph()) == []


def test_the_checks_catch_a_circle_a_backward_import_and_a_sibling_entry_point(tmp_path: Path) -> None:
    """The rules above fail on the kinds of import this project has had (issue 16): API <-> CLI, bootstrap
    <-> its engagement half, the CLI importing the Kinesis entry point for a helper."""
    files = {
        "consumers/__init__.py": "",
        "consumers/cli/__init__.py": "from consumers.web.routes import Api\nimport consumers.kinesis\n",
        "consumers/kinesis.py": "",
        "consumers/web/__init__.py": "",
        "consumers/web/routes.py": "def f():\n    from consumers.cli import main\n",
        "consumers/bootstrap/__init__.py": "",
        "consumers/bootstrap/stream.py": "from consumers.bootstrap import engagement\n",
        "consumers/bootstrap/engagement.py": "from .stream import wire\n",
        "destinations/__init__.py": "",
        "destinations/aws/__init__.py": "",
        "destinations/aws/x.py": "from destinations.local.y import z\n",
        "destinations/local/__init__.py": "",
        "destinations/local/y.py": "",
        "schemas/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [
        ["consumers.bootstrap.engagement", "consumers.bootstrap.stream"],
        ["consumers.cli", "consumers.web.routes"],
    ]
    assert rule_violations(graph) == [
        "consumers.cli:2 imports consumers.kinesis: an entry point may not import another entry point",
        "consumers.web.routes:2 imports consumers.cli: application may not import entry points",
        "destinations.aws.x:1 imports destinations.local.y: an adapter package may not import a sibling "
        "adapter package",
    ]


CLOUD_SDKS = {"boto3", "botocore", "requests", "segment", "cheroot"}


def test_importing_an_entry_point_loads_no_cloud_sdk() -> None:
    """Thin entry points: each handler module imports its application on first use, not at import."""
    for entry in ENTRY_POINTS:
        code = f"import sys, {entry}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert set(ast.literal_eval(loaded.stdout)) & CLOUD_SDKS == set(), entry


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

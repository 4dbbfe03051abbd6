"""Imports run one way: maaskit -> {model_packager, handlers, infra} -> bundle (DESIGN.md §1).

Every module of the five packages is parsed (``ast``, so imports inside functions count too) and
each first-party import is checked against the layers: a package may import itself and the layers
below it, never a peer or a layer above. ``handlers`` (the runtime) therefore never imports the
CLI/client, the packager or the deploy code. The client SDK (``maaskit.client``) talks the wire
formats of the bundle package and imports nothing of the server: only itself and ``bundle``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Package -> layer; an import must go to the same package or a strictly lower layer.
LAYERS = {"bundle": 0, "model_packager": 1, "handlers": 1, "infra": 1, "maaskit": 2}
#: Sub-packages held to a narrower set than their package: path prefix -> importable module prefixes.
NARROWER = {"maaskit/client/": ("maaskit.client", "bundle")}
#: Paths allowed an import against the layers, each with the reason.
EXEMPT: dict[str, str] = {
    "infra/examples/": "example bundles are made with the packager, as users make them; never deployed or shipped",
}


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def violations(source: str, package: str, where: str = "<source>") -> list[str]:
    """Imports in ``source`` (a module of ``package``, or of a ``NARROWER`` path) that run against the layers."""
    narrower = NARROWER.get(package)
    layer = package.split("/", maxsplit=1)[0]
    problems = []
    for line, module in _imported(ast.parse(source)):
        target = module.split(".")[0]
        if target not in LAYERS:
            continue
        if narrower is not None:
            allowed = any(module == prefix or module.startswith(prefix + ".") for prefix in narrower)
        else:
            allowed = target == layer or LAYERS[target] < LAYERS[layer]
        if not allowed:
            problems.append(f"{where}:{line}: {package.rstrip('/')} imports {module}")
    return problems


def _package_of(relative: str) -> str:
    return next((prefix for prefix in NARROWER if relative.startswith(prefix)), relative.split("/", maxsplit=1)[0])


def _modules() -> list[Path]:
    return sorted(path for package in LAYERS for path in (REPO_ROOT / package).rglob("*.py"))


def test_no_import_runs_against_the_layers():
    problems = []
    for path in _modules():
        relative = path.relative_to(REPO_ROOT).as_posix()
        if any(relative.startswith(prefix) for prefix in EXEMPT):
            continue
        problems += violations(path.read_text(encoding="utf-8"), _package_of(relative), relative)
    assert len(_modules()) > 100  # the walk found the tree
    assert problems == [], "imports against maaskit -> {model_packager, handlers, infra} -> bundle:\n" + "\n".join(
        problems
    )


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("handlers", "def f():\n    from maaskit.client import MaaskitClient\n"),
        ("handlers", "import infra.packaging\n"),
        ("handlers", "from model_packager import package\n"),
        ("maaskit/client/", "from bundle.wire import DATATYPES\nfrom handlers.protocols import oip_codec\n"),
        ("maaskit/client/", "from maaskit.invoke import invoke_target\n"),
        ("model_packager", "from maaskit import __version__\n"),
        ("infra", "from handlers.semver import semver_key\n"),
        ("bundle", "from handlers.errors import ServingError\n"),
    ],
)
def test_the_check_catches_each_kind_of_backward_import(package: str, source: str):
    assert violations(source, package), f"{package}: {source!r} should be refused"


def test_the_check_allows_the_arrows():
    source = "import bundle\nfrom bundle.wire import DATATYPES\nimport numpy\nfrom handlers.app import create_app\n"
    assert violations(source, "maaskit") == []
    assert violations("from bundle import open_bundle\nimport handlers.engine\n", "handlers") == []
    client = "from bundle.wire import decode_bytes\nfrom maaskit.client.retry import Backoff\n"
    assert violations(client, "maaskit/client/") == []


#: Packages whose modules must import each other without a circle (issue 20).
ACYCLIC = ("handlers", "bundle")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Every module ``tree`` imports when it runs (function-level imports too; ``if TYPE_CHECKING:`` blocks not)."""
    found: list[str] = []
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            found.append(base)
            found.extend(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """``{module: modules it imports}`` over ``sources`` (``{module: (source, is_package)}``), inside the set only."""
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        targets = {name for name in _runtime_imports(ast.parse(source), module, is_package) if name in sources}
        graph[module] = targets - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def _sources() -> dict[str, tuple[str, bool]]:
    sources = {}
    for package in ACYCLIC:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            module = ".".join(parts[:-1] if is_package else parts)
            sources[module] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def test_handlers_and_bundle_import_without_a_circle():
    sources = _sources()
    assert "handlers.engine" in sources and "bundle.manifest" in sources  # the walk found the tree
    found = cycles(import_graph(sources))
    assert found == [], "import circles (each list imports itself round): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_circle_check_sees_function_level_and_relative_imports():
    sources = {
        "pkg": ("", True),
        "pkg.a": ("def f():\n    from pkg.b import g\n", False),
        "pkg.b": ("from . import a\n", False),
        "pkg.c": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n", False),
    }
    assert cycles(import_graph(sources)) == [["pkg.a", "pkg.b"]]
    assert cycles(import_graph({**sources, "pkg.b": ("import pkg.c\n", False)})) == []

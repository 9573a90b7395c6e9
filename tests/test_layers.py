"""The import graph's rules (docs/architecture.md): each is a test, so no change can break one
unnoticed. An arrow is any import, direct or not, found by grimp in the source itself."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import grimp
import pytest

DOORS = ("surge.api", "surge.dashboard", "surge.shlink")
DOMAIN = (
    "surge.data",
    "surge.links",
    "surge.domains",
    "surge.accounts",
    "surge.analytics",
    "surge.transfer",
    "surge.orphans",
    "surge.webhooks",
)
ROOT = "surge.services"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("surge")


def arrows(graph: grimp.ImportGraph, importer: str, imported: str) -> list[str]:
    """Every direct import from inside `importer` into `imported`, as 'a -> b'."""
    found = []
    for module in sorted(graph.find_descendants(importer) | {importer}):
        for target in sorted(graph.find_modules_directly_imported_by(module)):
            if target == imported or target.startswith(f"{imported}."):
                found.append(f"{module} -> {target}")
    return found


def forbidden(importers: tuple[str, ...], imported: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(a, b) for a in importers for b in imported if a != b]


def test_platform_imports_nothing_of_surge(graph: grimp.ImportGraph) -> None:
    others = sorted(
        name
        for name in graph.find_children("surge")
        if name != "surge.platform" and name in graph.modules
    )
    for other in others:
        assert arrows(graph, "surge.platform", other) == [], other


@pytest.mark.parametrize(("importer", "imported"), forbidden(DOMAIN, (*DOORS, ROOT)))
def test_the_domain_imports_no_door(graph: grimp.ImportGraph, importer: str, imported: str) -> None:
    assert arrows(graph, importer, imported) == []


@pytest.mark.parametrize(("importer", "imported"), forbidden(DOORS, (*DOORS, ROOT)))
def test_no_door_imports_another(graph: grimp.ImportGraph, importer: str, imported: str) -> None:
    assert arrows(graph, importer, imported) == []


@pytest.mark.parametrize("imported", [*DOORS, ROOT, "surge.links", "surge.accounts"])
def test_the_redirect_imports_no_door_and_no_api_domain(
    graph: grimp.ImportGraph, imported: str
) -> None:
    assert arrows(graph, "surge.redirect", imported) == []


@pytest.mark.parametrize("door", DOORS)
def test_the_composition_root_mounts_every_door(graph: grimp.ImportGraph, door: str) -> None:
    assert arrows(graph, ROOT, door)  # and so the rules above look at a graph that has arrows


@pytest.mark.parametrize("door", DOORS)
def test_doors_reach_the_data_only_through_services(graph: grimp.ImportGraph, door: str) -> None:
    """A door may name a repository's types (Link, ApiKey), never a repository itself."""
    found = []
    for module in sorted(graph.find_descendants(door) | {door}):
        spec = importlib.util.find_spec(module)
        assert spec is not None
        assert spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        found += [
            f"{module}: {alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if alias.name.endswith("Repository")
        ]
    assert found == []

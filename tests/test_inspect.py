"""``dsim inspect`` on a mesh of many namespaces stays one screen: the largest namespaces, then
the rest summed up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import dsim
from dsim.cli import NAMESPACES_SHOWN, main
from dsim.cluster.summary import by_namespace, largest_namespaces
from tests.conftest import SCENARIOS


def test_inspect_on_100_namespaces_prints_the_largest_then_how_many_more(
    write_scenario: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_scenario({"name": "wide", "seed": 3, "synthetic": {"namespaces": 100, "services": 400}})
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    section = out.split(f"\nby namespace (the {NAMESPACES_SHOWN} with the most sidecars)\n", 1)[1].split("\n\n", 1)[0]
    header, *rows, more = section.splitlines()
    assert header.split() == [
        "namespace",
        "services",
        "dual_stack_services",
        "service_ports",
        "workloads",
        "pods",
        "sidecars",
    ]
    assert len(rows) == NAMESPACES_SHOWN
    table = by_namespace(dsim.build_cluster(path))
    sidecars = [int(row.split()[-1]) for row in rows]
    assert sidecars == sorted(table["sidecars"], reverse=True)[:NAMESPACES_SHOWN]
    rest = table["sidecars"].sum() - sum(sidecars)
    rest_services = table["services"].sum() - sum(int(row.split()[1]) for row in rows)
    assert more == f"… and 90 more namespaces ({rest_services:,} services, {rest:,} sidecars)"


def test_a_few_namespaces_are_all_listed() -> None:
    table = by_namespace(dsim.build_cluster(SCENARIOS / "istio-blog-dual-stack.yaml"))
    shown, rest = largest_namespaces(table, NAMESPACES_SHOWN)
    assert rest is None
    assert sorted(shown["namespace"]) == sorted(table["namespace"])

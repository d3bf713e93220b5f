"""The import writes each kind of Istio object in Istio's order (docs/import.md 2, "Their order"):
by ``metadata.creationTimestamp``, then name, then namespace (``sortConfigByCreationTime``), since
the scenario's order stands for the creation order wherever objects collide. ``dsim export`` gives
each Istio object a creation time that keeps the scenario's order, so an export imports back in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import dsim
from dsim.errors import InventoryError
from dsim.inventory import import_inventory
from dsim.inventory.export import write_inventory
from tests.config_helpers import config_of
from tests.inventory.captures import imported_from, small_inventory

HOST = "web.shop.svc.cluster.local"
WEB_CLUSTER = f"outbound|80||{HOST}"


def _rule(name: str, created: str | None, connections: int, namespace: str = "shop") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if created is not None:
        meta["creationTimestamp"] = created
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": meta,
        "spec": {"host": HOST, "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": connections}}}},
    }


def _max_connections(cluster: dsim.Cluster) -> int:
    config = config_of(cluster, "shop/web-5d8f7-aaaaa")
    found = next(c for c in config.clusters if c.name == WEB_CLUSTER)
    return int(found.circuit_breakers.thresholds[0].max_connections.value)


def _names(imported: Any) -> list[tuple[str, str]]:
    return [(r["metadata"]["namespace"], r["metadata"]["name"]) for r in imported.scenario["destination_rules"]]


def test_the_older_of_two_rules_for_a_host_comes_first_and_its_policy_stands() -> None:
    older = _rule("zeta", "2025-01-01T00:00:00Z", 5)
    newer = _rule("alpha", "2025-06-01T00:00:00Z", 9)
    imported = imported_from([*small_inventory(), newer, older])
    assert _names(imported) == [("shop", "zeta"), ("shop", "alpha")]
    assert _max_connections(dsim.build_cluster(imported.load())) == 5
    swapped = imported_from([*small_inventory(), _rule("zeta", "2025-06-01T00:00:00Z", 5), _rule("alpha", None, 9)])
    assert _names(swapped) == [("shop", "alpha"), ("shop", "zeta")]  # no creation time: Go's zero time, first
    assert _max_connections(dsim.build_cluster(swapped.load())) == 9


def test_equal_times_go_by_name_then_namespace() -> None:
    same = "2025-01-01T00:00:00Z"
    objects = [
        _rule("b", same, 1, namespace="shop"),
        _rule("b", same, 2, namespace="other"),
        _rule("a", same, 3, namespace="zoo"),
        _rule("a", "2025-01-01T00:00:01Z", 3),
        _rule("c", "2025-01-01T01:00:00+02:00", 4),  # 23:00 the day before, in UTC
    ]
    imported = imported_from([*small_inventory(), *objects])
    assert _names(imported) == [("shop", "c"), ("zoo", "a"), ("other", "b"), ("shop", "b"), ("shop", "a")]


@pytest.mark.parametrize("created", ["yesterday", 5, "2025-13-01T00:00:00Z"])
def test_a_creation_time_that_is_not_one_is_refused_by_field(created: object) -> None:
    rule = _rule("zeta", None, 5)
    rule["metadata"]["creationTimestamp"] = created
    with pytest.raises(InventoryError) as caught:
        imported_from([*small_inventory(), rule])
    assert "DestinationRule shop/zeta: metadata.creationTimestamp: expected an RFC 3339 time" in str(caught.value)


def test_an_export_imports_back_in_the_scenario_s_order(tmp_path: Path) -> None:
    rules = [
        {
            "name": name,
            "namespace": "shop",
            "spec": {"host": HOST, "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": connections}}}},
        }
        for name, connections in (("zeta", 5), ("alpha", 9))
    ]
    scenario = dsim.scenario_from_dict(
        {
            "namespaces": [{"name": "shop"}],
            "services": [{"name": "web", "namespace": "shop", "ports": [{"name": "http", "port": 80}]}],
            "workloads": [{"name": "web", "namespace": "shop"}],
            "destination_rules": rules,
        }
    )
    original = dsim.build_cluster(scenario)
    path = tmp_path / "inventory.yaml"
    write_inventory(original, path)
    imported = import_inventory([path])
    assert [r["metadata"]["name"] for r in imported.scenario["destination_rules"]] == ["zeta", "alpha"]
    back = dsim.build_cluster(imported.load())
    for cluster in (original, back):
        found = next(c for c in config_of(cluster, "shop/web").clusters if c.name == WEB_CLUSTER)
        assert found.circuit_breakers.thresholds[0].max_connections.value == 5


def _entry(name: str, host: str, created: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": "shop", "creationTimestamp": created},
        "spec": {
            "hosts": [host],
            "addresses": ["198.51.100.1"],
            "ports": [{"number": 5000, "name": "tcp", "protocol": "TCP"}],
            "resolution": "NONE",
        },
    }


def test_entries_of_one_second_go_by_host_as_the_registry_sorts_them() -> None:
    """``SortServicesByCreationTime`` orders the registry's services by creation time, then hostname:
    of two entries applied in one second sharing an address, the one whose host sorts first keeps
    the listener, whatever the entries' names."""
    same = "2025-01-01T00:00:00Z"
    objects = [_entry("alpha", "z.example.com", same), _entry("beta", "a.example.com", same)]
    imported = imported_from([*small_inventory(), *objects])
    assert [e["metadata"]["name"] for e in imported.scenario["service_entries"]] == ["beta", "alpha"]
    later = [_entry("alpha", "z.example.com", same), _entry("beta", "a.example.com", "2025-01-01T00:00:01Z")]
    imported = imported_from([*small_inventory(), *later])
    assert [e["metadata"]["name"] for e in imported.scenario["service_entries"]] == ["alpha", "beta"]

"""``dsim import`` of Services without a selector (``dsim/inventory/written_endpoints.py``): their
endpoints are the addresses of the slices written for them, as istiod reads those slices
(``updateEndpointCacheForSlice``, Istio 1.30's ``endpointslice.go``)."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster
from dsim.inventory.written_endpoints import OTHER_FAMILY, WRITTEN_HEADLESS, WRITTEN_PODS, WRITTEN_PORT
from tests.inventory.captures import imported_from, small_inventory


def _service(name: str = "db", **spec: Any) -> dict[str, Any]:
    body = {
        "type": "ClusterIP",
        "clusterIP": "10.96.0.20",
        "clusterIPs": ["10.96.0.20", "fd00:10:96::14"],
        "ipFamilies": ["IPv4", "IPv6"],
        "ipFamilyPolicy": "RequireDualStack",
        "ports": [{"name": "tcp-pg", "port": 5432, "protocol": "TCP", "targetPort": 5432}],
        **spec,
    }
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "shop"}, "spec": body}


def _slice(
    family: str, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]] | None = None, name: str = "db"
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-{family.lower()}",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": family,
        "endpoints": endpoints,
        "ports": [{"name": "tcp-pg", "port": 6432}] if ports is None else ports,
    }


HOST_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "agent", "namespace": "shop"},
    "spec": {"hostNetwork": True, "containers": [{"name": "agent"}]},
    "status": {"phase": "Running", "podIP": "192.0.2.50", "podIPs": [{"ip": "192.0.2.50"}]},
}


def _renamed(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """``obj`` under another name (a second slice of the same Service)."""
    return {**obj, "metadata": {**obj["metadata"], "name": name}}


def _endpoint(address: str, **conditions: bool) -> dict[str, Any]:
    return {"addresses": [address], **({"conditions": conditions} if conditions else {})}


def _imported(*objects: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[tuple[str, str], int]]:
    imported = imported_from([*small_inventory(), *objects])
    services = {s["name"]: s for s in imported.scenario["services"]}
    return services.get("db"), imported.skipped()


def test_the_slices_addresses_become_the_services_endpoints() -> None:
    db, skipped = _imported(
        _service(),
        _slice(
            "IPv4",
            [
                _endpoint("192.0.2.10"),
                _endpoint("192.0.2.11", ready=False, terminating=False),  # sent under a distribution
                _endpoint("192.0.2.12", ready=False),  # terminating to istiod: never sent
                _endpoint("192.0.2.13", ready=False, terminating=True),
            ],
        ),
        _slice("IPv6", [_endpoint("2001:db8::10"), _endpoint("2001:db8::10")]),  # istiod dedupes it
    )
    assert db is not None
    assert "selector" not in db
    assert db["endpoints"] == [
        {"address": "192.0.2.10"},
        {"address": "192.0.2.11", "ready": False},
        {"address": "2001:db8::10"},
    ]
    assert db["ports"] == [{"port": 5432, "name": "tcp-pg", "target_port": 6432}]  # the slices' port, not targetPort
    assert not any(kind == "Service" for kind, _ in skipped)


def test_a_legacy_endpoints_object_stands_in_for_slices() -> None:
    legacy = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "db", "namespace": "shop"},
        "subsets": [
            {
                "addresses": [{"ip": "192.0.2.10"}],
                "notReadyAddresses": [{"ip": "192.0.2.11"}],
                "ports": [{"name": "tcp-pg", "port": 6432}],
            }
        ],
    }
    db, _ = _imported(_service(), legacy)
    assert db is not None
    assert db["endpoints"] == [{"address": "192.0.2.10"}]  # the unready one says nothing of terminating
    assert db["ports"] == [{"port": 5432, "name": "tcp-pg", "target_port": 6432}]  # its subset's port
    other = {**legacy, "subsets": [{**legacy["subsets"][0], "ports": [{"name": "other", "port": 1}]}]}
    db, skipped = _imported(_service(), other)
    assert db is None
    assert skipped[("Service", WRITTEN_PORT)] == 1


def test_every_address_of_an_endpoint_is_one_and_a_pod_range_address_is_no_pods() -> None:
    """istiod makes an endpoint of each address; an address in the pod range that no pod has (the
    API server's on a cluster whose pods share the nodes' network) is an endpoint of no pod."""
    db, _ = _imported(_service(), _slice("IPv4", [{"addresses": ["192.0.2.10", "10.244.9.9"]}]))
    assert db is not None
    assert db["endpoints"] == [{"address": "192.0.2.10"}, {"address": "10.244.9.9"}]
    cluster = build_cluster(
        imported_from([*small_inventory(), _service(), _slice("IPv4", [_endpoint("10.244.9.9")])]).load()
    )
    assert cluster.written_ip_text()["ipv4"].tolist() == ["10.244.9.9"]


def test_slices_agreeing_on_the_services_ports_are_read_whatever_else_they_name() -> None:
    ports = [{"name": "tcp-pg", "port": 6432}, {"name": "x", "port": 1}]
    extra = _slice("IPv4", [_endpoint("192.0.2.11")], ports=ports)
    db, _ = _imported(_service(), _slice("IPv4", [_endpoint("192.0.2.10")]), _renamed(extra, "db-b"))
    assert db is not None
    assert [e["address"] for e in db["endpoints"]] == ["192.0.2.10", "192.0.2.11"]


def test_slices_without_endpoints_leave_the_service_in() -> None:
    db, _ = _imported(_service(), _slice("IPv4", [], ports=[]))
    assert db is not None
    assert db["endpoints"] == []


def test_a_multi_cluster_slice_is_not_read() -> None:
    mcs = _slice("IPv4", [_endpoint("192.0.2.99")])
    mcs["metadata"]["labels"]["multicluster.kubernetes.io/service-name"] = "db"
    db, skipped = _imported(
        _service(),
        _slice("IPv4", [_endpoint("192.0.2.10")]),
        {**mcs, "metadata": {**mcs["metadata"], "name": "db-mcs"}},
    )
    assert db is not None
    assert db["endpoints"] == [{"address": "192.0.2.10"}]
    assert any(kind == "EndpointSlice" and "multi-cluster" in why for kind, why in skipped)


def test_a_host_network_pod_of_another_namespace_is_not_behind_it() -> None:
    other = {**HOST_POD, "metadata": {"name": "agent", "namespace": "monitoring"}}
    db, _ = _imported(_service(), _slice("IPv4", [_endpoint("192.0.2.50")]), other)
    assert db is not None
    assert db["endpoints"] == [{"address": "192.0.2.50"}]


def test_none_yet() -> None:
    db, _ = _imported(_service())
    assert db is not None
    assert db["endpoints"] == []


@pytest.mark.parametrize(
    ("objects", "reason"),
    [
        ([_service(clusterIP="None", clusterIPs=["None"])], WRITTEN_HEADLESS),
        (  # a targetRef to a pod
            [
                _service(),
                _slice("IPv4", [{**_endpoint("192.0.2.10"), "targetRef": {"kind": "Pod", "name": "web-5d8f7-aaaaa"}}]),
            ],
            WRITTEN_PODS,
        ),
        ([_service(), _slice("IPv4", [_endpoint("10.244.0.5")])], WRITTEN_PODS),  # a pod's address
        ([_service(), _slice("IPv4", [_endpoint("192.0.2.50")]), HOST_POD], WRITTEN_PODS),  # a host-network pod's
        (  # slices that give a port different numbers
            [
                _service(),
                _slice("IPv4", [_endpoint("192.0.2.10")]),
                _renamed(_slice("IPv4", [_endpoint("192.0.2.11")], ports=[{"name": "tcp-pg", "port": 7000}]), "db-b"),
            ],
            WRITTEN_PORT,
        ),
        ([_service(), _slice("IPv4", [_endpoint("192.0.2.10")], ports=[{"name": "other", "port": 1}])], WRITTEN_PORT),
    ],
)
def test_services_the_model_cannot_hold_are_skipped_with_the_reason(objects: list[dict[str, Any]], reason: str) -> None:
    db, skipped = _imported(*objects)
    assert db is None
    assert skipped[("Service", reason)] == 1


def test_an_endpoint_of_another_family_is_skipped() -> None:
    single = _service(clusterIPs=["10.96.0.20"], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
    db, skipped = _imported(
        single, _slice("IPv4", [_endpoint("192.0.2.10")]), _slice("IPv6", [_endpoint("2001:db8::1")])
    )
    assert db is not None
    assert db["endpoints"] == [{"address": "192.0.2.10"}]
    assert skipped[("EndpointSlice endpoint", OTHER_FAMILY)] == 1


def test_the_imported_mesh_builds_and_sends_them() -> None:
    imported = imported_from([*small_inventory(), _service(), _slice("IPv4", [_endpoint("192.0.2.10")])])
    cluster = build_cluster(imported.load())
    assert cluster.written_ip_text()["ipv4"].tolist() == ["192.0.2.10"]

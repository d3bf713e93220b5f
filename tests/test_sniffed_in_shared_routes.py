"""Sniffed ports in the shared ``"P"`` route configuration (``docs/istio-objects.md`` 1.2): Istio
builds ``"P"`` from every visible service with an HTTP *or sniffed* port P
(``BuildSidecarOutboundVirtualHosts`` keeps the services that have port P;
``BuildSidecarVirtualHostWrapper`` builds a virtual host for each port whose protocol
``IsHTTPOrSniffed``), so a sniffed port's service also has a virtual host in ``"P"`` wherever an
HTTP port opens that configuration, besides its own ``"<host>:P"``. Where no HTTP port P is in
sight there is no ``"P"`` to join. Both paths agree byte for byte under every design and every kind
of visibility, and the real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SVC = "svc.cluster.local"
DUAL = ["IPv4", "IPv6"]


def _mesh(visibility: str, **extra: Any) -> dict[str, Any]:
    return {
        "visibility": visibility,
        "namespaces": [{"name": "a"}, {"name": "b"}],
        "services": [
            {"name": "web", "namespace": "a", "ports": [{"port": 8080, "name": "http"}]},
            # Port names with no protocol: sniffed.
            {"name": "legacy", "namespace": "a", "ip_families": DUAL, "ports": [{"port": 8080, "name": "x"}]},
            {"name": "api", "namespace": "b", "ip_families": ["IPv6"], "ports": [{"port": 8080, "name": "y"}]},
            {"name": "lonely", "namespace": "b", "ports": [{"port": 7070, "name": "z"}]},
        ],
        "workloads": [
            {"name": "web", "namespace": "a", "calls": ["a/legacy", "b/api"]},
            {"name": "legacy", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "calls": ["a/web", "a/legacy"]},
            # Sees sniffed 8080 ports only (under "dependencies"): no "8080" to join.
            {"name": "api", "namespace": "b", "ip_families": ["IPv4", "IPv6"], "calls": ["a/legacy", "b/lonely"]},
            {"name": "lonely", "namespace": "b", "calls": ["a/web", "b/api"]},
        ],
        "virtual_services": [
            {  # the sniffed service's VirtualService routes apply in "8080" as in its own configuration
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "api", "namespace": "b"},
                "spec": {
                    "hosts": ["api"],
                    "http": [
                        {
                            "match": [{"uri": {"prefix": "/v2"}}],
                            "route": [{"destination": {"host": f"legacy.a.{SVC}"}}],
                        },
                        {"route": [{"destination": {"host": "api"}}]},
                    ],
                },
            }
        ],
        "service_entries": [
            {  # a sniffed ServiceEntry port on 8080 (no protocol), with an address
                "apiVersion": "networking.istio.io/v1",
                "kind": "ServiceEntry",
                "metadata": {"name": "ext", "namespace": "b"},
                "spec": {
                    "hosts": ["ext.example.com"],
                    "addresses": ["198.51.100.7"],
                    "ports": [{"number": 8080, "name": "p"}],
                    "resolution": "DNS",
                },
            }
        ],
        **extra,
    }


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(_mesh("all")))


def _routes(cluster: Cluster, proxy: str, design: str = "single-stack") -> dict[str, list[str]]:
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design(design))
    return {r.name: [v.name for v in r.virtual_hosts] for r in config.routes}


def test_sniffed_services_join_the_shared_configuration(mesh: Cluster) -> None:
    found = _routes(mesh, "a/web")
    assert found["8080"] == [
        f"api.b.{SVC}:8080",
        "ext.example.com:8080",
        f"legacy.a.{SVC}:8080",
        f"web.a.{SVC}:8080",
        "allow_any",
    ]
    # Each sniffed port keeps its own configuration too; nothing opens "7070".
    assert {f"legacy.a.{SVC}:8080", f"api.b.{SVC}:8080", f"lonely.b.{SVC}:7070", "ext.example.com:8080"} <= set(found)
    assert "7070" not in found


def test_the_virtual_service_routes_ride_along(mesh: Cluster) -> None:
    index = index_for(mesh)
    config = proxy_config(index, index.find_proxy("a/web"), get_design("single-stack"))
    shared = next(r for r in config.routes if r.name == "8080")
    api = next(v for v in shared.virtual_hosts if v.name == f"api.b.{SVC}:8080")
    assert [route.match.prefix for route in api.routes] == ["/v2", "/"]
    assert f"api.b.{SVC}" in api.domains
    assert "*" not in api.domains


def test_without_an_http_port_in_sight_nothing_to_join() -> None:
    cluster = build_cluster(scenario_from_dict(_mesh("dependencies")))
    assert "8080" not in _routes(cluster, "b/api")
    assert _routes(cluster, "b/lonely")["8080"] == [f"api.b.{SVC}:8080", f"web.a.{SVC}:8080", "allow_any"]


def test_duplicate_gives_each_family_its_riders(mesh: Cluster) -> None:
    found = _routes(mesh, "a/legacy", "duplicate")
    assert f"legacy.a.{SVC}:8080" in found["8080"]
    assert f"api.b.{SVC}:8080" not in found["8080"]
    # The IPv6 copy's "8080" is open only where an HTTP port has an IPv6 copy: web is IPv4-only.
    assert not any(name.startswith("8080") and name != "8080" for name in found)


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies", "scoped"])
def test_accounting_is_byte_exact_every_design(visibility: str) -> None:
    if visibility == "scoped":  # a Sidecar and exportTo: the scope table
        sidecar = {"name": "b", "namespace": "b", "spec": {"egress": [{"hosts": ["./*", f"a/legacy.a.{SVC}"]}]}}
        scenario = _mesh("all", sidecars=[sidecar])
        scenario["services"][0]["export_to"] = ["."]  # web: private to a
    else:
        scenario = _mesh(visibility)
    assert_exact_every_design(build_cluster(scenario_from_dict(scenario)))


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)

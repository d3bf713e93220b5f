"""One host defined in several namespaces (issue 16, ``docs/istio-objects.md`` 4.8): each proxy gets
one namespace's service of it, as Istio's sidecar scope picks (HEAD's ``selectServices`` under
``PILOT_UNIFIED_SIDECAR_SCOPE``, ``collectImportedServices`` with ``pickBestVisibleNamespace``):
its own namespace's, else a Kubernetes Service's, else the first one exported to it by name, else
the first public one. Before, the first service of a host anywhere served it for every proxy, and
proxies that could not see that one got nothing.

The services differ by port so a cluster name tells which one a proxy got."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict, validate_configs
from dsim.cluster import Cluster
from dsim.cluster.host_owners import HostOwners
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_exact_every_design

HOST = "api.example.com"
KUBE_HOST = "web.a.svc.cluster.local"


def _entry(namespace: str, port: int, export_to: list[str] | None = None, host: str = HOST) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "hosts": [host],
        "ports": [{"number": port, "name": f"tls-{port}", "protocol": "TLS"}],
        "resolution": "DNS",
        "location": "MESH_EXTERNAL",
    }
    if export_to is not None:
        spec["exportTo"] = export_to
    return {"name": f"api-{port}", "namespace": namespace, "spec": spec}


def _mesh(*entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "namespaces": [{"name": n} for n in ("a", "b", "c")],
        "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [{"name": f"w{n}", "namespace": n, "ip_families": ["IPv4", "IPv6"]} for n in ("a", "b", "c")],
        "service_entries": list(entries),
        **extra,
    }


def _ports(cluster: Cluster, host: str = HOST, design: str = "single-stack") -> list[set[int]]:
    """Per proxy (one per namespace a, b, c): the ports of its clusters of ``host``."""
    found = []
    for proxy in range(len(cluster.proxies)):
        config = proxy_config(index_for(cluster), proxy, get_design(design))
        found.append({int(c.name.split("|")[1]) for c in config.clusters if c.name.endswith(f"|{host}")})
    return found


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # Private to their namespaces: each proxy its own; c none (before: b got nothing either).
        ((_entry("a", 443, ["."]), _entry("b", 8443, ["."])), [{443}, {8443}, set()]),
        # Public: each namespace its own, the others the first.
        ((_entry("a", 443), _entry("b", 8443)), [{443}, {8443}, {443}]),
        # Exported to c by name comes before a public one, even a newer one.
        ((_entry("a", 443), _entry("b", 8443, [".", "c"])), [{443}, {8443}, {8443}]),
        # One namespace sees neither but its own: a proxy's own namespace wins over an earlier one.
        ((_entry("a", 443, ["."]), _entry("c", 9443)), [{443}, {9443}, {9443}]),
    ],
)
def test_each_proxy_gets_one_namespaces_service_of_a_host(
    entries: tuple[dict[str, Any], ...], expected: list[set[int]]
) -> None:
    cluster = build_cluster(scenario_from_dict(_mesh(*entries)))
    for design in design_names():
        assert _ports(cluster, design=design) == expected, design


def test_a_kubernetes_service_wins_but_not_over_the_proxys_own_namespace() -> None:
    """An entry in b for a's Service's host: b's proxies get the entry, a's and c's the Service,
    though the entry is exported everywhere."""
    cluster = build_cluster(scenario_from_dict(_mesh(_entry("b", 9080, host=KUBE_HOST))))
    assert _ports(cluster, KUBE_HOST) == [{80}, {9080}, {80}]


def test_a_sidecar_picks_among_the_namespaces_it_imports() -> None:
    """c's Sidecar imports b's entry by name: b's, though a's is first and public."""
    sidecar = {"name": "default", "namespace": "c", "spec": {"egress": [{"hosts": [f"b/{HOST}", "./*"]}]}}
    cluster = build_cluster(scenario_from_dict(_mesh(_entry("a", 443), _entry("b", 8443), sidecars=[sidecar])))
    assert _ports(cluster) == [{443}, {8443}, {8443}]


def _routed(entries: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """c's proxies import only their namespace, where a VirtualService routes to the host: its
    destination joins their clusters (``clusters_only``)."""
    vs = {
        "name": "to-api",
        "namespace": "c",
        "spec": {"hosts": ["front.c.svc.cluster.local"], "tcp": [{"route": [{"destination": {"host": HOST}}]}]},
    }
    sidecar = {"name": "default", "namespace": "c", "spec": {"egress": [{"hosts": ["./*"]}]}}
    front = {"name": "front", "namespace": "c", "ports": [{"port": 5000, "name": "tcp", "protocol": "TCP"}]}
    mesh = _mesh(*entries, virtual_services=[vs], sidecars=[sidecar])
    mesh["services"] = [*mesh["services"], front]
    return mesh


@pytest.mark.parametrize(
    ("entries", "port"),
    [
        ((_entry("a", 443), _entry("b", 8443)), 443),  # the oldest visible one
        ((_entry("a", 443, ["."]), _entry("b", 8443)), 8443),  # a's is not visible from c
        ((_entry("a", 443), _entry("c", 9443, ["~"])), 9443),  # c's own, though exported nowhere
    ],
)
def test_a_virtual_service_destination_picks_a_namespace(entries: tuple[dict[str, Any], ...], port: int) -> None:
    cluster = build_cluster(scenario_from_dict(_routed(entries)))
    assert _ports(cluster)[2] == {port}


def test_a_host_imported_takes_no_destination_of_another_namespace() -> None:
    """c imports b's entry by its egress hosts; the VirtualService's destination of the same host,
    a's on its own (the oldest visible), adds no cluster (Istio's scope holds one service per host)."""
    mesh = _routed((_entry("a", 443), _entry("b", 8443, [".", "c"])))
    assert _ports(build_cluster(scenario_from_dict(mesh)))[2] == {443}
    mesh["sidecars"][0]["spec"]["egress"][0]["hosts"] = ["./*", f"b/{HOST}"]
    assert _ports(build_cluster(scenario_from_dict(mesh)))[2] == {8443}


def test_owner_rule_in_istios_order() -> None:
    """The rule itself, on rows: (namespace, Kubernetes, exports) in scenario order."""
    rows = [("x", False, None), ("y", True, None), ("z", False, frozenset({"q"}))]
    owners = HostOwners([HOST] * 3, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    every = np.ones(3, bool)
    assert owners.keep(every, "x").tolist() == [True, False, False]  # its own namespace
    assert owners.keep(every, "q").tolist() == [False, True, False]  # a Kubernetes Service over z, named first
    assert owners.keep(np.array([True, False, True]), "q").tolist() == [False, False, True]  # z, exported by name
    assert owners.keep(np.array([True, False, False]), "q").tolist() == [True, False, False]
    assert owners.destination(HOST, "z") == 2
    assert owners.destination(HOST, "w") == 1  # the visible Kubernetes Service
    assert owners.destination("other.example.com", "w") is None


def test_accounting_is_exact_and_envoy_accepts() -> None:
    mesh = _mesh(_entry("a", 443, ["."]), _entry("b", 8443), _entry("b", 9080, host=KUBE_HOST))
    routed = _routed((_entry("a", 443, ["."]), _entry("b", 8443)))
    for scenario in (mesh, copy.deepcopy(routed)):
        cluster = build_cluster(scenario_from_dict(scenario))
        assert_exact_every_design(cluster)
        verdicts = validate_configs(cluster, designs=design_names(), sample=len(cluster.proxies))
        assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()


def test_a_rule_and_routes_of_the_host_reach_the_later_namespaces_service() -> None:
    """b's DestinationRule and VirtualService for the host shape b's proxies' service of it, though
    a's entry is first (Istio looks both up by host: the rule in the proxy's namespace first)."""
    rule = {"name": "od", "namespace": "b", "spec": {"host": HOST, "trafficPolicy": {"outlierDetection": {}}}}
    vs = {
        "name": "api",
        "namespace": "b",
        "spec": {
            "hosts": [HOST],
            "tls": [{"match": [{"sniHosts": [HOST]}], "route": [{"destination": {"host": HOST}}]}],
        },
    }
    mesh = _mesh(_entry("a", 443), _entry("b", 8443), destination_rules=[rule], virtual_services=[vs])
    cluster = build_cluster(scenario_from_dict(mesh))
    index = index_for(cluster)
    for proxy, expected in ((0, False), (1, True), (2, False)):  # a's service (its own namespace a) in a and c
        config = proxy_config(index, proxy, get_design("single-stack"))
        (found,) = [c for c in config.clusters if c.name.endswith(f"|{HOST}")]
        assert found.HasField("outlier_detection") == expected, proxy
    named = cluster.virtual_service_hosts["service"].tolist()
    hosts = index.hosts
    namespaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()]
    assert sorted(namespaces[s] for s in named if hosts[s] == HOST) == ["a", "b"]
    assert_exact_every_design(cluster)


def test_egress_listeners_keep_the_first_listeners_namespace_for_clusters() -> None:
    """c's Sidecar imports b's entry on a port listener, then a's namespace on the catch-all: one
    cluster of the host, b's (``appendSidecarServices`` keeps the first), not one per listener."""
    listeners = [
        {"port": {"number": 8443, "protocol": "TLS", "name": "tls"}, "hosts": [f"b/{HOST}"]},
        {"hosts": ["a/*", "./*"]},
    ]
    sidecar = {"name": "default", "namespace": "c", "spec": {"egress": listeners}}
    cluster = build_cluster(scenario_from_dict(_mesh(_entry("a", 8443), _entry("b", 8443), sidecars=[sidecar])))
    config = proxy_config(index_for(cluster), 2, get_design("single-stack"))
    assert [c.name for c in config.clusters if c.name.endswith(f"|{HOST}")] == [f"outbound|8443||{HOST}"]
    assert_exact_every_design(cluster)


def test_a_port_listener_picks_among_the_services_with_its_port() -> None:
    """c's own entry has port 443 only; its 8443 listener imports ``*/<host>``: a's service, which has
    that port (Istio trims services to the listener's port before it picks a namespace). The
    catch-all's listener takes c's own, but the clusters keep the first listener's service alone
    (``canMergeServices``: not across namespaces), as Istio's do."""
    listeners = [
        {"port": {"number": 8443, "protocol": "TLS", "name": "tls"}, "hosts": [f"*/{HOST}"]},
        {"hosts": ["./*"]},
    ]
    sidecar = {"name": "default", "namespace": "c", "spec": {"egress": listeners}}
    cluster = build_cluster(scenario_from_dict(_mesh(_entry("a", 8443), _entry("c", 443), sidecars=[sidecar])))
    assert _ports(cluster)[2] == {8443}
    layout = cluster.istio.egress_layouts[2]
    (port_listener,) = layout.ports
    namespaces = cluster.namespaces["name"].to_numpy()[cluster.services["namespace"].to_numpy()]
    assert [namespaces[s] for s in port_listener.services] == ["a"]
    assert [namespaces[s] for s in layout.catch_all or () if cluster.service_hosts()[s] == HOST] == ["c"]
    assert_exact_every_design(cluster)

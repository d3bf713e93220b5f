"""VirtualService destinations a catch-all egress listener imports keep only the ports the
VirtualService names (issue 16, ``docs/istio-objects.md`` 4.2; ``serviceMatchingVirtualServicePorts``,
``virtualServiceDestinations``, ``appendSidecarServices``): a destination naming no port keeps every
port; one naming ports the service lacks brings nothing; over several VirtualServices the ports
add up. A port listener imports its destinations by its own port instead. Such proxies are priced
from their messages: both paths agree, and the real Envoy accepts the configs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

A, B = "a.svc.cluster.local", "b.svc.cluster.local"


def _vs(name: str, host: str, *destinations: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "a",
        # one route per destination (the later ones unreachable, but their destinations are imported)
        "spec": {"hosts": [host], "http": [{"route": [{"destination": d}]} for d in destinations]},
    }


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "front", "namespace": "a", "ports": [{"port": 80, "name": "http"}]},
        {"name": "edge", "namespace": "a", "ports": [{"port": 80, "name": "http"}]},
        {
            "name": "db",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 5432, "name": "tcp"}, {"port": 80, "name": "http"}, {"port": 9090, "name": "grpc"}],
        },
        {"name": "cache", "namespace": "b", "ports": [{"port": 6379, "name": "tcp"}, {"port": 80, "name": "http"}]},
        {"name": "mq", "namespace": "b", "ports": [{"port": 5672, "name": "tcp"}, {"port": 80, "name": "http"}]},
    ],
    "workloads": [
        {"name": "front", "namespace": "a", "labels": {"app": "front"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "db", "namespace": "b", "labels": {"app": "db"}},
    ],
    "virtual_services": [
        # db: port 80 here, 9090 in the next: 80 and 9090, not 5432.
        _vs("front", "front", {"host": f"db.{B}", "port": {"number": 80}}),
        _vs("edge", "edge", {"host": f"db.{B}", "port": {"number": 9090}}, {"host": f"mq.{B}", "port": {"number": 1}}),
        # cache without a port: every port.
        _vs("cache", "front.a.svc.cluster.local", {"host": f"cache.{B}"}),
    ],
    "sidecars": [{"name": "default", "namespace": "a", "spec": {"egress": [{"hosts": ["./*"]}]}}],
}


def _cluster_ports(cluster: Cluster, workload: str, design: str) -> dict[str, set[int]]:
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == workload)[0])
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    found: dict[str, set[int]] = {}
    for c in proxy_config(index_for(cluster), proxy, get_design(design)).clusters:
        if c.name.startswith("outbound"):
            _, port, _, host = c.name.split("|")
            found.setdefault(host, set()).add(int(port))
    return found


def test_destinations_keep_the_ports_their_virtual_services_name() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    assert cluster.istio.egress_layouts  # priced from messages
    for design in design_names():
        ports = _cluster_ports(cluster, "front", design)
        assert ports[f"db.{B}"] == {80, 9090}
        assert ports[f"cache.{B}"] == {6379, 80}
        assert f"mq.{B}" not in ports  # port 1: mq has none of it, nothing imported
        assert ports[f"front.{A}"] == {80}
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_a_port_listener_imports_its_destinations_by_its_own_port() -> None:
    """Under an egress listener on 80, mq comes in on 80 (``serviceMatchingListenerPort``), the
    port its VirtualService names not mattering; the catch-all trims db as before."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["sidecars"][0]["spec"]["egress"] = [
        {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["./edge.a.svc.cluster.local"]},
        {"hosts": ["./*"]},
    ]
    cluster = build_cluster(scenario_from_dict(scenario))
    ports = _cluster_ports(cluster, "front", "additional-addresses")
    assert ports[f"mq.{B}"] == {80}
    assert ports[f"db.{B}"] == {80, 9090}
    assert_exact_every_design(cluster)

"""Sidecar egress listeners on ports (issue 16, ``docs/istio-objects.md`` 4.2-4.3): a port listener
imports its hosts on its port alone, builds their listeners with its protocol and owns the port's
route configurations; the catch-all builds the rest but no listener a port listener holds; clusters
are the union. The accounting takes such proxies from their messages, so both paths agree byte for
byte, and the real Envoy accepts every config under every design."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster, sidecars
from dsim.designs import get_design
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

A, B = "a.svc.cluster.local", "b.svc.cluster.local"


def _sidecar(name: str, namespace: str, egress: list[dict[str, Any]], app: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace,
        "spec": {"workloadSelector": {"labels": {"app": app}}, "egress": egress},
    }


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {
            "name": "web",
            "namespace": "a",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 80, "name": "http"}, {"port": 9090, "name": "grpc"}],
        },
        {"name": "api", "namespace": "a", "ports": [{"port": 8080, "name": "http"}, {"port": 9000, "name": "tcp"}]},
        {"name": "db", "namespace": "b", "ports": [{"port": 5432, "name": "tcp"}, {"port": 80, "name": "http"}]},
        {"name": "cache", "namespace": "b", "ip_families": ["IPv6", "IPv4"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "mq", "namespace": "b", "ports": [{"port": 5672, "name": "amqp"}]},
    ],
    "workloads": [
        {"name": "client", "namespace": "a", "labels": {"app": "client"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "web", "namespace": "a", "labels": {"app": "web"}},
        {"name": "solo", "namespace": "b", "labels": {"app": "solo"}, "ip_families": ["IPv6"]},
        {"name": "db", "namespace": "b", "labels": {"app": "db"}},
    ],
    "virtual_services": [
        {
            "name": "web",
            "namespace": "a",
            "spec": {
                "hosts": ["web"],
                "http": [
                    {"match": [{"uri": {"prefix": "/queue"}}], "route": [{"destination": {"host": f"mq.{B}"}}]},
                    {"route": [{"destination": {"host": "web"}}]},
                ],
            },
        }
    ],
    "sidecars": [
        _sidecar(
            "client",
            "a",
            [
                {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["b/*"]},
                {"port": {"number": 5432, "protocol": "TCP", "name": "pg"}, "hosts": [f"b/db.{B}"]},
                {"hosts": ["./*", "istio-system/*"]},
            ],
            "client",
        ),
        _sidecar(
            "solo",
            "b",
            [
                {"port": {"number": 8080, "protocol": "HTTP", "name": "http"}, "hosts": ["a/*"]},
                {"port": {"number": 9000, "name": "sniffed"}, "hosts": [f"a/api.{A}"]},
            ],
            "solo",
        ),
    ],
}


def _config(cluster: Cluster, workload: str, design: str) -> ProxyConfig:
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == workload)[0])
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    return proxy_config(index_for(cluster), proxy, get_design(design))


def _cluster_keys(config: ProxyConfig) -> set[str]:
    """``port|host`` of every outbound cluster (any subset or family copy)."""
    return {f"{c.name.split('|')[1]}|{c.name.split('|')[3]}" for c in config.clusters if c.name.startswith("outbound")}


def _vhosts(config: ProxyConfig, route: str) -> set[str]:
    catch_all = ("allow_any", "block_all")
    return {v.name for r in config.routes if r.name == route for v in r.virtual_hosts if v.name not in catch_all}


def test_a_port_listener_owns_its_port() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    assert not [note for note, _ in cluster.istio.notes if "egress listener" in note]
    for design in design_names():
        client = _config(cluster, "client", design)
        # Clusters: the catch-all's services on every port, the port listeners' on their ports, the
        # VirtualService's destination mq (imported by the catch-all) on every port.
        assert _cluster_keys(client) == {
            f"80|web.{A}",
            f"9090|web.{A}",
            f"8080|api.{A}",
            f"9000|api.{A}",
            f"80|db.{B}",
            f"5432|db.{B}",
            f"80|cache.{B}",
            f"5672|mq.{B}",
        }
        # "80" belongs to the port listener: b's services, not the catch-all's web.
        assert _vhosts(client, "80") == {f"db.{B}:80", f"cache.{B}:80"}
        names = {listener.name for listener in client.listeners}
        assert not any(name.endswith("_5672") for name in names)  # mq: clusters only
        assert any(name.endswith("_5432") for name in names)
        solo = _config(cluster, "solo", design)
        assert _cluster_keys(solo) == {f"8080|api.{A}", f"9000|api.{A}"}
        assert _vhosts(solo, "8080") == {f"api.{A}:8080"}
        # 9000 is TCP on the service, sniffed on the egress port: a sniffing listener, and its
        # route configuration holds nothing (the service port is neither HTTP nor sniffed).
        sniffed = [r for r in solo.routes if r.name.startswith(f"api.{A}:9000")]
        assert sniffed
        assert all(not r.virtual_hosts for r in sniffed)


def test_accounting_is_exact_and_envoy_accepts() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_too_many_services_behind_port_listeners_read_them_as_one_catch_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the budget of services priced from messages, every Sidecar reads its listeners as one
    catch-all (hosts on every port), counted, and both paths still agree."""
    monkeypatch.setattr(sidecars, "MESSAGE_PRICED_SERVICES", 3)
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    assert not cluster.istio.egress_layouts
    (count,) = [count for note, count in cluster.istio.notes if "too many to price from messages" in note]
    assert count == 2  # client's and solo's (Sidecar, namespace)
    solo = _config(cluster, "solo", "single-stack")
    assert f"80|web.{A}" in _cluster_keys(solo)  # a/* on every port now
    assert_exact_every_design(cluster)

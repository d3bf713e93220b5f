"""Sidecar egress port listeners that ``bind`` an IP or capture with ``NONE`` (issue 16,
``docs/istio-objects.md`` 4.4): one listener on the bound address for all the listener's services
(``listenerKey{bind, port}``), the first service's, a later TCP service adding only chains that
match something new; ``NONE`` binds the port itself (no ``bind_to_port: false``) on the proxy's
loopback unless a bind is given; an HTTP one is plain HTTP (no inspector, no ALPN match) naming
``"P"``; a bound listener locks nothing of the catch-all's. The accounting prices these proxies from
their messages (exact), and the real Envoy accepts the configs, bound listeners bound, over ADS."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design, assert_live_over_ads

A, B = "a.svc.cluster.local", "b.svc.cluster.local"
DUAL = ["IPv4", "IPv6"]

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "db", "namespace": "b", "ip_families": DUAL, "ports": [{"port": 5432, "name": "tcp-pg"}]},
        {"name": "replica", "namespace": "b", "ports": [{"port": 5432, "name": "tcp-pg"}]},
        {"name": "web", "namespace": "a", "ip_families": DUAL, "ports": [{"port": 80, "name": "http"}]},
        {"name": "api", "namespace": "b", "ports": [{"port": 80, "name": "http"}]},
        {"name": "cache", "namespace": "b", "ip_families": DUAL, "ports": [{"port": 6379, "name": "cache"}]},
        {"name": "cache2", "namespace": "b", "ports": [{"port": 6379, "name": "cache"}]},
        {"name": "secure", "namespace": "b", "ports": [{"port": 443, "name": "tls"}]},
        {"name": "secure2", "namespace": "b", "ports": [{"port": 443, "name": "tls"}]},
    ],
    "workloads": [
        {"name": "client", "namespace": "a", "labels": {"app": "client"}, "ip_families": DUAL},
        {"name": "solo", "namespace": "a", "labels": {"app": "solo"}, "ip_families": ["IPv6"]},
        {"name": "db", "namespace": "b", "labels": {"app": "db"}},
    ],
    "virtual_services": [
        {
            "name": "secure",
            "namespace": "b",
            "spec": {
                "hosts": [f"secure.{B}"],
                "tls": [
                    {
                        "match": [{"sniHosts": [f"secure.{B}"]}],
                        "route": [{"destination": {"host": "secure"}}],
                    }
                ],
            },
        }
    ],
    "sidecars": [
        {
            "name": "bound",
            "namespace": "a",
            "spec": {
                "egress": [
                    {
                        "port": {"number": 5432, "protocol": "TCP", "name": "pg"},
                        "captureMode": "NONE",
                        "hosts": ["b/*"],
                    },
                    {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "bind": "127.0.0.2", "hosts": ["*/*"]},
                    {"port": {"number": 6379, "name": "cache"}, "captureMode": "NONE", "bind": "::1", "hosts": ["b/*"]},
                    {
                        "port": {"number": 443, "protocol": "TLS", "name": "tls"},
                        "captureMode": "NONE",
                        "bind": "127.0.0.1",
                        "hosts": ["b/*"],
                    },
                    {"hosts": ["./*"]},
                ]
            },
        }
    ],
}


def _config(cluster: Cluster, workload: str, design: str) -> ProxyConfig:
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == workload)[0])
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    return proxy_config(index_for(cluster), proxy, get_design(design))


def _listeners(config: ProxyConfig) -> dict[str, Any]:
    return {listener.name: listener for listener in config.listeners}


def _tcp_cluster(chain: Any) -> str:
    proxy = tcp_proxy_pb2.TcpProxy()
    chain.filters[-1].typed_config.Unpack(proxy)
    return proxy.cluster


def _rds(chain: Any) -> str:
    manager = hcm_pb2.HttpConnectionManager()
    chain.filters[-1].typed_config.Unpack(manager)
    return manager.rds.route_config_name


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def test_bound_listeners_under_the_shipped_design(cluster: Cluster) -> None:
    assert not [note for note, _ in cluster.istio.notes if "egress listener" in note]
    client = _config(cluster, "client", "additional-addresses")
    found = _listeners(client)
    # captureMode NONE, no bind: the loopback, both families; the port bound; db's chain only.
    pg = found["127.0.0.1_5432"]
    assert not pg.HasField("bind_to_port")
    assert [a.address.socket_address.address for a in pg.additional_addresses] == ["::1"]
    assert [_tcp_cluster(c) for c in pg.filter_chains] == [f"outbound|5432||db.{B}"]
    assert not pg.HasField("default_filter_chain")
    assert not any(name.endswith("_5432") and name != "127.0.0.1_5432" for name in found)  # no VIP listeners
    # A bind without NONE: reached by redirection; plain HTTP naming "80"; the catch-all's web keeps
    # the shared wildcard listener (not locked), which names "80" too, owned by the port listener.
    http = found["127.0.0.2_80"]
    assert http.bind_to_port.value is False
    assert not http.listener_filters
    assert [c.HasField("filter_chain_match") for c in http.filter_chains] == [False]
    assert not http.HasField("default_filter_chain")
    assert _rds(http.filter_chains[0]) == "80"
    assert _rds(found["0.0.0.0_80"].filter_chains[0]) == "80"
    (routes_80,) = [r for r in client.routes if r.name == "80"]
    assert {v.name for v in routes_80.virtual_hosts} >= {f"web.{A}:80", f"api.{B}:80"}
    # Sniffed, bound to ::1: the first service's listener and route configuration alone.
    cache = found["::1_6379"]
    assert not cache.HasField("bind_to_port")
    assert _rds(cache.filter_chains[0]) == f"cache.{B}:6379"
    assert not [r for r in client.routes if r.name.startswith(f"cache2.{B}")]
    # TLS: secure's SNI chain, then secure2's chain, which matches everything, as the default.
    tls = found["127.0.0.1_443"]
    assert [list(c.filter_chain_match.server_names) for c in tls.filter_chains] == [[f"secure.{B}"]]
    assert _tcp_cluster(tls.default_filter_chain) == f"outbound|443||secure2.{B}"
    assert [f.name for f in tls.listener_filters] == ["envoy.filters.listener.tls_inspector"]


def test_each_design_binds_its_own_families(cluster: Cluster) -> None:
    names = {design: set(_listeners(_config(cluster, "client", design))) for design in design_names()}
    # The RFC's design copies the loopback listener per family (db is dual-stack); a given bind is
    # one address, built by the service's copy of its family.
    assert {"127.0.0.1_5432", "::1_5432"} <= names["duplicate"]
    duplicate = _config(cluster, "client", "duplicate")
    (pg6,) = [x for x in duplicate.listeners if x.name == "::1_5432"]
    assert _tcp_cluster(pg6.filter_chains[0]) == f"outbound6|5432||db.{B}"
    (cache,) = [x for x in duplicate.listeners if x.name == "::1_6379"]
    assert _rds(cache.filter_chains[0]) == f"cache.{B}:6379.ipv6"
    (http,) = [x for x in duplicate.listeners if x.name == "127.0.0.2_80"]
    assert _rds(http.filter_chains[0]) == "80"
    for design in ("single-stack", "additional-addresses", "additional-addresses-1.24"):
        assert "::1_5432" not in names[design]
    # An IPv6-only proxy's loopback is ::1.
    solo = _listeners(_config(cluster, "solo", "additional-addresses"))
    assert "::1_5432" in solo
    assert not solo["::1_5432"].additional_addresses


def test_accounting_is_exact_and_envoy_validates(cluster: Cluster) -> None:
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


@pytest.mark.slow
@pytest.mark.parametrize("design", ["duplicate", "additional-addresses"])
def test_envoy_takes_the_bound_listeners_over_ads(cluster: Cluster, design: str) -> None:
    """Over ADS the real Envoy binds them (moved to free loopback ports, as every bound listener the
    harness delivers) and goes live."""
    assert_live_over_ads(_config(cluster, "client", design))

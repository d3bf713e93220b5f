"""What must hold of any generated config: unique names, and every reference resolvable."""

from __future__ import annotations

from collections import Counter

from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

from dsim.xds.generate import ProxyConfig


def _chains(config: ProxyConfig) -> list[lc.FilterChain]:
    chains = []
    for listener in config.listeners:
        chains.extend(listener.filter_chains)
        if listener.HasField("default_filter_chain"):
            chains.append(listener.default_filter_chain)
    return chains


def referenced(config: ProxyConfig) -> tuple[set[str], set[str]]:
    """Clusters and route configurations the config's listeners and routes point to."""
    clusters: set[str] = set()
    routes: set[str] = set()
    for chain in _chains(config):
        for f in chain.filters:
            if f.name == "envoy.filters.network.tcp_proxy":
                proxy = tcp_proxy_pb2.TcpProxy()
                f.typed_config.Unpack(proxy)
                clusters.add(proxy.cluster)
            elif f.name == "envoy.filters.network.http_connection_manager":
                manager = hcm_pb2.HttpConnectionManager()
                f.typed_config.Unpack(manager)
                if manager.HasField("rds"):
                    routes.add(manager.rds.route_config_name)
                else:
                    clusters.update(r.route.cluster for v in manager.route_config.virtual_hosts for r in v.routes)
    for route in config.routes:
        clusters.update(r.route.cluster for v in route.virtual_hosts for r in v.routes if r.HasField("route"))
    return clusters, routes


def check_config(config: ProxyConfig) -> None:
    for kind, names in (
        ("listener", [x.name for x in config.listeners]),
        ("cluster", [c.name for c in config.clusters]),
        ("route", [r.name for r in config.routes]),
        ("endpoint set", [a.cluster_name for a in config.endpoints]),
    ):
        repeated = [n for n, k in Counter(names).items() if k > 1]
        assert not repeated, f"{kind} names repeated: {repeated}"
    cluster_names = {c.name for c in config.clusters}
    clusters, routes = referenced(config)
    assert clusters <= cluster_names, clusters - cluster_names
    assert routes == {r.name for r in config.routes}, routes ^ {r.name for r in config.routes}
    eds = {c.name for c in config.clusters if c.type == c.EDS}
    assert eds == {a.cluster_name for a in config.endpoints}
    for route in config.routes:
        domains = [d for v in route.virtual_hosts for d in v.domains]
        assert len(domains) == len(set(domains)), route.name

"""The wildcard listener ``0.0.0.0_P`` of address-less ServiceEntry TCP and TLS ports
(``docs/istio-objects.md`` 3.4), laid out as Istio's ``buildListenerFromEntry`` lays out a listener
entry: SNI chains, with the TCP chain (which matches everything) as the default one beside them, and
the fall-through to ``PassthroughCluster`` or ``BlackHoleCluster`` (the proxy's outbound traffic
policy) where no chain matches everything. Where an HTTP port of the mesh holds ``0.0.0.0_P``, the
entries' chains join that listener (``TCPOverAuto``: ``mergeTCPFilterChains``), the TCP chain in
place of its fall-through. A Mongo or MySQL port's chain joins no listener of another protocol, nor
does another's join its listener (``isConflictWithWellKnownPort``). A
sniffed port without an address opens ``"P"`` as an HTTP port does, its TCP chain the default one.
Checked on the protobuf path, byte-exact in the accounting under every design and both policies,
and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, tcp_proxy_of


def _entry(name: str, host: str, number: int, protocol: str = "") -> dict[str, Any]:
    """An address-less DNS entry (``protocol`` empty: sniffed)."""
    port = {"number": number, "name": name, **({"protocol": protocol} if protocol else {})}
    return {"name": name, "namespace": "ext", "spec": {"hosts": [host], "ports": [port], "resolution": "DNS"}}


MESH: dict[str, Any] = {
    "namespaces": [{"name": n} for n in ("app", "locked", "ext")],
    "services": [
        {
            "name": "web",
            "namespace": "app",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"port": 8080, "name": "http"},
                {"port": 9443, "name": "http-alt"},
                {"port": 3306, "name": "http-db"},
            ],
        }
    ],
    "workloads": [
        {"name": "web", "namespace": "app", "ip_families": ["IPv4", "IPv6"]},
        {"name": "client", "namespace": "locked"},
    ],
    "service_entries": [
        _entry("tcp-clash", "clash.example.com", 8080, "TCP"),  # the HTTP listener's default chain
        _entry("tls-a", "a.tls.example.com", 9443, "TLS"),  # SNI chains beside the HTTP one
        _entry("tls-b", "b.tls.example.com", 9443, "TLS"),
        _entry("mysql", "db.example.com", 3306, "MySQL"),  # never shares a listener with HTTP
        _entry("tls-only", "c.tls.example.com", 8443, "TLS"),  # its own listener, falling through
        # A second one: each fall-through a policy prices differs from the HTTP listener's it replaces
        # in opposite ways, which must not cancel out in the byte-exact check.
        _entry("tls-only-2", "g.tls.example.com", 8444, "TLS"),
        _entry("tcp-and-tls", "d.example.com", 9100, "TCP"),  # the default chain beside ...
        _entry("tls-too", "e.tls.example.com", 9100, "TLS"),  # ... this SNI chain
        _entry("tcp-alone", "f.example.com", 9200, "TCP"),  # the only chain
        _entry("mysql-first", "j.example.com", 9300, "MySQL"),  # holds its listener: ...
        _entry("tls-after", "k.tls.example.com", 9300, "TLS"),  # ... this chain is dropped
        _entry("tls-first", "l.tls.example.com", 9400, "TLS"),  # holds its listener: ...
        _entry("mongo-after", "m.example.com", 9400, "Mongo"),  # ... this chain is dropped
        _entry("sniffed", "h.example.com", 7070),  # opens "7070": an HTTP listener, its TCP chain the default
        _entry("sniffed-late", "i.example.com", 8080),  # a virtual host in "8080"; tcp-clash's chain came first
    ],
    # app's own TCP routes for two entries whose chains another holds the listener against: a view
    # changes their chains, and still neither is built (the accounting prices a view's chain among
    # every chain and HTTP port of its listener, not alone).
    "virtual_services": [
        {
            "name": f"{name}-routed",
            "namespace": "app",
            "spec": {
                "hosts": [host],
                "exportTo": ["."],
                "tcp": [{"route": [{"destination": {"host": "f.example.com", "port": {"number": 9200}}}]}],
            },
        }
        for name, host in (("db", "db.example.com"), ("mongo", "m.example.com"))
    ],
    "sidecars": [
        {"name": "default", "namespace": "locked", "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _listeners(cluster: Cluster, proxy: str) -> dict[str, Any]:
    return {listener.name: listener for listener in config_of(cluster, proxy).listeners}


def _cluster_of(chain: Any) -> str:
    return tcp_proxy_of(chain).cluster


def test_a_tcp_chain_replaces_the_http_listeners_fall_through(mesh: Cluster) -> None:
    listener = _listeners(mesh, "app/web")["0.0.0.0_8080"]
    assert len(listener.filter_chains) == 1
    assert listener.filter_chains[0].filter_chain_match.application_protocols
    assert _cluster_of(listener.default_filter_chain) == "outbound|8080||clash.example.com"


def test_sni_chains_join_the_http_listener(mesh: Cluster) -> None:
    listener = _listeners(mesh, "app/web")["0.0.0.0_9443"]
    names = [list(c.filter_chain_match.server_names) for c in listener.filter_chains]
    assert names == [[], ["a.tls.example.com"], ["b.tls.example.com"]]  # the HTTP chain first
    assert listener.default_filter_chain.name == "PassthroughFilterChain"


def test_a_mysql_port_keeps_out_of_the_http_listener(mesh: Cluster) -> None:
    listeners = _listeners(mesh, "app/web")
    assert len(listeners["0.0.0.0_3306"].filter_chains) == 1
    assert listeners["0.0.0.0_3306"].default_filter_chain.name == "PassthroughFilterChain"
    assert not [name for name in listeners if name.endswith("_3306") and name != "0.0.0.0_3306"]


def test_a_mongo_or_mysql_port_shares_no_wildcard_listener(mesh: Cluster) -> None:
    listeners = _listeners(mesh, "app/web")
    mysql = listeners["0.0.0.0_9300"]
    assert [_cluster_of(c) for c in mysql.filter_chains] == ["outbound|9300||j.example.com"]
    assert not mysql.HasField("default_filter_chain")
    tls = listeners["0.0.0.0_9400"]
    assert [list(c.filter_chain_match.server_names) for c in tls.filter_chains] == [["l.tls.example.com"]]
    assert tls.default_filter_chain.name == "PassthroughFilterChain"


@pytest.mark.parametrize(
    ("proxy", "cluster"), [("app/web", "PassthroughCluster"), ("locked/client", "BlackHoleCluster")]
)
def test_sni_chains_alone_fall_through_by_the_proxys_policy(mesh: Cluster, proxy: str, cluster: str) -> None:
    listener = _listeners(mesh, proxy)["0.0.0.0_8443"]
    assert [list(c.filter_chain_match.server_names) for c in listener.filter_chains] == [["c.tls.example.com"]]
    assert listener.default_filter_chain.name == "PassthroughFilterChain"
    assert _cluster_of(listener.default_filter_chain) == cluster


def test_the_tcp_chain_is_the_default_beside_sni_chains_and_alone_the_only_one(mesh: Cluster) -> None:
    listeners = _listeners(mesh, "locked/client")
    both = listeners["0.0.0.0_9100"]
    assert [list(c.filter_chain_match.server_names) for c in both.filter_chains] == [["e.tls.example.com"]]
    assert _cluster_of(both.default_filter_chain) == "outbound|9100||d.example.com"
    alone = listeners["0.0.0.0_9200"]
    assert len(alone.filter_chains) == 1
    assert not alone.HasField("default_filter_chain")


def test_a_sniffed_port_without_an_address_opens_its_ports_route_configuration(mesh: Cluster) -> None:
    config = config_of(mesh, "app/web")
    listener = {x.name: x for x in config.listeners}["0.0.0.0_7070"]
    assert list(listener.filter_chains[0].filter_chain_match.application_protocols)  # HTTP, by RDS "7070"
    assert _cluster_of(listener.default_filter_chain) == "outbound|7070||h.example.com"
    routes = {r.name: [v.name for v in r.virtual_hosts] for r in config.routes}
    assert routes["7070"] == ["h.example.com:7070", "allow_any"]
    assert "i.example.com:8080" in routes["8080"]
    shared = {x.name: x for x in config.listeners}["0.0.0.0_8080"]
    assert _cluster_of(shared.default_filter_chain) == "outbound|8080||clash.example.com"  # the first entry's


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)

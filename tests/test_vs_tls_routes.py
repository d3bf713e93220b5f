"""A VirtualService's TLS routes (issue 16, ``docs/istio-objects.md`` section 1.10): on a service's TLS
port, each match that takes the port gives its listener a chain matching its SNI hosts, to one
destination or split by weight, carrying the VirtualService; the listener gets the TLS inspector
and a fall-through chain by the proxy's outbound traffic policy
(``buildSidecarOutboundTLSFilterChainOpts``, ``buildListenerFromEntry``). Both paths agree byte for
byte under every design, and the real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import tcp_proxy_of

SVC = "svc.cluster.local"
VAULT = f"vault.b.{SVC}"


def _to(host: str, port: int, weight: int = 0) -> dict[str, Any]:
    return {"destination": {"host": host, "port": {"number": port}}, **({"weight": weight} if weight else {})}


def _vs(name: str, namespace: str, hosts: list[str], tls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, "tls": tls}}


MESH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "mesh": {"outbound_traffic_policy": "ALLOW_ANY"},
    "services": [
        {
            "name": "vault",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 8200, "name": "https"}, {"port": 8201, "name": "tcp"}],
        },
        {"name": "gw", "namespace": "a", "ports": [{"port": 443, "name": "tls-gw"}]},
        {"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]},
        {"name": "mail", "namespace": "a", "ports": [{"port": 465, "name": "tls-smtp"}]},
    ],
    "workloads": [
        {"name": "vault", "namespace": "b", "ip_families": ["IPv4", "IPv6"]},
        {"name": "gw", "namespace": "a"},
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"]},
        {"name": "mail", "namespace": "a"},
    ],
    "virtual_services": [
        _vs(
            "vault",
            "b",
            [VAULT, f"*.{VAULT}"],
            [
                # A split on 8200 (one destination an IPv4-only service); the same SNI again adds nothing.
                {
                    "match": [{"sniHosts": [VAULT], "port": 8200}],
                    "route": [_to("vault", 8200, 80), _to(f"gw.a.{SVC}", 443, 20)],
                },
                {"match": [{"sniHosts": [VAULT]}], "route": [_to(f"gw.a.{SVC}", 443)]},
                # A second SNI: its own chain, one destination.
                {"match": [{"sniHosts": [f"x.{VAULT}"]}], "route": [_to("vault", 8200)]},
            ],
        ),
        _vs(
            "mail",
            "a",
            [f"mail.a.{SVC}", "b.example.com"],
            [
                {"match": [{"sniHosts": [f"mail.a.{SVC}", "b.example.com"]}], "route": [_to(f"mail.a.{SVC}", 465)]},
            ],
        ),
        # Its only match is on another port: gw's listener keeps its default chain.
        _vs(
            "gw",
            "a",
            [f"gw.a.{SVC}"],
            [{"match": [{"sniHosts": [f"gw.a.{SVC}"], "port": 9443}], "route": [_to(f"gw.a.{SVC}", 443)]}],
        ),
    ],
    # b's proxies block unknown destinations: their fall-through chain goes to the black hole.
    "sidecars": [{"name": "default", "namespace": "b", "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _listeners(cluster: Cluster, proxy: str, design: str = "single-stack") -> dict[str, Any]:
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design(design))
    return {listener.name: listener for listener in config.listeners}


def _vip(cluster: Cluster, host: str) -> str:
    index = index_for(cluster)
    return str(index.vip4[index.hosts.index(host)])


def test_tls_routes_give_sni_chains(mesh: Cluster) -> None:
    assert "tls" not in " ".join(istio_record(mesh)["notes"])
    vault = _listeners(mesh, "a/web")[f"{_vip(mesh, VAULT)}_8200"]
    assert [f.name for f in vault.listener_filters] == ["envoy.filters.listener.tls_inspector"]
    assert [list(c.filter_chain_match.server_names) for c in vault.filter_chains] == [[VAULT], [f"x.{VAULT}"]]
    split = tcp_proxy_of(vault.filter_chains[0])
    assert split.stat_prefix == "vault.b"
    assert [(c.name, c.weight) for c in split.weighted_clusters.clusters] == [
        (f"outbound|8200||{VAULT}", 80),
        (f"outbound|443||gw.a.{SVC}", 20),
    ]
    assert tcp_proxy_of(vault.filter_chains[1]).cluster == f"outbound|8200||{VAULT}"
    assert (
        vault.filter_chains[0]
        .metadata.filter_metadata["istio"]["config"]
        .endswith("/namespaces/b/virtual-service/vault")
    )
    assert vault.default_filter_chain.name == "PassthroughFilterChain"
    assert tcp_proxy_of(vault.default_filter_chain).cluster == "PassthroughCluster"


def test_server_names_are_sorted(mesh: Cluster) -> None:
    mail = _listeners(mesh, "a/web")[f"{_vip(mesh, f'mail.a.{SVC}')}_465"]
    assert [list(c.filter_chain_match.server_names) for c in mail.filter_chains] == [["b.example.com", f"mail.a.{SVC}"]]
    assert tcp_proxy_of(mail.default_filter_chain).cluster == "PassthroughCluster"
    assert [f.name for f in mail.listener_filters] == ["envoy.filters.listener.tls_inspector"]


def test_the_fall_through_follows_the_proxys_policy(mesh: Cluster) -> None:
    vault = _listeners(mesh, "b/vault")[f"{_vip(mesh, VAULT)}_8200"]
    assert tcp_proxy_of(vault.default_filter_chain).cluster == "BlackHoleCluster"


def test_other_ports_keep_their_default_chain(mesh: Cluster) -> None:
    found = _listeners(mesh, "a/web")
    for name in (f"{_vip(mesh, VAULT)}_8201", f"{_vip(mesh, f'gw.a.{SVC}')}_443"):
        assert len(found[name].filter_chains) == 1
        assert not found[name].listener_filters
        assert not found[name].HasField("default_filter_chain")


def test_duplicate_drops_a_destination_without_the_copys_family(mesh: Cluster) -> None:
    """Under ``duplicate`` the IPv6 copy of vault's listener keeps only vault's IPv6 cluster: one
    destination left is a plain cluster (inferred, as for HTTP and TCP routes)."""
    found = _listeners(mesh, "a/web", "duplicate")
    (ipv6,) = [listener for name, listener in found.items() if name.endswith("_8200") and ":" in name]
    assert tcp_proxy_of(ipv6.filter_chains[0]).cluster == f"outbound6|8200||{VAULT}"


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_accounting_under_the_other_mesh_policy() -> None:
    """The mesh blocks, a's Sidecar passes through: the listeners are priced under the mesh's policy
    and the fall-through difference added for the proxies of the other one."""
    scenario = {
        **MESH,
        "mesh": {"outbound_traffic_policy": "REGISTRY_ONLY"},
        "sidecars": [{"name": "default", "namespace": "a", "spec": {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}}],
    }
    assert_exact_every_design(build_cluster(scenario_from_dict(scenario)))


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)

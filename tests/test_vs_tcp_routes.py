"""A VirtualService's TCP routes (issue 16, ``docs/istio-objects.md`` section 1.10): the first TCP
route that takes a port gives its service's TCP or sniffed listener a chain to its destination, or
split by weight, carrying the VirtualService; both paths agree byte for byte under every design, and
the real Envoy accepts the configs."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SVC = "svc.cluster.local"


def _vs(name: str, namespace: str, hosts: list[str], tcp: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"hosts": hosts, "tcp": tcp, **spec},
    }


def _to(host: str, weight: int = 0, subset: str = "", port: int = 0) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host}
    if subset:
        destination["subset"] = subset
    if port:
        destination["port"] = {"number": port}
    return {"destination": destination, **({"weight": weight} if weight else {})}


MESH: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "db", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 5432, "name": "tcp"}]},
        {"name": "db-next", "namespace": "a", "ports": [{"port": 5432, "name": "tcp"}]},
        {"name": "cache", "namespace": "a", "ports": [{"port": 6379, "name": "cache"}, {"port": 6380, "name": "tcp"}]},
        {"name": "queue", "namespace": "b", "ip_families": ["IPv6", "IPv4"], "ports": [{"port": 9092, "name": "tcp"}]},
        {
            "name": "vault",
            "namespace": "b",
            "ports": [
                {"port": 8200, "name": "https"},
                {"port": 8201, "name": "tcp"},
                {"port": 8202, "name": "web", "protocol": "TLS"},  # as appProtocol: tls gives it
                {"port": 8203, "name": "https-admin", "protocol": "TCP"},  # as appProtocol: tcp gives it
            ],
        },
    ],
    "workloads": [
        {"name": "db", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "labels": {"version": "v1"}},
        {"name": "db-next", "namespace": "a"},
        {"name": "cache", "namespace": "a", "calls": ["a/db", "b/queue"]},
        {"name": "queue", "namespace": "b", "ip_families": ["IPv4", "IPv6"], "calls": ["a/db", "a/cache"]},
        {"name": "vault", "namespace": "b"},
    ],
    "destination_rules": [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "db", "namespace": "a"},
            "spec": {"host": "db", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]},
        }
    ],
    "virtual_services": [
        # A weighted split (one destination an IPv4-only service), a match on another port first.
        _vs(
            "db",
            "a",
            ["db"],
            [
                {"match": [{"port": 9999}], "route": [_to("db-next")]},
                {"route": [_to("db", 90, subset="v1"), _to("db-next.a.svc.cluster.local", 10)]},
            ],
        ),
        # A sniffed port (6379, named "cache") and a TCP one; only 6379 is matched.
        _vs("cache", "a", ["cache"], [{"match": [{"port": 6379}], "route": [_to("db", port=5432)]}]),
        # Private to b: only b's proxies apply it.
        _vs("queue", "b", ["queue"], [{"route": [_to("db.a.svc.cluster.local")]}], exportTo=["."]),
        # [100, 0]: still a split (the count decides); on the https port Istio builds no TCP route.
        _vs("vault", "b", ["vault"], [{"route": [_to("vault", 100, port=8201), _to("queue.b.svc.cluster.local")]}]),
    ],
    "synthetic": {"services": 4, "namespaces": 2},
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _chains(cluster: Cluster, proxy: str, design: str) -> dict[str, Any]:
    """Each outbound service listener's TCP chain (its default chain, a sniffed port's; else its
    last), by listener name."""
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design(design))
    wildcard = ("0.0.0.0_", "::_", "virtual")
    return {
        listener.name: listener.default_filter_chain
        if listener.HasField("default_filter_chain")
        else listener.filter_chains[-1]
        for listener in config.listeners
        if not listener.name.startswith(wildcard)
    }


def _proxy_of(chain: Any) -> Any:
    from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2

    found = tcp_proxy_pb2.TcpProxy()
    chain.filters[-1].typed_config.Unpack(found)
    return found


def test_routes_give_the_chains_istio_builds(mesh: Cluster) -> None:
    assert "tcp" not in " ".join(istio_record(mesh)["notes"])
    chains = _chains(mesh, "a/cache", "single-stack")
    index = index_for(mesh)
    views = [index.service(s) for s in range(len(mesh.services))]
    vip = {v.host: v.facts.vips[v.facts.families[0]] for v in views}  # single-stack: the primary VIP
    split = _proxy_of(chains[f"{vip[f'db.a.{SVC}']}_5432"])
    assert split.stat_prefix == "db.a"
    assert [(c.name, c.weight) for c in split.weighted_clusters.clusters] == [
        (f"outbound|5432|v1|db.a.{SVC}", 90),
        (f"outbound|5432||db-next.a.{SVC}", 10),
    ]
    assert (
        chains[f"{vip[f'db.a.{SVC}']}_5432"]
        .metadata.filter_metadata["istio"]["config"]
        .endswith("/namespaces/a/virtual-service/db")
    )
    assert _proxy_of(chains[f"{vip[f'cache.a.{SVC}']}_6379"]).cluster == f"outbound|5432||db.a.{SVC}"
    assert _proxy_of(chains[f"{vip[f'cache.a.{SVC}']}_6380"]).cluster == f"outbound|6380||cache.a.{SVC}"
    # The private VirtualService: a's proxies keep queue's own cluster, b's use the route.
    assert _proxy_of(chains[f"{vip[f'queue.b.{SVC}']}_9092"]).cluster == f"outbound|9092||queue.b.{SVC}"
    b_chains = _chains(mesh, "b/queue", "single-stack")
    # No port named: the destination's only port (GetDestinationCluster).
    assert _proxy_of(b_chains[f"{vip[f'queue.b.{SVC}']}_9092"]).cluster == f"outbound|5432||db.a.{SVC}"


def test_weights_of_zero_and_tls_ports(mesh: Cluster) -> None:
    chains = _chains(mesh, "a/cache", "single-stack")
    index = index_for(mesh)
    vip = index.vip4[index.hosts.index(f"vault.b.{SVC}")]
    split = _proxy_of(chains[f"{vip}_8201"])
    assert (split.stat_prefix, [(c.name, c.weight) for c in split.weighted_clusters.clusters]) == (
        "vault.b",
        [(f"outbound|8201||vault.b.{SVC}", 100)],
    )
    assert _proxy_of(chains[f"{vip}_8200"]).cluster == f"outbound|8200||vault.b.{SVC}"  # https: no tcp[] route
    # The protocol decides, not the name: TLS by its protocol has none, TCP by its protocol has one.
    assert _proxy_of(chains[f"{vip}_8202"]).cluster == f"outbound|8202||vault.b.{SVC}"
    assert [c.name for c in _proxy_of(chains[f"{vip}_8203"]).weighted_clusters.clusters] == [
        f"outbound|8201||vault.b.{SVC}"  # the route's own port
    ]


def test_duplicate_drops_a_destination_without_the_copys_family(mesh: Cluster) -> None:
    """The IPv6 copy of db's listener under ``duplicate``: db-next has no IPv6, so only db's IPv6
    cluster is left, and a single destination is a plain ``cluster`` (inferred, as for HTTP routes)."""
    chains = _chains(mesh, "b/queue", "duplicate")
    ipv6 = [name for name in chains if name.endswith("_5432") and ":" in name]
    assert len(ipv6) == 1
    assert _proxy_of(chains[ipv6[0]]).cluster == f"outbound6|5432|v1|db.a.{SVC}"


def test_accounting_is_byte_exact_every_design(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_design(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_generated_virtual_services_can_carry_tcp_routes() -> None:
    """``istio_objects.virtual_services.tcp``: each generated VirtualService also gets a TCP route to
    its default route's destinations; the services' TCP ports then proxy by it, both paths agree, and
    without it the seed's objects are the same but for the TCP routes (it draws nothing)."""
    objects = {"virtual_services": {"share": 1.0, "routes": 2, "destinations": 2, "tcp": True}}
    objects["destination_rules"] = {"share": 1.0, "subsets": 2}
    synthetic = {"services": 16, "namespaces": 2, "protocols": {"tcp": 1, "auto": 1}}
    scenario = {"name": "tcp", "seed": 5, "synthetic": synthetic, "istio_objects": objects}
    cluster = build_cluster(scenario_from_dict(scenario))
    assert all(vs.spec.tcp for vs in cluster.istio.virtual_services)
    assert_exact_every_design(cluster)
    index = index_for(cluster)
    config = proxy_config(index, 0, get_design("single-stack"))
    routed = [
        c for listener in config.listeners for c in listener.filter_chains if "istio" in c.metadata.filter_metadata
    ]
    assert routed  # TCP chains the generated routes built
    plain = {**objects, "virtual_services": {**objects["virtual_services"], "tcp": False}}
    again = build_cluster(scenario_from_dict({**scenario, "istio_objects": plain}))
    stripped = [
        dataclasses.replace(vs, spec=dataclasses.replace(vs.spec, tcp=())) for vs in cluster.istio.virtual_services
    ]
    assert tuple(stripped) == again.istio.virtual_services

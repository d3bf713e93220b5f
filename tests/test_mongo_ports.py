"""Mongo ports (``docs/istio-objects.md`` 1.10a; ``docs/dual-stack-designs.md``, "A port's
protocol"): Istio serves a port whose protocol is Mongo as TCP, with a ``mongo_proxy`` filter before
each of its chains' ``tcp_proxy``, of the same stat prefix (``buildNetworkFiltersStack``,
``PILOT_ENABLE_MONGO_FILTER`` on by default in Istio 1.30): a Service's outbound listener and its
pods' inbound chains, a VirtualService's ``tcp[]`` chain there, a ServiceEntry's Mongo port, and a
Sidecar's egress or ingress port of protocol Mongo, whatever the service port says. Both paths
agree byte for byte under every design, and the real Envoy accepts the configs."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.extensions.filters.network.mongo_proxy.v3 import mongo_proxy_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.xds.generate import ProxyConfig
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design, assert_live_over_ads
from tests.config_helpers import app_sidecar, config_of

DB = "db.b.svc.cluster.local"
MONGO = "envoy.filters.network.mongo_proxy"
TCP_PROXY = "envoy.filters.network.tcp_proxy"

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {
            "name": "db",
            "namespace": "b",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"port": 27017, "name": "mongo"},  # Mongo by its name
                {"port": 27018, "name": "replica", "protocol": "Mongo"},  # as an appProtocol would say
                {"port": 5432, "name": "tcp-pg"},
            ],
        },
    ],
    "workloads": [
        {"name": "db", "namespace": "b", "ip_families": ["IPv4", "IPv6"]},
        {"name": "client", "namespace": "a", "labels": {"app": "client"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "other", "namespace": "a", "labels": {"app": "other"}},
        {"name": "edge", "namespace": "b", "labels": {"app": "edge"}},
    ],
    "virtual_services": [
        {
            "name": "db",
            "namespace": "b",
            "spec": {
                "hosts": [DB],
                # On 27018 a split: its chain's mongo_proxy takes the split's stat prefix.
                "tcp": [
                    {
                        "match": [{"port": 27018}],
                        "route": [
                            {"destination": {"host": DB, "port": {"number": 27018}}, "weight": 90},
                            {"destination": {"host": DB, "port": {"number": 27017}}, "weight": 10},
                        ],
                    },
                    # On 5432, TCP to most proxies, Mongo under the client's egress port.
                    {"match": [{"port": 5432}], "route": [{"destination": {"host": DB, "port": {"number": 5432}}}]},
                ],
            },
        }
    ],
    "service_entries": [
        {
            "name": "atlas",
            "namespace": "a",
            "spec": {
                "hosts": ["atlas.example.com"],
                "addresses": ["240.0.0.10"],
                "ports": [{"number": 27020, "name": "mongo", "protocol": "MONGO"}],
                "resolution": "DNS",
            },
        },
        {
            "name": "legacy",
            "namespace": "a",
            "spec": {
                "hosts": ["legacy.example.com"],  # no address: a chain of the wildcard listener
                "ports": [{"number": 27019, "name": "mongo", "protocol": "MONGO"}],
                "resolution": "DNS",
            },
        },
    ],
    "sidecars": [
        app_sidecar(
            "client",
            "a",
            "client",
            egress=[
                # db's TCP port under a Mongo egress port, its Mongo port under a TCP one.
                {"port": {"number": 5432, "protocol": "MONGO", "name": "mongo"}, "hosts": ["b/*"]},
                {"port": {"number": 27017, "protocol": "TCP", "name": "tcp"}, "hosts": ["b/*"]},
                {"hosts": ["./*"]},
            ],
        ),
        app_sidecar(
            "edge",
            "b",
            "edge",
            ingress=[
                {"port": {"number": 27021, "protocol": "MONGO", "name": "mongo"}, "defaultEndpoint": "127.0.0.1:27017"},
                {"port": {"number": 5432, "protocol": "TCP", "name": "tcp"}, "defaultEndpoint": "127.0.0.1:5432"},
            ],
        ),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _mongo_prefix(chain: Any) -> str | None:
    """The stat prefix of the chain's ``mongo_proxy`` (``None``: it has none), a cluster's name
    without its direction (``outbound6|...``, a ``duplicate`` design's IPv6 copy, as ``|...``). Where
    it has one, it stands just before the ``tcp_proxy``."""
    names = [f.name for f in chain.filters]
    if MONGO not in names:
        return None
    at = names.index(MONGO)
    assert names[at + 1] == TCP_PROXY
    found = mongo_proxy_pb2.MongoProxy()
    chain.filters[at].typed_config.Unpack(found)
    prefix: str = found.stat_prefix
    return prefix[prefix.index("|") :] if "|" in prefix else prefix


def _outbound(config: ProxyConfig, port: int) -> dict[str, str | None]:
    """Per outbound listener on ``port`` (but the wildcard's): its one chain's mongo stat prefix."""
    found = {}
    for listener in config.listeners:
        if listener.name.endswith(f"_{port}") and not listener.name.startswith(("0.0.0.0", "[::]")):
            (chain,) = listener.filter_chains
            found[listener.name] = _mongo_prefix(chain)
    return found


@pytest.mark.parametrize("design", design_names())
def test_a_services_mongo_ports_proxy_through_mongo(mesh: Cluster, design: str) -> None:
    other = config_of(mesh, "a/other", design)
    assert set(_outbound(other, 27017).values()) == {f"|27017||{DB}"}
    assert set(_outbound(other, 27018).values()) == {"db.b"}  # the VirtualService's split
    assert set(_outbound(other, 5432).values()) == {None}


@pytest.mark.parametrize("design", design_names())
def test_an_egress_port_reads_its_own_protocol(mesh: Cluster, design: str) -> None:
    client = config_of(mesh, "a/client", design)
    assert set(_outbound(client, 5432).values()) == {f"|5432||{DB}"}
    assert set(_outbound(client, 27017).values()) == {None}


def _inbound(config: ProxyConfig, ports: tuple[int, ...]) -> dict[int, set[str | None]]:
    """Per own port of ``ports``: the mongo stat prefixes of its TCP chains (mTLS and plaintext, per family)."""
    prefixes: dict[int, set[str | None]] = {}
    for listener in config.listeners:
        for chain in listener.filter_chains:
            port = chain.filter_chain_match.destination_port.value
            if port in ports and TCP_PROXY in [f.name for f in chain.filters]:
                prefixes.setdefault(port, set()).add(_mongo_prefix(chain))
    return prefixes


@pytest.mark.parametrize("design", design_names())
def test_a_pods_mongo_port_proxies_through_mongo(mesh: Cluster, design: str) -> None:
    found = _inbound(config_of(mesh, "b/db", design), (27017, 27018, 5432))
    assert found == {27017: {"|27017||"}, 27018: {"|27018||"}, 5432: {None}}
    # A Sidecar's ingress port of protocol Mongo, as a Service's.
    assert _inbound(config_of(mesh, "b/edge", design), (27021, 5432)) == {27021: {"|27021||"}, 5432: {None}}


@pytest.mark.parametrize("design", design_names())
def test_a_service_entrys_mongo_port_proxies_through_mongo(mesh: Cluster, design: str) -> None:
    other = config_of(mesh, "a/other", design)
    atlas = {name.split("_")[0]: p for name, p in _outbound(other, 27020).items()}
    assert atlas["240.0.0.10"] == "|27020||atlas.example.com"
    wildcard = [listener for listener in other.listeners if listener.name.endswith("_27019")]
    assert wildcard
    assert {_mongo_prefix(c) for w in wildcard for c in w.filter_chains} == {"|27019||legacy.example.com"}


def test_accounting_is_exact_and_envoy_accepts(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)
    assert_envoy_accepts_every_proxy(mesh)


@pytest.mark.slow
@pytest.mark.parametrize("proxy", ["a/other", "b/db"])
def test_envoy_takes_the_mongo_chains_over_ads(mesh: Cluster, proxy: str) -> None:
    """Over ADS the real Envoy takes a config whose outbound (``a/other``) or inbound (``b/db``)
    chains run the ``mongo_proxy``, and goes live."""
    assert_live_over_ads(config_of(mesh, proxy, "additional-addresses"))

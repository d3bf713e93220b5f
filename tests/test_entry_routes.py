"""VirtualServices on ServiceEntry hosts (issue 16, ``docs/istio-objects.md`` 3.9): an entry's host is a
registry service, so a VirtualService naming it builds its virtual hosts (HTTP and sniffed ports) and
the chains of its TCP and sniffed listeners as it does a Service's (1.4, 1.5, 1.10): which
VirtualService a proxy walks follows exportTo and the namespace's own first, routes keep the matches
whose source conditions hold; TLS routes give a TLS port SNI chains (on its address listeners, with the
proxy's fall-through; on the wildcard listener without one, the first chain of equal server names
kept). Checked on the protobuf path, byte-exact in the accounting under every design and outbound
traffic policy, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.import_scopes import import_scopes
from dsim.pushsim.reach import virtual_service_reach
from dsim.xds.generate import ProxyConfig
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of, tcp_proxy_of

API, LEGACY, BACKUP, QUEUE, SNIFF, VAULT, MOVED, BANK, PAYBANK, MIRROR, VAULT_DR = (
    "api.example.com",
    "legacy.corp.internal",
    "backup.corp.internal",
    "queue.corp.internal",
    "sniff.corp.internal",
    "vault.example.com",
    "moved.corp.internal",
    "bank.example.com",
    "pay.bank.example.com",
    "mirror.bank.example.com",
    "dr.vault.example.com",
)
TLS_PORT = [{"number": 443, "name": "tls", "protocol": "TLS"}]


def _entry(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": spec}


def _vs(name: str, namespace: str, hosts: list[str], **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": {"hosts": hosts, **spec}}


def _to(host: str, weight: int = 0, port: int = 0) -> dict[str, Any]:
    destination: dict[str, Any] = {"host": host}
    if port:
        destination["port"] = {"number": port}
    return {"destination": destination, **({"weight": weight} if weight else {})}


ENTRIES = [
    _entry(  # an external API over plain HTTP, DNS on its own host
        "api", "ext", hosts=[API], ports=[{"number": 80, "name": "http", "protocol": "HTTP"}], resolution="DNS"
    ),
    _entry(  # addresses of both families: an HTTP port and a TCP port
        "legacy",
        "ext",
        hosts=[LEGACY],
        addresses=["240.0.0.10", "2001:db8::10"],
        ports=[
            {"number": 8080, "name": "http", "protocol": "HTTP"},
            {"number": 9000, "name": "tcp", "protocol": "TCP"},
        ],
        resolution="STATIC",
        endpoints=[{"address": "10.9.0.1"}, {"address": "2001:db8:9::1"}],
    ),
    _entry(
        "backup",
        "ext",
        hosts=[BACKUP],
        addresses=["240.0.0.11"],
        ports=[{"number": 9000, "name": "tcp", "protocol": "TCP"}],
        resolution="STATIC",
        endpoints=[{"address": "10.9.0.2"}],
    ),
    _entry(  # no address: its TCP port is a chain of the wildcard listener
        "queue", "ext", hosts=[QUEUE], ports=[{"number": 5672, "name": "amqp", "protocol": "TCP"}], resolution="DNS"
    ),
    _entry(  # a sniffed port on an address
        "sniff",
        "ext",
        hosts=[SNIFF],
        addresses=["240.0.0.12"],
        ports=[{"number": 7070, "name": "web"}],
        resolution="STATIC",
        endpoints=[{"address": "10.9.0.3"}],
    ),
    _entry(  # both families, every request sent to an IPv4-only host
        "moved",
        "ext",
        hosts=[MOVED],
        addresses=["240.0.0.13", "2001:db8::13"],
        ports=[{"number": 8081, "name": "http", "protocol": "HTTP"}],
        resolution="STATIC",
        endpoints=[{"address": "10.9.0.4"}, {"address": "2001:db8:9::4"}],
    ),
    # TLS ports without an address: chains of the wildcard listener 0.0.0.0_443
    _entry("vault", "ext", hosts=[VAULT], ports=TLS_PORT, resolution="DNS"),
    _entry("vault-dr", "ext", hosts=[VAULT_DR], ports=TLS_PORT, resolution="DNS"),
    # TLS ports on an address; the mirror shares the bank's, whose listener it does not get
    _entry("bank", "ext", hosts=[BANK], addresses=["240.0.0.14"], ports=TLS_PORT, resolution="DNS"),
    _entry("mirror", "ext", hosts=[MIRROR], addresses=["240.0.0.14"], ports=TLS_PORT, resolution="DNS"),
]

RETRIES = {"attempts": 5, "perTryTimeout": "2s", "retryOn": "5xx,reset"}
VIRTUAL_SERVICES = [
    _vs(  # the public policy on the API: a versioned prefix with retries, a fault-free default
        "api-policy",
        "ext",
        [API],
        http=[
            {"match": [{"uri": {"prefix": "/v1/"}}], "route": [_to(API)], "timeout": "10s", "retries": RETRIES},
            {"match": [{"uri": {"prefix": "/batch/"}, "sourceLabels": {"app": "tool"}}], "route": [_to(API)]},
            {"route": [_to(API)], "timeout": "3s"},
        ],
    ),
    # client's own: its proxies walk it first
    _vs("api-client", "client", [API], exportTo=["."], http=[{"route": [_to(API)], "timeout": "1s"}]),
    _vs(  # HTTP on 8080; TCP on 9000 split between two hosts
        "legacy",
        "ext",
        [LEGACY],
        http=[{"match": [{"headers": {"x-canary": {"exact": "1"}}}], "route": [_to(LEGACY)]}, {"route": [_to(LEGACY)]}],
        tcp=[{"match": [{"port": 9000}], "route": [_to(LEGACY, 80), _to(BACKUP, 20, port=9000)]}],
    ),
    _vs("queue", "ext", [QUEUE], tcp=[{"route": [_to(BACKUP, port=9000)]}]),
    _vs(
        "sniff",
        "ext",
        [SNIFF],
        http=[{"route": [_to(SNIFF)], "retries": {"attempts": 1}}],
        tcp=[{"route": [_to(LEGACY, port=9000)]}],
    ),
    _vs("moved", "ext", [MOVED], http=[{"route": [_to(BACKUP, port=9000)]}]),
    _vs("vault", "ext", [VAULT], tls=[{"match": [{"sniHosts": [VAULT]}], "route": [_to(BACKUP, port=9000)]}]),
    # the disaster-recovery host claims the vault's SNI too: its chains on either host conflict with
    # chains the vault's host built first, and are dropped
    _vs(
        "vault-dr",
        "ext",
        [VAULT_DR, VAULT],
        tls=[{"match": [{"sniHosts": [VAULT_DR]}, {"sniHosts": [VAULT]}], "route": [_to(VAULT_DR)]}],
    ),
    _vs(
        "bank",
        "ext",
        [BANK, PAYBANK],  # PAYBANK names no service: only an SNI here
        tls=[
            {"match": [{"sniHosts": [BANK]}], "route": [_to(BANK)]},
            {"match": [{"sniHosts": [PAYBANK], "sourceLabels": {"app": "tool"}}], "route": [_to(BACKUP, port=9000)]},
        ],
    ),
    _vs("mirror", "ext", [MIRROR], tls=[{"match": [{"sniHosts": [MIRROR]}], "route": [_to(MIRROR)]}]),
]

MESH: dict[str, Any] = {
    "name": "entry-routes",
    "visibility": "all",
    "namespaces": [{"name": n} for n in ("istio-system", "client", "tools", "ext")],
    "services": [{"name": "web", "namespace": "client", "ports": [{"port": 80, "name": "http"}]}],
    "workloads": [
        {"name": "web", "namespace": "client", "labels": {"app": "web"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "tool", "namespace": "tools", "labels": {"app": "tool"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "cron", "namespace": "tools", "labels": {"app": "cron"}},
    ],
    "service_entries": ENTRIES,
    "virtual_services": VIRTUAL_SERVICES,
    # tools' proxies send what no chain matches nowhere; the mesh's default sends it through
    "sidecars": [
        {"name": "default", "namespace": "tools", "spec": {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}}
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _vhost(config: ProxyConfig, route: str, name: str) -> rc.VirtualHost:
    (found,) = [v for r in config.routes if r.name == route for v in r.virtual_hosts if v.name == name]
    return found


def _listener(config: ProxyConfig, name: str) -> listener_pb2.Listener:
    (found,) = [listener for listener in config.listeners if listener.name == name]
    return found


def test_an_entry_host_takes_its_virtual_service_routes(mesh: Cluster) -> None:
    api = _vhost(config_of(mesh, "tools/cron"), "80", f"{API}:80")
    assert list(api.domains) == [API, f"{API}."]
    assert [r.match.prefix for r in api.routes] == ["/v1/", "/"]  # the sourceLabels match is not cron's
    versioned, default = api.routes
    assert versioned.route.cluster == f"outbound|80||{API}"
    assert (versioned.route.timeout.seconds, versioned.route.retry_policy.num_retries.value) == (10, 5)
    assert versioned.route.retry_policy.retry_on == "5xx,reset"
    assert default.route.timeout.seconds == 3
    assert versioned.metadata.filter_metadata["istio"]["config"].endswith("/namespaces/ext/virtual-service/api-policy")


def test_source_labels_and_a_namespace_own_virtual_service(mesh: Cluster) -> None:
    tool = _vhost(config_of(mesh, "tools/tool"), "80", f"{API}:80")
    assert [r.match.prefix for r in tool.routes] == ["/v1/", "/batch/", "/"]
    (own,) = _vhost(config_of(mesh, "client/web"), "80", f"{API}:80").routes
    assert own.route.timeout.seconds == 1  # client's private VirtualService, walked first


def test_tcp_routes_on_an_entry_listener_and_the_wildcard_listener(mesh: Cluster) -> None:
    config = config_of(mesh, "tools/cron")
    split = tcp_proxy_of(_listener(config, "240.0.0.10_9000").filter_chains[-1])
    assert split.stat_prefix == "legacy.ext"
    assert [(c.name, c.weight) for c in split.weighted_clusters.clusters] == [
        (f"outbound|9000||{LEGACY}", 80),
        (f"outbound|9000||{BACKUP}", 20),
    ]
    # HTTP routes on the entry's HTTP port, the header match first
    legacy = _vhost(config, "8080", f"{LEGACY}:8080")
    assert [bool(r.match.headers) for r in legacy.routes] == [True, False]
    assert "240.0.0.10" in legacy.domains
    wildcard = _listener(config, "0.0.0.0_5672")
    assert tcp_proxy_of(wildcard.filter_chains[-1]).cluster == f"outbound|9000||{BACKUP}"


def test_a_sniffed_entry_port_takes_both_kinds_of_route(mesh: Cluster) -> None:
    config = config_of(mesh, "tools/cron")
    listener = _listener(config, "240.0.0.12_7070")
    assert tcp_proxy_of(listener.default_filter_chain).cluster == f"outbound|9000||{LEGACY}"
    (route,) = _vhost(config, f"{SNIFF}:7070", f"{SNIFF}:7070").routes
    assert route.route.retry_policy.num_retries.value == 1


def test_tls_routes_give_the_wildcard_listener_its_sni_chains(mesh: Cluster) -> None:
    wildcard = _listener(config_of(mesh, "tools/cron"), "0.0.0.0_443")
    chains = {tuple(c.filter_chain_match.server_names): c for c in wildcard.filter_chains}
    # Both hosts build a chain for each name (the vault's walk reaches vault-dr's VirtualService
    # too); the vault's host comes first, so its chains stay and vault-dr's conflicting ones go.
    assert sorted(chains) == [(VAULT_DR,), (VAULT,)]
    assert tcp_proxy_of(chains[(VAULT,)]).cluster == f"outbound|9000||{BACKUP}"
    assert tcp_proxy_of(chains[(VAULT_DR,)]).cluster == f"outbound|443||{VAULT_DR}"
    config_path = chains[(VAULT,)].metadata.filter_metadata["istio"]["config"]
    assert config_path.endswith("/namespaces/ext/virtual-service/vault")


def test_tls_routes_on_an_entry_address_fall_through_by_the_proxy_policy(mesh: Cluster) -> None:
    for proxy, names, unknown in (
        ("client/web", [[BANK]], "PassthroughCluster"),
        ("tools/tool", [[BANK], [PAYBANK]], "BlackHoleCluster"),  # its own source-labelled match too
        ("tools/cron", [[BANK]], "BlackHoleCluster"),
    ):
        listener = _listener(config_of(mesh, proxy), "240.0.0.14_443")  # the bank's: the mirror's is dropped
        assert [list(c.filter_chain_match.server_names) for c in listener.filter_chains] == names
        assert tcp_proxy_of(listener.default_filter_chain).cluster == unknown
        assert listener.listener_filters[0].name == "envoy.filters.listener.tls_inspector"


def test_duplicate_routes_each_family_copy(mesh: Cluster) -> None:
    config = config_of(mesh, "tools/tool", "duplicate")
    v6 = _vhost(config, "8080.ipv6", f"{LEGACY}:8080")
    assert {r.route.cluster for r in v6.routes} == {f"outbound6|8080||{LEGACY}"}
    split = tcp_proxy_of(_listener(config, "2001:db8::10_9000").filter_chains[-1])
    # backup has no IPv6: only legacy's IPv6 cluster is left, a plain cluster
    assert split.cluster == f"outbound6|9000||{LEGACY}"


def test_a_family_copy_without_routes_still_opens_its_port(mesh: Cluster) -> None:
    """Under ``duplicate`` the IPv6 copy of ``moved``'s routes keeps no destination (backup has no
    IPv6): no virtual host there, but its HTTP port opens ``"8081.ipv6"`` as a Service's port does."""
    config = config_of(mesh, "tools/tool", "duplicate")
    assert _vhost(config, "8081", f"{MOVED}:8081").routes[0].route.cluster == f"outbound|9000||{BACKUP}"
    (v6,) = [r for r in config.routes if r.name == "8081.ipv6"]
    assert [v.name for v in v6.virtual_hosts] == ["block_all"]  # tools: REGISTRY_ONLY
    assert "::_8081" in {listener.name for listener in config.listeners}


def test_the_accounting_is_byte_exact(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


def test_real_envoy_accepts_every_config(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_an_edit_reaches_the_proxies_that_see_the_host(mesh: Cluster) -> None:
    hosts = mesh.service_hosts().tolist()
    names = mesh.namespaces["name"].tolist()
    namespace = import_scopes(mesh).namespace  # no Sidecar: a group per namespace
    reached = {
        vs.name: (
            [hosts[s] for s in r.services],
            None if r.importers is None else [names[n] for n in namespace[r.importers]],
        )
        for vs, r in zip(mesh.istio.virtual_services, virtual_service_reach(mesh), strict=True)
        if r is not None
    }
    assert reached["api-policy"] == ([API], None)
    assert reached["api-client"] == ([API], ["client"])
    assert reached["queue"] == ([QUEUE], None)


def test_a_sidecar_scope_keeps_the_entry_and_its_routes() -> None:
    """A Sidecar importing only the API from ``ext``: its proxies get the API's routes and clusters,
    and the VirtualService's destinations, none of the other entries' listeners; both paths agree."""
    sidecar = {"name": "default", "namespace": "tools", "spec": {"egress": [{"hosts": ["./*", f"ext/{API}"]}]}}
    scoped = build_cluster(scenario_from_dict({**MESH, "sidecars": [sidecar]}))
    config = config_of(scoped, "tools/cron")
    assert [r.match.prefix for r in _vhost(config, "80", f"{API}:80").routes] == ["/v1/", "/"]
    assert not any(name.endswith("_9000") or name.endswith("_7070") for name in (x.name for x in config.listeners))
    assert {c.name for c in config.clusters if "example.com" in c.name} == {f"outbound|80||{API}"}
    assert_exact_every_design(scoped)


def test_generated_entries_get_virtual_services_of_their_own() -> None:
    """``istio_objects.service_entries.virtual_services``: half the generated entries get a
    VirtualService per host routing it to itself by its port's kind, from their own random stream
    (nothing else the seed draws moves); both paths agree under every design."""
    entries = {"count": 12, "protocols": {"http": 1, "tls": 1, "tcp": 1}, "addresses_per_entry": 1}
    objects: dict[str, Any] = {
        "virtual_services": {"share": 0.5, "timeout_s": 4, "retry_attempts": 2},
        "service_entries": {**entries, "virtual_services": 0.5},
    }
    scenario = {"name": "generated", "seed": 3, "synthetic": {"services": 8, "namespaces": 2}, "istio_objects": objects}
    cluster = build_cluster(scenario_from_dict(scenario))
    plain = build_cluster(scenario_from_dict({**scenario, "istio_objects": {**objects, "service_entries": entries}}))
    assert cluster.istio.service_entries == plain.istio.service_entries
    added = cluster.istio.virtual_services[len(plain.istio.virtual_services) :]
    assert cluster.istio.virtual_services[: len(plain.istio.virtual_services)] == plain.istio.virtual_services
    by_host = {vs.spec.hosts[0]: vs for vs in added}
    routed = [e for e in cluster.istio.service_entries if e.spec.hosts[0] in by_host]
    assert len(routed) == 6  # half of 12
    assert len(added) == 6  # one host per entry
    for entry in routed:
        vs = by_host[entry.spec.hosts[0]]
        assert vs.namespace == entry.namespace
        protocol = entry.spec.ports[0].protocol
        if protocol == "HTTP":
            (route,) = vs.spec.http
            assert (route.timeout, route.retries.attempts if route.retries else 0) == (4000, 2)
        elif protocol == "TLS":
            assert vs.spec.tls[0].match[0].sni_hosts == entry.spec.hosts
        else:
            assert vs.spec.tcp[0].route[0].destination.host == entry.spec.hosts[0]
    assert {e.spec.ports[0].protocol for e in routed} == {"HTTP", "TLS", "TCP"}
    assert_exact_every_design(cluster)

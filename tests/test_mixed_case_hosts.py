"""Hosts with capital letters (issue 16, ``docs/istio-objects.md`` 1.3 and 1.4), as Istio 1.27+ builds
them (istio/istio#56090): its HTTP route builder lower-cases hosts, so a VirtualService host naming a
service but for case gives that service its HTTP routes (not its TCP ones, matched as written), and
a ServiceEntry host with a capital letter gets a lower-case virtual host whose default route names a
lower-case cluster, while its own clusters keep its case; its sniffed port's own route configuration,
looked up by the host as written, holds no virtual host. Both paths agree byte for byte, and the
real Envoy accepts every config."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dsim import build_cluster, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.vs_hosts import CASE_FOLDED, EXACT, OTHER_WAY, VsHostMatcher, http_chain, l4_chain, stronger
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

ROUTE = {"route": [{"destination": {"host": "lower.example.com", "port": {"number": 8000}}}]}
HTTP_ROUTE = [{"timeout": "3s", "route": [{"destination": {"host": "reviews.a.svc.cluster.local"}}]}]
TCP_ROUTE = [{"route": [{"destination": {"host": "reviews.a.svc.cluster.local", "port": {"number": 7001}}}]}]
SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "shop"}],
    "services": [
        {
            "name": "reviews",
            "namespace": "a",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [
                {"port": 80, "name": "http"},
                {"port": 9080, "name": "http-alt"},
                {"port": 7000, "name": "tcp", "protocol": "TCP"},
                {"port": 7001, "name": "tcp-other", "protocol": "TCP"},
            ],
        }
    ],
    "workloads": [
        {"name": "reviews", "namespace": "a", "ip_families": ["IPv4", "IPv6"]},
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"]},
        {"name": "shopper", "namespace": "shop"},
    ],
    "service_entries": [
        {
            "name": "api",
            "namespace": "a",
            "spec": {
                "hosts": ["API.Example.com"],
                "addresses": ["240.0.0.10", "2001:db8::a"],
                "ports": [
                    {"number": 80, "name": "http", "protocol": "HTTP"},
                    {"number": 8000, "name": "sniffed"},
                ],
                "resolution": "STATIC",
                "endpoints": [{"address": "192.0.2.10"}, {"address": "2001:db8::10"}],
            },
        },
        {
            "name": "lower",
            "namespace": "a",
            "spec": {
                "hosts": ["lower.example.com"],
                "addresses": ["240.0.0.11"],
                "ports": [{"number": 8000, "name": "sniffed"}],
                "resolution": "STATIC",
                "endpoints": [{"address": "192.0.2.11"}],
            },
        },
        # Inside svc.cluster.local: its short names come from its lower-cased text, for shop's proxies.
        {
            "name": "shop-api",
            "namespace": "a",
            "spec": {
                "hosts": ["Api.Shop.svc.cluster.local"],
                "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                "resolution": "DNS",
            },
        },
    ],
    # A consistent hash on each entry host: the lower-case one's default route carries it.
    "destination_rules": [
        {
            "name": host.split(".")[0].lower(),
            "namespace": "a",
            "spec": {"host": host, "trafficPolicy": {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}},
        }
        for host in ("API.Example.com", "lower.example.com")
    ],
    "virtual_services": [
        # Names the Kubernetes Service but for case: HTTP routes yes, TCP routes no.
        {
            "name": "reviews",
            "namespace": "a",
            "spec": {"hosts": ["Reviews.a.svc.cluster.local"], "http": HTTP_ROUTE, "tcp": TCP_ROUTE},
        },
        # Names the entry's host lower-cased: its HTTP routes build the entry's virtual host.
        {
            "name": "api",
            "namespace": "a",
            "spec": {
                "hosts": ["api.example.com"],
                "http": [{"timeout": "5s", "route": [{"destination": {"host": "API.Example.com"}}]}],
            },
        },
    ],
}
WEB, SHOPPER = 1, 2
DESIGN = "single-stack"


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _config(cluster: Cluster, design: str = DESIGN, proxy: int = WEB) -> Any:
    return proxy_config(index_for(cluster), proxy, get_design(design))


def _vhosts(config: Any, route: str) -> dict[str, Any]:
    return {v.name: v for r in config.routes if r.name == route for v in r.virtual_hosts}


def test_a_virtual_service_host_naming_a_service_but_for_case_gives_its_http_routes(mesh: Cluster) -> None:
    config = _config(mesh)
    for port in (80, 9080):
        vhost = _vhosts(config, str(port))[f"reviews.a.svc.cluster.local:{port}"]
        assert [r.route.timeout.seconds for r in vhost.routes] == [3], port
        # No virtual host of its own for the host as written: it names the Service.
        assert not any(name.startswith("Reviews") for name in _vhosts(config, str(port)))
    assert any("but for case" in note for note, _ in mesh.istio.notes)
    assert not any("names no service in the mesh" in note for note, _ in mesh.istio.notes)


def test_its_tcp_routes_do_not_apply_matched_as_written(mesh: Cluster) -> None:
    listeners = {listener.name: listener for listener in _config(mesh).listeners}
    chain = listeners[next(name for name in listeners if name.endswith("_7000"))].filter_chains[-1]
    assert b"outbound|7000||reviews" in chain.filters[-1].typed_config.value
    assert b"7001" not in chain.filters[-1].typed_config.value


def test_an_entry_host_with_capitals_is_routed_lower_case_and_clustered_as_written(mesh: Cluster) -> None:
    config = _config(mesh)
    vhost = _vhosts(config, "80")["api.example.com:80"]
    assert list(vhost.domains)[:2] == ["api.example.com", "api.example.com."]
    # Its VirtualService (hosts lower-case) routes it; its destination keeps the case written.
    assert [(r.route.cluster, r.route.timeout.seconds) for r in vhost.routes] == [("outbound|80||API.Example.com", 5)]
    clusters = {c.name for c in config.clusters}
    assert {"outbound|80||API.Example.com", "outbound|8000||API.Example.com"} <= clusters
    assert "outbound|80||api.example.com" not in clusters


def test_the_default_route_names_the_lower_case_cluster() -> None:
    unrouted = copy.deepcopy(SCENARIO)
    unrouted["virtual_services"] = unrouted["virtual_services"][:1]
    config = _config(build_cluster(scenario_from_dict(unrouted)))
    vhost = _vhosts(config, "80")["api.example.com:80"]
    assert [(r.route.cluster, r.decorator.operation) for r in vhost.routes] == [
        ("outbound|80||api.example.com", "api.example.com:80/*")
    ]
    # Its DestinationRule, looked up by the lower-cased host, is not found: no hash on the route.
    assert not vhost.routes[0].route.hash_policy
    sniffed = next(r for r in config.routes if r.name == "lower.example.com:8000")
    assert sniffed.virtual_hosts[0].routes[0].route.hash_policy  # the lower-case host's is


def test_short_names_come_from_the_lower_cased_host(mesh: Cluster) -> None:
    vhost = _vhosts(_config(mesh, proxy=SHOPPER), "80")["api.shop.svc.cluster.local:80"]
    assert list(vhost.domains) == [
        "api.shop.svc.cluster.local",
        "api.shop.svc.cluster.local.",
        "api",
        "api.shop.svc",
        "api.shop",
    ]


def test_a_sniffed_port_of_a_host_with_capitals_has_an_empty_route_configuration(mesh: Cluster) -> None:
    config = _config(mesh)
    own = {r.name: list(r.virtual_hosts) for r in config.routes if ":" in r.name}
    assert own["API.Example.com:8000"] == []
    assert [v.name for v in own["lower.example.com:8000"]] == ["lower.example.com:8000"]
    listeners = {listener.name for listener in config.listeners}
    assert "240.0.0.10_8000" in listeners  # the listener stands, naming the empty route configuration


def test_both_paths_agree(mesh: Cluster) -> None:
    assert_exact_every_design(mesh)


@pytest.mark.slow
def test_envoy_accepts_every_config(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_the_matcher_folds_case_for_exact_hosts_only() -> None:
    hosts = ["reviews.a.svc.cluster.local", "API.Example.com", "*.Wiki.org"]
    matcher = VsHostMatcher(hosts, [0, 1, 2])
    assert matcher.named("reviews.a.svc.cluster.local") == {0: EXACT}
    assert matcher.named("Reviews.a.svc.cluster.local") == {0: CASE_FOLDED}
    assert matcher.named("api.example.com") == {1: CASE_FOLDED}
    assert matcher.named("API.Example.com") == {1: EXACT}
    assert matcher.named("*.example.com") == {}  # a wildcard host is compared as written
    # Istio's wildcard index misses a host with a capital letter: TCP and TLS routes only.
    assert matcher.named("*.Example.com") == {1: OTHER_WAY}
    assert matcher.named("en.Wiki.org") == {2: OTHER_WAY}


def test_case_folded_claims_are_http_only() -> None:
    assert stronger(CASE_FOLDED, EXACT) == EXACT
    assert stronger(CASE_FOLDED, OTHER_WAY) == EXACT  # HTTP by one host, TCP and TLS by the other
    assert stronger(CASE_FOLDED, 12) == EXACT
    assert stronger(CASE_FOLDED, CASE_FOLDED) == CASE_FOLDED
    how = {0: CASE_FOLDED, 1: 12, 2: OTHER_WAY, 3: EXACT, 4: 14}
    # Naming it but for case leaves the wildcard index to the most specific wildcard: both build, in walk order.
    assert http_chain((1, 0, 2), how) == (1, 0)
    assert http_chain((0, 1, 4), how) == (0, 4)
    assert http_chain((1, 0, 3), how) == (0, 3)  # an exact one keeps the wildcard out
    assert l4_chain((0, 1, 2), how) == (1, 2)
    assert http_chain((1, 2), how) == (1,)
    assert http_chain((2,), how) == ()


def _entry(name: str, host: str, ports: dict[int, str], address: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "hosts": [host],
        "ports": [{"number": n, "name": f"p{n}", **({"protocol": p} if p else {})} for n, p in ports.items()],
        "resolution": "STATIC" if address else "DNS",
    }
    if address:
        spec |= {"addresses": [address], "endpoints": [{"address": "192.0.2.30"}]}
    return {"name": name, "namespace": "a", "spec": spec}


TWINS: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "reviews", "namespace": "a", "cluster_ips": ["10.96.0.9"], "ports": [{"port": 80, "name": "http"}]}
    ],
    "workloads": [
        {"name": "reviews", "namespace": "a"},
        {"name": "web", "namespace": "a"},
        {"name": "viewer", "namespace": "b"},
    ],
    "service_entries": [
        # 8000 sniffed: rides in the "8000" two's HTTP port opens; 9000 sniffed in both: rides nowhere.
        _entry("one", "api.example.com", {80: "HTTP", 8000: "", 9000: ""}, "240.0.0.20"),
        _entry("two", "API.example.com", {80: "HTTP", 8000: "HTTP", 9000: ""}, "240.0.0.21"),
        _entry("three", "Reviews.a.svc.cluster.local", {80: "HTTP"}),  # the Service reviews' twin
    ],
    # Namespace a's own view of both twins (exportTo .): they are priced per view, too.
    "virtual_services": [
        {
            "name": "private",
            "namespace": "a",
            "spec": {"hosts": ["api.example.com"], "exportTo": ["."], "http": [{"timeout": "2s", **ROUTE}]},
        }
    ],
    # b sees the earlier twins alone.
    "sidecars": [
        {
            "name": "default",
            "namespace": "b",
            "spec": {"egress": [{"hosts": ["*/api.example.com", "a/reviews.a.svc.cluster.local"]}]},
        }
    ],
}
TWIN_WEB, TWIN_VIEWER = 1, 2


@pytest.fixture(scope="module")
def twins() -> Cluster:
    return build_cluster(scenario_from_dict(TWINS))


def _domains(config: Any, route: str, vhost: str) -> list[str]:
    return [d for r in config.routes if r.name == route for v in r.virtual_hosts if v.name == vhost for d in v.domains]


def test_of_hosts_equal_but_for_case_a_proxy_seeing_both_gets_the_later_ones(twins: Cluster) -> None:
    config = _config(twins, proxy=TWIN_WEB)
    for route in ("80", "8000"):
        names = [v.name for r in config.routes if r.name == route for v in r.virtual_hosts]
        assert names.count(f"api.example.com:{route}") == 1, route
        domains = _domains(config, route, f"api.example.com:{route}")
        assert "240.0.0.21" in domains, route
        assert "240.0.0.20" not in domains, route
    # The entry written after the Service stands: no ClusterIP among the domains.
    assert "10.96.0.9" not in _domains(config, "80", "reviews.a.svc.cluster.local:80")
    assert "reviews" in _domains(config, "80", "reviews.a.svc.cluster.local:80")
    # Both keep their clusters, named as written.
    clusters = {c.name for c in config.clusters}
    assert {"outbound|80||api.example.com", "outbound|80||API.example.com"} <= clusters
    noted = [n for note, n in twins.istio.notes if note.startswith("Registry host equal to a later one but for case")]
    assert noted == [2]


def test_a_proxy_seeing_the_earlier_alone_gets_it(twins: Cluster) -> None:
    config = _config(twins, proxy=TWIN_VIEWER)
    assert "240.0.0.20" in _domains(config, "80", "api.example.com:80")
    assert "10.96.0.9" in _domains(config, "80", "reviews.a.svc.cluster.local:80")


def test_twins_both_paths_agree(twins: Cluster) -> None:
    assert_exact_every_design(twins)


@pytest.mark.slow
def test_envoy_accepts_the_twins(twins: Cluster) -> None:
    assert_envoy_accepts_every_proxy(twins)


def test_a_wildcard_virtual_service_misses_a_host_with_a_capital_letter() -> None:
    """``*.example.com`` covers ``API.Example.com`` lower-cased, so it builds no virtual host of its
    own, and Istio's wildcard index, keyed by the host as written, gives it none of the host's."""
    wild = copy.deepcopy(SCENARIO)
    wild["virtual_services"] = [
        {"name": "wild", "namespace": "a", "spec": {"hosts": ["*.example.com"], "http": [{"timeout": "7s", **ROUTE}]}}
    ]
    cluster = build_cluster(scenario_from_dict(wild))
    vhosts = _vhosts(_config(cluster), "80")
    assert "*.example.com:80" not in vhosts
    assert [r.route.timeout.seconds for r in vhosts["api.example.com:80"].routes] == [0]
    assert_exact_every_design(cluster)


def test_sidecar_egress_hosts_are_matched_as_written() -> None:
    """Istio's egress hosts compare hosts case-sensitively: ``./API.EXAMPLE.COM`` imports neither
    ``API.Example.com`` nor the VirtualService written ``api.example.com`` (whose destination would
    bring the host's clusters), ``./REVIEWS...`` neither ``reviews`` nor the one written ``Reviews...``."""
    scoped = copy.deepcopy(SCENARIO)
    egress = ["./API.EXAMPLE.COM", "./REVIEWS.a.svc.cluster.local", "./lower.example.com"]
    scoped["sidecars"] = [{"name": "default", "namespace": "a", "spec": {"egress": [{"hosts": egress}]}}]
    cluster = build_cluster(scenario_from_dict(scoped))
    clusters = {c.name for c in _config(cluster).clusters}
    assert "outbound|8000||lower.example.com" in clusters
    assert not any("API.Example.com" in name or "reviews" in name for name in clusters)
    assert_exact_every_design(cluster)

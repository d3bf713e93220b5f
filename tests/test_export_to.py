"""exportTo of VirtualServices and DestinationRules, and which rule a namespace applies (issue 16;
``docs/istio-objects.md`` 1.4, 2.2 and 4.4): each proxy gets the objects its namespace sees, on the
protobuf path and in the vectorized accounting alike, byte for byte, under every design."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.designs import get_design
from dsim.report.review import istio_sentence
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.config_helpers import config_of

REVIEWS = "reviews.shop.svc.cluster.local"
RATINGS = "ratings.pay.svc.cluster.local"


def _vs(name: str, namespace: str, host: str, route: list[dict[str, Any]], export: list[str] | None = None) -> Any:
    spec: dict[str, Any] = {"hosts": [host], "http": [{"route": route}]}
    if export is not None:
        spec["exportTo"] = export
    return {"name": name, "namespace": namespace, "spec": spec}


def _dr(name: str, namespace: str, host: str, export: list[str] | None = None, **spec: Any) -> Any:
    body: dict[str, Any] = {"host": host, **spec}
    if export is not None:
        body["exportTo"] = export
    return {"name": name, "namespace": namespace, "spec": body}


def _subset(version: str) -> dict[str, Any]:
    return {"name": version, "labels": {"version": version}}


MESH: dict[str, Any] = {
    "name": "export-to",
    "namespaces": [{"name": n} for n in ("shop", "pay", "client", "other", "istio-system")],
    "services": [
        {
            "name": "reviews",
            "namespace": "shop",
            "ip_families": ["IPv4", "IPv6"],
            "ports": [{"port": 9080, "name": "http"}],
        },
        {"name": "ratings", "namespace": "pay", "ports": [{"port": 8080, "name": "http"}]},
        {"name": "db", "namespace": "pay", "ports": [{"port": 5432, "name": "tcp"}]},
    ],
    "workloads": [
        {"name": "reviews-v1", "namespace": "shop", "labels": {"app": "reviews", "version": "v1"}, "replicas": 2},
        {"name": "reviews-v2", "namespace": "shop", "labels": {"app": "reviews", "version": "v2"}},
        {"name": "ratings", "namespace": "pay", "labels": {"app": "ratings"}},
        {"name": "db", "namespace": "pay", "labels": {"app": "db"}},
        {"name": "client", "namespace": "client", "ip_families": ["IPv4"]},
        {"name": "other", "namespace": "other"},
    ],
    "virtual_services": [
        _vs("reviews", "shop", "reviews", [{"destination": {"host": "reviews", "subset": "v1"}}]),
        # The client's own routes for reviews, private to it: it walks them before the public one.
        _vs(
            "reviews-canary",
            "client",
            REVIEWS,
            [
                {"destination": {"host": REVIEWS, "subset": "v1"}, "weight": 80},
                {"destination": {"host": REVIEWS, "subset": "v2"}, "weight": 20},
            ],
            export=["."],
        ),
        # Exported to `other` by name: `other` walks it before the public one.
        _vs("reviews-other", "shop", "reviews", [{"destination": {"host": "reviews", "subset": "v2"}}], ["other"]),
        # Private to `pay`: everyone else keeps ratings' default route.
        _vs("ratings", "pay", "ratings", [{"destination": {"host": "ratings"}, "weight": 100}], export=["."]),
    ],
    "destination_rules": [
        _dr(
            "reviews",
            "shop",
            "reviews",
            subsets=[_subset("v1"), _subset("v2")],
            trafficPolicy={"outlierDetection": {"consecutive5xxErrors": 3}},
        ),
        # Same host, namespace and exportTo: merged into the rule above (its subset v3 added).
        _dr("reviews-more", "shop", "reviews", subsets=[_subset("v3")]),
        # The client's own rule for reviews: its proxies apply it before the service's namespace's.
        _dr(
            "reviews-client",
            "client",
            REVIEWS,
            export=["."],
            subsets=[_subset("v1")],
            trafficPolicy={"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}},
        ),
        # Exported to `client` only: not even `pay` applies it (it is not private, nor exported to pay).
        _dr(
            "ratings",
            "pay",
            "ratings",
            export=["client"],
            trafficPolicy={"connectionPool": {"tcp": {"maxConnections": 7}}},
        ),
        # The root namespace's public rule: whoever finds none in its own or ratings' namespace.
        _dr("ratings-root", "istio-system", RATINGS, trafficPolicy={"tls": {"mode": "DISABLE"}}),
        # `other` applies its own rule to db; nobody else has one.
        _dr("db", "other", "db.pay.svc.cluster.local", trafficPolicy={"tls": {"mode": "DISABLE"}}),
    ],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _routes(config: ProxyConfig, route_name: str, host: str) -> list[Any]:
    (found,) = [r for r in config.routes if r.name == route_name]
    return list(next(v for v in found.virtual_hosts if v.name.startswith(host)).routes)


def _clusters(config: ProxyConfig) -> dict[str, cluster_pb2.Cluster]:
    return {c.name: c for c in config.clusters}


def test_each_namespace_walks_its_own_virtual_services_first(mesh: Cluster) -> None:
    targets = {}
    for proxy in ("shop/reviews-v1", "client/client", "other/other", "pay/ratings"):
        (route,) = _routes(config_of(mesh, proxy), "9080", REVIEWS)
        action = route.route
        targets[proxy] = [c.name for c in action.weighted_clusters.clusters] or [action.cluster]
    assert targets == {
        "shop/reviews-v1": [f"outbound|9080|v1|{REVIEWS}"],  # public
        "client/client": [f"outbound|9080|v1|{REVIEWS}", f"outbound|9080|v2|{REVIEWS}"],  # private to client
        "other/other": [f"outbound|9080|v2|{REVIEWS}"],  # exported to other by name
        "pay/ratings": [f"outbound|9080|v1|{REVIEWS}"],
    }
    # ratings' VirtualService is private to pay: elsewhere its default route.
    (own,) = _routes(config_of(mesh, "pay/ratings"), "8080", RATINGS)
    assert "virtual-service/ratings" in own.metadata.filter_metadata["istio"]["config"]
    assert not _routes(config_of(mesh, "client/client"), "8080", RATINGS)[0].HasField("metadata")


def test_each_namespace_applies_the_rule_istio_picks(mesh: Cluster) -> None:
    shop, client = _clusters(config_of(mesh, "shop/reviews-v1")), _clusters(config_of(mesh, "client/client"))
    other, pay = _clusters(config_of(mesh, "other/other")), _clusters(config_of(mesh, "pay/ratings"))
    # The service's namespace's merged rule: subsets of both rules, the first one's outlier detection.
    assert {n for n in shop if REVIEWS in n} == {f"outbound|9080|{s}|{REVIEWS}" for s in ("", "v1", "v2", "v3")}
    assert shop[f"outbound|9080||{REVIEWS}"].outlier_detection.consecutive_5xx.value == 3
    # The client's own rule: its subset only, a hash ring, and the hash on the routes to reviews.
    assert {n for n in client if REVIEWS in n} == {f"outbound|9080|{s}|{REVIEWS}" for s in ("", "v1")}
    assert client[f"outbound|9080||{REVIEWS}"].lb_policy == cluster_pb2.Cluster.RING_HASH
    (route,) = _routes(config_of(mesh, "client/client"), "9080", REVIEWS)
    # A split route appends each hashed destination's policy (v2 falls back to the rule's own).
    assert [h.header.header_name for h in route.route.hash_policy] == ["x-user", "x-user"]
    # ratings: client applies pay's rule exported to it; pay itself and the rest the root's public one.
    assert client[f"outbound|8080||{RATINGS}"].circuit_breakers.thresholds[0].max_connections.value == 7
    for seen in (pay, shop, other):
        assert seen[f"outbound|8080||{RATINGS}"].circuit_breakers.thresholds[0].max_connections.value != 7
        assert (
            "destination-rule/ratings-root"
            in seen[f"outbound|8080||{RATINGS}"].metadata.filter_metadata["istio"]["config"]
        )
    # db: only `other` has a rule, its own.
    db = "outbound|5432||db.pay.svc.cluster.local"
    assert not other[db].transport_socket_matches
    assert not other[db].HasField("transport_socket")
    assert shop[db].transport_socket_matches


def test_the_views_are_recorded(mesh: Cluster) -> None:
    views = mesh.object_views
    names = mesh.namespaces["name"].to_numpy()[mesh.viewer_namespaces()]
    assert sorted(set(names[views["viewer"].to_numpy()].tolist())) == ["client", "other", "pay"]
    record = istio_record(mesh)
    assert record["own_views"] == {"namespaces": 3, "services": 3}
    assert "3 namespaces apply a VirtualService or DestinationRule of their own" in istio_sentence(record)
    notes = record["notes"]
    assert isinstance(notes, dict)
    assert not any("exportTo" in key and "not modelled" in key for key in notes)
    assert any("merged" in key and count == 1 for key, count in notes.items())


@pytest.mark.parametrize("visibility", ["all", "namespace", "dependencies"])
def test_accounting_is_byte_exact_in_every_view(visibility: str) -> None:
    scenario = {**MESH, "visibility": visibility, "synthetic": {"services": 12, "namespaces": 2}}
    if visibility == "dependencies":
        calls = {
            "client": ["shop/reviews", "pay/ratings"],
            "other": ["shop/reviews", "pay/db"],
            "ratings": ["shop/reviews"],
        }
        scenario["workloads"] = [{**w, "calls": calls.get(w["name"], [])} for w in MESH["workloads"]]
    cluster = build_cluster(scenario_from_dict(scenario))
    assert len(cluster.object_views)
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_accounting_is_byte_exact_under_sidecars() -> None:
    """A Sidecar importing only its namespace and reviews: the VirtualService private to the client
    is imported with its host, and the rule its namespace applies shapes the clusters."""
    sidecar = {"name": "default", "namespace": "client", "spec": {"egress": [{"hosts": ["./*", f"shop/{REVIEWS}"]}]}}
    cluster = build_cluster(scenario_from_dict({**MESH, "sidecars": [sidecar]}))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)
    client = _clusters(config_of(cluster, "client/client"))
    assert {n for n in client if n.startswith("outbound|")} == {f"outbound|9080|{s}|{REVIEWS}" for s in ("", "v1")}


def test_real_envoy_accepts_every_view(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_rules_merge_as_istio_merges_them() -> None:
    """``mergeDestinationRule``: two rules for one host with no exportTo merge (the second's
    top-level policy taken, as the first has none; the first's subset keeps its own policy); a
    third with ``exportTo: ["*"]`` is another entry (Istio compares the values as written), and
    being the last found it is the one applied: its policy, its subsets only."""
    own_policy = {**_subset("v1"), "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}}
    a = _dr("a", "default", "web", subsets=[own_policy])
    outliers = {"outlierDetection": {"consecutive5xxErrors": 4}}
    b = _dr("b", "default", "web", subsets=[_subset("v2")], trafficPolicy=outliers)
    c = _dr("c", "default", "web", export=["*"], trafficPolicy={"loadBalancer": {"simple": "ROUND_ROBIN"}})
    mesh = {
        "name": "merged-rules",
        "namespaces": [{"name": "default"}],
        "services": [{"name": "web", "namespace": "default", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            {"name": f"web-{v}", "namespace": "default", "labels": {"app": "web", "version": v}} for v in ("v1", "v2")
        ],
    }
    host = "web.default.svc.cluster.local"
    two = build_cluster(scenario_from_dict({**mesh, "destination_rules": [a, b]}))
    clusters = _clusters(proxy_config(index_for(two), 0, get_design("single-stack")))
    assert {n for n in clusters if host in n} == {f"outbound|80|{s}|{host}" for s in ("", "v1", "v2")}
    assert clusters[f"outbound|80||{host}"].outlier_detection.consecutive_5xx.value == 4
    assert clusters[f"outbound|80|v1|{host}"].lb_policy == cluster_pb2.Cluster.RANDOM
    assert clusters[f"outbound|80|v2|{host}"].lb_policy == cluster_pb2.Cluster.LEAST_REQUEST  # Istio's default
    three = build_cluster(scenario_from_dict({**mesh, "destination_rules": [a, b, c]}))
    clusters = _clusters(proxy_config(index_for(three), 0, get_design("single-stack")))
    assert {n for n in clusters if host in n} == {f"outbound|80||{host}"}
    assert clusters[f"outbound|80||{host}"].lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert not clusters[f"outbound|80||{host}"].HasField("outlier_detection")
    for cluster in (two, three):
        for design in design_names():
            assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_generated_objects_can_be_private() -> None:
    """``istio_objects.*.private``: a share of the generated VirtualServices and DestinationRules
    exported to their own namespace only. Their services' own namespace sees them, the others see
    the default route and no rule; both paths agree. A share of 0 draws nothing more (the seed's
    objects stay as they were)."""
    objects = {
        "virtual_services": {"share": 1.0, "routes": 2, "destinations": 2, "private": 0.5},
        "destination_rules": {"share": 1.0, "subsets": 2, "outlier_detection": 0.5, "private": 0.5},
    }
    scenario = {"name": "private", "seed": 3, "synthetic": {"services": 20, "namespaces": 3}, "istio_objects": objects}
    cluster = build_cluster(scenario_from_dict(scenario))
    private = [o for o in (*cluster.istio.virtual_services, *cluster.istio.destination_rules) if o.spec.export_to]
    assert 10 <= len(private) <= 30
    assert {o.spec.export_to for o in private} == {(".",)}
    assert len(cluster.object_views)
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)
    public = {kind: {k: v for k, v in params.items() if k != "private"} for kind, params in objects.items()}
    again = build_cluster(scenario_from_dict({**scenario, "istio_objects": public}))
    for mine, theirs in (
        (cluster.istio.virtual_services, again.istio.virtual_services),
        (cluster.istio.destination_rules, again.istio.destination_rules),
    ):
        unmarked = [dataclasses.replace(o, spec=dataclasses.replace(o.spec, export_to=())) for o in mine]
        assert tuple(unmarked) == theirs

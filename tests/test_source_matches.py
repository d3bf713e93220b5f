"""Source conditions of VirtualService matches (issue 16; ``docs/istio-objects.md`` 1.5): a match
with ``sourceLabels``, ``sourceNamespace`` or ``gateways`` builds a route only for the proxies it
holds for (``sourceMatchHTTP``: ``gateways`` naming ``mesh`` replace the rest; ``matchTCP`` and
``matchTLS``: every condition at once). Each proxy gets its own routes and chains on both paths,
byte for byte under every design, and the real Envoy accepts them."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.cluster.sources import Condition, Source
from dsim.scenario.istio.virtual_service import HTTPMatchRequest, L4MatchAttributes
from dsim.xds.generate import ProxyConfig
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.config_helpers import config_of

REVIEWS = "reviews.shop.svc.cluster.local"


def _to(subset: str) -> list[dict[str, Any]]:
    return [{"destination": {"host": "reviews", "subset": subset}}]


ROUTES = {
    "name": "reviews",
    "namespace": "shop",
    "spec": {
        "hosts": ["reviews"],
        "http": [
            {"name": "canary", "match": [{"sourceLabels": {"track": "canary"}}], "route": _to("v2")},
            {
                "name": "from-other",
                "match": [{"sourceNamespace": "other", "headers": {"x-user": {"exact": "a"}}}],
                "route": _to("v1"),
            },
            {"name": "ingress", "match": [{"gateways": ["istio-system/ingress"]}], "route": _to("v2")},
            # gateways naming mesh: the labels are not read, every sidecar keeps it
            {
                "name": "mesh",
                "match": [{"gateways": ["mesh"], "sourceLabels": {"nobody": "x"}, "uri": {"prefix": "/m"}}],
                "route": _to("v1"),
            },
            {"name": "rest", "route": _to("v1")},
        ],
    },
}
DB_ROUTE = {
    "name": "db",
    "namespace": "shop",
    "spec": {
        "hosts": ["db"],
        "tcp": [
            # every condition at once: the canary label and the client namespace
            {
                "match": [{"sourceLabels": {"track": "canary"}, "sourceNamespace": "client"}],
                "route": [{"destination": {"host": "reviews", "port": {"number": 9080}}}],
            }
        ],
    },
}

MESH: dict[str, Any] = {
    "name": "source-matches",
    "visibility": "all",
    "namespaces": [{"name": n} for n in ("shop", "client", "other")],
    "services": [
        {"name": "reviews", "namespace": "shop", "ports": [{"port": 9080, "name": "http"}]},
        {"name": "db", "namespace": "shop", "ports": [{"port": 5432, "name": "tcp"}]},
    ],
    "workloads": [
        {"name": "reviews-v1", "namespace": "shop", "labels": {"app": "reviews", "version": "v1"}},
        {"name": "reviews-v2", "namespace": "shop", "labels": {"app": "reviews", "version": "v2"}},
        {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
        {"name": "canary", "namespace": "client", "labels": {"app": "client", "track": "canary"}, "replicas": 2},
        {"name": "stable", "namespace": "client", "labels": {"app": "client", "track": "stable"}},
        {"name": "other", "namespace": "other", "labels": {"app": "other"}},
        {"name": "other-canary", "namespace": "other", "labels": {"app": "other", "track": "canary"}},
    ],
    "destination_rules": [
        {
            "name": "reviews",
            "namespace": "shop",
            "spec": {"host": "reviews", "subsets": [{"name": v, "labels": {"version": v}} for v in ("v1", "v2")]},
        }
    ],
    "virtual_services": [ROUTES, DB_ROUTE],
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _route_names(config: ProxyConfig) -> list[str]:
    (found,) = [r for r in config.routes if r.name == "9080"]
    (vhost,) = [v for v in found.virtual_hosts if v.name.startswith(REVIEWS)]
    return [route.name for route in vhost.routes]


def _db_chain_is_routed(config: ProxyConfig) -> bool:
    (listener,) = [x for x in config.listeners if x.name.endswith("_5432")]
    return any("istio" in chain.metadata.filter_metadata for chain in listener.filter_chains)


def test_each_proxy_keeps_the_matches_that_hold_for_it(mesh: Cluster) -> None:
    # The canary match has no other condition: a catch-all, after which Istio builds no route.
    assert _route_names(config_of(mesh, "client/canary")) == ["canary"]
    assert _route_names(config_of(mesh, "other/other-canary")) == ["canary"]
    # Where it does not hold it is no catch-all: the next routes follow.
    assert _route_names(config_of(mesh, "client/stable")) == ["mesh", "rest"]
    assert _route_names(config_of(mesh, "other/other")) == ["from-other", "mesh", "rest"]
    assert _route_names(config_of(mesh, "shop/reviews-v1")) == ["mesh", "rest"]


def test_a_tcp_match_needs_every_condition(mesh: Cluster) -> None:
    assert _db_chain_is_routed(config_of(mesh, "client/canary"))
    assert not _db_chain_is_routed(config_of(mesh, "client/stable"))
    assert not _db_chain_is_routed(config_of(mesh, "other/other-canary"))  # the label, not the namespace


def test_the_conditions_are_built_not_merely_accepted(mesh: Cluster) -> None:
    ignored = istio_record(mesh)["fields accepted but not modelled"]
    assert isinstance(ignored, dict)
    assert not any(key.rsplit(".", 1)[-1] in ("sourceLabels", "sourceNamespace", "gateways") for key in ignored)
    workloads = mesh.workloads["name"].tolist()
    assert sorted(workloads[w] for w in mesh.rule_viewers["workload"].tolist()) == ["canary", "other-canary"]


def test_istios_rules_for_a_match() -> None:
    canary = Source(namespace="client", labels=frozenset({("track", "canary"), ("app", "client")}))
    http = Condition.of(HTTPMatchRequest(gateways=("mesh",), source_labels={"nobody": "x"}, source_namespace="y"))
    assert canary.holds(http)  # gateways naming mesh: nothing else is read
    assert not canary.holds(Condition.of(HTTPMatchRequest(gateways=("ns/gw",))))
    assert canary.holds(Condition.of(HTTPMatchRequest(source_labels={"track": "canary"}, source_namespace="client")))
    assert not canary.holds(Condition.of(HTTPMatchRequest(source_labels={"track": "canary"}, source_namespace="x")))
    # TCP: gateways naming mesh and the rest must all hold
    tcp = L4MatchAttributes(gateways=("mesh",), source_labels={"nobody": "x"})
    assert not canary.holds(Condition.of(tcp))
    assert canary.holds(Condition.of(L4MatchAttributes(gateways=("mesh",), source_labels={"track": "canary"})))


@pytest.mark.parametrize("design", design_names())
def test_accounting_is_byte_exact_with_source_conditions(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_source_view(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)

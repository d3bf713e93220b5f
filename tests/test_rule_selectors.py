"""DestinationRules with a workloadSelector (issue 16; ``docs/istio-objects.md`` 2.2): only the
proxies of their namespace whose labels hold the selector apply them, outbound only; the others
apply their namespace's last rule without one, or none at all where the namespace has only
selector rules for the host (Istio then does not look in the service's namespace). Inbound
clusters never take a selector rule. Both paths agree byte for byte under every design, the real
Envoy accepts every config, and an edit reaches every proxy of the rule's namespace."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.pushsim.reach import destination_rule_reach
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.rule_helpers import clusters_of, dr, pool, pool_of, rule_of

REVIEWS = "reviews.shop.svc.cluster.local"
RATINGS = "ratings.shop.svc.cluster.local"


RULES = [
    # shop's public rules, every namespace without its own applies them
    dr("reviews", "shop", "reviews", trafficPolicy={"outlierDetection": {"consecutive5xxErrors": 3}}),
    dr("ratings", "shop", "ratings", trafficPolicy=pool(5)),
    # shop's reviews pods, calling reviews, apply their own pool (their inbound cluster does not)
    dr("reviews-self", "shop", "reviews", {"app": "reviews"}, trafficPolicy=pool(11)),
    # client: canary pods get a pool and a subset; the rest the namespace's rule without a selector
    dr(
        "reviews-canary",
        "client",
        REVIEWS,
        {"app": "client", "track": "canary"},
        trafficPolicy=pool(7),
        subsets=[{"name": "v1", "labels": {"version": "v1"}}],
    ),
    dr("reviews-all", "client", REVIEWS, trafficPolicy=pool(9)),
    # ratings: client holds a selector rule only, which hides shop's rule from every other client pod
    dr("ratings-canary", "client", RATINGS, {"track": "canary"}, trafficPolicy=pool(13)),
]

MESH: dict[str, Any] = {
    "name": "rule-selectors",
    "visibility": "all",
    "namespaces": [{"name": n} for n in ("shop", "client", "other")],
    "services": [
        {"name": "reviews", "namespace": "shop", "ports": [{"port": 9080, "name": "http"}]},
        {"name": "ratings", "namespace": "shop", "ports": [{"port": 8080, "name": "http"}]},
    ],
    "workloads": [
        {"name": "reviews-v1", "namespace": "shop", "labels": {"app": "reviews", "version": "v1"}},
        {"name": "ratings", "namespace": "shop", "labels": {"app": "ratings"}},
        {"name": "canary", "namespace": "client", "labels": {"app": "client", "track": "canary"}, "replicas": 2},
        {"name": "stable", "namespace": "client", "labels": {"app": "client", "track": "stable"}},
        {"name": "other", "namespace": "other", "labels": {"app": "other"}, "ip_families": ["IPv4", "IPv6"]},
    ],
    "destination_rules": RULES,
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def test_only_the_selected_proxies_apply_a_selector_rule(mesh: Cluster) -> None:
    canary, stable = clusters_of(mesh, "client/canary"), clusters_of(mesh, "client/stable")
    other = clusters_of(mesh, "other/other")
    reviews, ratings = f"outbound|9080||{REVIEWS}", f"outbound|8080||{RATINGS}"
    assert (rule_of(canary[reviews]), pool_of(canary[reviews])) == ("reviews-canary", 7)
    assert f"outbound|9080|v1|{REVIEWS}" in canary
    assert (rule_of(stable[reviews]), pool_of(stable[reviews])) == ("reviews-all", 9)
    assert f"outbound|9080|v1|{REVIEWS}" not in stable
    # ratings: the canary's selector rule; the stable pod none at all, not shop's exported one
    assert (rule_of(canary[ratings]), pool_of(canary[ratings])) == ("ratings-canary", 13)
    assert rule_of(stable[ratings]) == ""
    assert pool_of(stable[ratings]) != 5
    # another namespace applies the service's namespace's public rules, whatever client holds
    assert rule_of(other[reviews]) == "reviews"
    assert (rule_of(other[ratings]), pool_of(other[ratings])) == ("ratings", 5)


def test_a_selector_rule_shapes_outbound_clusters_only(mesh: Cluster) -> None:
    own = clusters_of(mesh, "shop/reviews-v1")
    outbound = own[f"outbound|9080||{REVIEWS}"]
    assert (rule_of(outbound), pool_of(outbound)) == ("reviews-self", 11)
    # buildInboundCluster looks the rule up inbound: the namespace's rule without a selector
    (inbound,) = [c for name, c in own.items() if name.startswith("inbound|9080|")]
    assert rule_of(inbound) == "reviews"
    assert pool_of(inbound) != 11
    ratings = clusters_of(mesh, "shop/ratings")
    assert rule_of(ratings[f"outbound|9080||{REVIEWS}"]) == "reviews"


def test_the_viewers_are_recorded(mesh: Cluster) -> None:
    workloads = mesh.workloads["name"].tolist()
    viewers = dict(zip(mesh.rule_viewers["workload"].tolist(), mesh.rule_viewers["viewer"].tolist(), strict=True))
    assert sorted(workloads[w] for w in viewers) == ["canary", "reviews-v1"]
    assert min(viewers.values()) == len(mesh.namespaces)
    assert len(set(viewers.values())) == 2
    record = istio_record(mesh)
    assert record["own_views"] == {"namespaces": 2, "services": 2}
    notes = record["notes"]
    assert isinstance(notes, dict)
    assert not any("workloadSelector" in key for key in notes)


@pytest.mark.parametrize("design", design_names())
def test_accounting_is_byte_exact_with_selector_rules(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_accounting_is_byte_exact_with_selector_rules_under_a_sidecar() -> None:
    sidecar = {
        "name": "default",
        "namespace": "client",
        "spec": {
            "egress": [
                {"port": {"number": 9080, "protocol": "HTTP", "name": "http"}, "hosts": ["shop/*"]},
                {"hosts": ["./*", "shop/*"]},
            ]
        },
    }
    cluster = build_cluster(scenario_from_dict({**MESH, "sidecars": [sidecar]}))
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_real_envoy_accepts_every_selected_view(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_an_edit_of_a_selector_rule_reaches_its_whole_namespace(mesh: Cluster) -> None:
    names = mesh.namespaces["name"].tolist()
    reached = dict(
        zip(
            [r.name for r in mesh.istio.destination_rules if r.spec.host],
            destination_rule_reach(mesh),
            strict=True,
        )
    )
    for name in ("reviews-self", "reviews-canary", "ratings-canary"):
        ((_, namespaces),) = reached[name]
        rule = next(r for r in mesh.istio.destination_rules if r.name == name)
        assert namespaces is not None
        assert [names[n] for n in namespaces.tolist()] == [rule.namespace]
    # shop's ratings rule: every namespace but client, whose list holds only its selector rule
    ((_, namespaces),) = reached["ratings"]
    assert namespaces is not None
    assert sorted(names[n] for n in np.asarray(namespaces).tolist()) == ["other", "shop"]


def test_a_later_private_rule_without_a_selector_joins_the_selector_entry_only() -> None:
    """Istio 1.24's ``mergeDestinationRule`` (selector rules taken first, exportTo compared as
    written, ``ENABLE_ENHANCED_DESTINATIONRULE_MERGE`` on): a rule without a selector exported to
    ``.`` only, like the selector rule, is merged into the selector entry (its new subset; its
    policy, which the selector rule lacks) and, its loop ending on an equal exportTo, not kept as
    an entry of its own: the namespace's other proxies get no rule at all (istio/istio#58322,
    open). dsim builds what Istio builds, and counts it."""
    chosen = dr("mine", "client", REVIEWS, {"track": "canary"}, subsets=[{"name": "v1", "labels": {"version": "v1"}}])
    private = dr(
        "private",
        "client",
        REVIEWS,
        exportTo=["."],
        trafficPolicy=pool(21),
        subsets=[{"name": "v1", "labels": {"app": "x"}}, {"name": "v2", "labels": {"version": "v2"}}],
    )
    cluster = build_cluster(scenario_from_dict({**MESH, "destination_rules": [private, chosen]}))
    canary, stable = clusters_of(cluster, "client/canary"), clusters_of(cluster, "client/stable")
    reviews = f"outbound|9080||{REVIEWS}"
    assert {n for n in canary if REVIEWS in n} == {f"outbound|9080|{s}|{REVIEWS}" for s in ("", "v1", "v2")}
    assert (rule_of(canary[reviews]), pool_of(canary[reviews])) == ("mine", 21)
    assert {n for n in stable if REVIEWS in n} == {reviews}
    assert rule_of(stable[reviews]) == ""
    notes = istio_record(cluster)["notes"]
    assert isinstance(notes, dict)
    assert any("58322" in key and count == 1 for key, count in notes.items())
    # Its edits reach the namespace, whose proxies all list the selector entry it is merged into.
    names = cluster.namespaces["name"].tolist()
    reached = [namespaces for parts in destination_rule_reach(cluster) for _, namespaces in parts]
    assert [[names[n] for n in np.asarray(found).tolist()] for found in reached] == [["client"], ["client"]]
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_a_wider_export_merges_into_a_narrower_entry() -> None:
    """``mergeDestinationRule`` with enhanced merging: a rule whose exportTo is a superset of an
    entry's (not empty) merges into it; the entry's own policy stays (the first one's), its subsets
    are unioned, and the loop ending on a merge without selectors, the rule is no entry of its own
    in the namespace's list."""
    narrow = dr("narrow", "client", REVIEWS, exportTo=["."], trafficPolicy=pool(3), subsets=[_v("v1")])
    wide = dr("wide", "client", REVIEWS, exportTo=[".", "other"], trafficPolicy=pool(4), subsets=[_v("v2")])
    cluster = build_cluster(scenario_from_dict({**MESH, "destination_rules": [narrow, wide]}))
    reviews = f"outbound|9080||{REVIEWS}"
    for proxy in ("client/canary", "client/stable"):
        found = clusters_of(cluster, proxy)
        assert {n for n in found if REVIEWS in n} == {f"outbound|9080|{s}|{REVIEWS}" for s in ("", "v1", "v2")}
        assert (rule_of(found[reviews]), pool_of(found[reviews])) == ("narrow", 3)
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def _v(version: str) -> dict[str, Any]:
    return {"name": version, "labels": {"version": version}}

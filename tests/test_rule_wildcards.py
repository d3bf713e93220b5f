"""DestinationRules with wildcard hosts (issue 16; ``docs/istio-objects.md`` 2.2, "Wildcard hosts"):
a rule for ``*.local``, ``*.<ns>.svc.cluster.local`` or ``*`` covers every service whose host ends
as it does. Each place a proxy looks (its own namespace's rules, the service's namespace's
exported ones, the root namespace's) finds the most specific host covering the service (exact,
else the longest wildcard, ``MostSpecificHostMatch``), and a more specific host not exported to
the proxy hides a wider one that is. Both paths agree byte for byte under every design, the real
Envoy accepts every config, and an edit reaches the proxies that apply the rule."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.cluster.istio import istio_record
from dsim.cluster.rule_index import HostCoverage, HostTable, RuleEntry
from dsim.pushsim.reach import destination_rule_reach
from dsim.xds.mesh_objects import mesh_objects
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.rule_helpers import clusters_of, dr, pool, pool_of, rule_of

REVIEWS = "reviews.shop.svc.cluster.local"
RATINGS = "ratings.shop.svc.cluster.local"
WEB = "web.client.svc.cluster.local"
V1 = [{"name": "v1", "labels": {"version": "v1"}}]

RULES = [
    # the mesh-wide default: every host, for every proxy that finds nothing nearer
    dr("mesh-wide", "istio-system", "*.local", trafficPolicy=pool(1)),
    # shop's services, for everyone
    dr("shop-wide", "shop", "*.shop.svc.cluster.local", trafficPolicy=pool(2)),
    # reviews, for shop's own proxies only: exact beats shop's wildcard there
    dr("reviews-here", "shop", "reviews", exportTo=["."], trafficPolicy=pool(3)),
    # client's proxies: every host, with a subset for each
    dr("client-all", "client", "*.local", exportTo=["."], trafficPolicy=pool(4), subsets=V1),
    # ratings, for third only: for every other namespace it hides shop-wide (the most specific
    # exported host is found first, then dropped as not exported), so they fall to mesh-wide
    dr("ratings-third", "shop", "ratings", exportTo=["third"], trafficPolicy=pool(5)),
    dr("external", "other", "*.example.com", trafficPolicy=pool(6)),
    dr("nowhere", "other", "*.nowhere.org", trafficPolicy=pool(7)),
]

MESH: dict[str, Any] = {
    "name": "rule-wildcards",
    "visibility": "all",
    "namespaces": [{"name": n} for n in ("istio-system", "shop", "client", "other", "third")],
    "services": [
        {"name": "reviews", "namespace": "shop", "ports": [{"port": 9080, "name": "http"}]},
        {"name": "ratings", "namespace": "shop", "ports": [{"port": 8080, "name": "http"}]},
        {"name": "web", "namespace": "client", "ports": [{"port": 80, "name": "http"}]},
    ],
    "workloads": [
        {"name": "reviews-v1", "namespace": "shop", "labels": {"app": "reviews", "version": "v1"}},
        {"name": "reviews-v2", "namespace": "shop", "labels": {"app": "reviews", "version": "v2"}},
        {"name": "ratings", "namespace": "shop", "labels": {"app": "ratings"}},
        {"name": "web", "namespace": "client", "labels": {"app": "web"}, "replicas": 2},
        {"name": "other", "namespace": "other", "labels": {"app": "other"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "third", "namespace": "third", "labels": {"app": "third"}},
    ],
    "service_entries": [
        {
            "name": "api",
            "namespace": "other",
            "spec": {
                "hosts": ["api.example.com"],
                "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                "resolution": "DNS",
            },
        }
    ],
    "destination_rules": RULES,
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _applied(cluster: Cluster, proxy: str) -> dict[str, tuple[str, int | None]]:
    """Per service host: the rule and pool the proxy's default outbound cluster took."""
    found = clusters_of(cluster, proxy)
    out = {}
    for name, port in ((REVIEWS, 9080), (RATINGS, 8080), (WEB, 80)):
        one = found[f"outbound|{port}||{name}"]
        out[name.split(".")[0]] = (rule_of(one), pool_of(one))
    return out


def test_each_proxy_applies_the_most_specific_host_it_finds(mesh: Cluster) -> None:
    assert _applied(mesh, "shop/reviews-v1") == {
        "reviews": ("reviews-here", 3),
        "ratings": ("shop-wide", 2),
        "web": ("mesh-wide", 1),
    }
    assert _applied(mesh, "client/web") == dict.fromkeys(("reviews", "ratings", "web"), ("client-all", 4))
    assert _applied(mesh, "other/other") == {
        "reviews": ("shop-wide", 2),
        "ratings": ("mesh-wide", 1),  # ratings-third hides shop-wide, and is not exported here
        "web": ("mesh-wide", 1),
    }
    assert _applied(mesh, "third/third") == {
        "reviews": ("shop-wide", 2),
        "ratings": ("ratings-third", 5),
        "web": ("mesh-wide", 1),
    }


def test_a_wildcard_rule_gives_every_service_it_covers_its_subsets(mesh: Cluster) -> None:
    web = clusters_of(mesh, "client/web")
    for name, port in ((REVIEWS, 9080), (RATINGS, 8080), (WEB, 80)):
        subset = web[f"outbound|{port}|v1|{name}"]
        assert (rule_of(subset), pool_of(subset)) == ("client-all", 4)
    assert not any("|v1|" in name for name in clusters_of(mesh, "other/other"))
    # each subset selects the pods of its own service holding its labels
    subsets = mesh.subsets[mesh.subsets["rule"].to_numpy() >= 0]
    assert len(subsets) == 3
    members = mesh.subset_workloads[mesh.subset_workloads["subset"].isin(subsets.index)]
    names = mesh.workloads["name"].to_numpy()
    assert names[members["workload"].to_numpy()].tolist() == ["reviews-v1"]


def test_inbound_clusters_take_the_rule_their_namespace_finds(mesh: Cluster) -> None:
    for proxy, rule, port in (("shop/reviews-v1", "reviews-here", 9080), ("client/web", "client-all", 80)):
        (inbound,) = [c for name, c in clusters_of(mesh, proxy).items() if name.startswith(f"inbound|{port}|")]
        assert rule_of(inbound) == rule


def test_the_tables_record_hosts_coverage_and_the_base_view(mesh: Cluster) -> None:
    rules = mesh.destination_rules
    assert rules["host"].tolist()[:3] == ["*.local", "*.shop.svc.cluster.local", REVIEWS]
    hosts = mesh.service_hosts().to_numpy()
    covered = mesh.rule_hosts.groupby("rule")["service"].apply(lambda s: sorted(hosts[s]))
    names = rules["name"].to_numpy()
    assert {names[r]: found for r, found in covered.items()} == {
        "mesh-wide": sorted([REVIEWS, RATINGS, WEB]),
        "shop-wide": sorted([REVIEWS, RATINGS]),
        "reviews-here": [REVIEWS],
        "client-all": sorted([REVIEWS, RATINGS, WEB]),
        "ratings-third": [RATINGS],
        "external": ["api.example.com"],  # a ServiceEntry host: rules shape it as they shape a Service
    }
    base = dict(zip(hosts[mesh.base_rules["service"]], names[mesh.base_rules["rule"]], strict=True))
    assert base == {REVIEWS: "shop-wide", RATINGS: "mesh-wide", WEB: "mesh-wide", "api.example.com": "external"}


def test_rules_covering_no_service_are_counted(mesh: Cluster) -> None:
    notes = istio_record(mesh)["notes"]
    assert isinstance(notes, dict)
    assert [v for k, v in notes.items() if "names no service" in k] == [1]
    assert not [k for k in notes if "ServiceEntry host" in k]  # modelled: the entry's clusters take it


@pytest.mark.parametrize("design", design_names())
def test_the_accounting_is_byte_exact(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_config(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_an_edit_reaches_the_namespaces_that_apply_the_rule_per_service(mesh: Cluster) -> None:
    names = mesh.namespaces["name"].tolist()
    hosts = mesh.service_hosts().tolist()
    covering = [r.name for r in mesh.istio.destination_rules if r.name != "nowhere"]
    reached = {
        rule: [
            ([hosts[s].split(".")[0] for s in services], None if found is None else [names[n] for n in found])
            for services, found in parts
        ]
        for rule, parts in zip(covering, destination_rule_reach(mesh), strict=True)
    }
    assert reached == {
        # no one finds it for reviews, which shop-wide (in shop, reviews-here) covers more specifically;
        # for ratings, those namespaces without a nearer rule; for web, all but client
        "mesh-wide": [(["ratings"], ["istio-system", "other"]), (["web"], ["istio-system", "shop", "other", "third"])],
        # reviews for those without a nearer rule; ratings for shop only, whose own table finds it
        "shop-wide": [(["reviews"], ["istio-system", "other", "third"]), (["ratings"], ["shop"])],
        "reviews-here": [(["reviews"], ["shop"])],
        "client-all": [(["reviews", "ratings", "web"], ["client"])],
        "ratings-third": [(["ratings"], ["third"])],
        "external": [(["api"], None)],  # the entry's clusters, for every proxy that sees it
    }


def test_a_wildcard_host_without_a_dot_is_a_short_name() -> None:
    """``ResolveShortnameToFQDN`` leaves only ``*`` itself alone: ``*ews`` in shop is
    ``*ews.shop.svc.cluster.local``, which covers reviews (and would cover ``news``)."""
    cluster = build_cluster(scenario_from_dict({**MESH, "destination_rules": [dr("ews", "shop", "*ews")]}))
    assert cluster.destination_rules["host"].tolist() == ["*ews.shop.svc.cluster.local"]
    hosts = cluster.service_hosts().to_numpy()
    assert hosts[cluster.rule_hosts["service"]].tolist() == [REVIEWS]


def test_host_coverage_follows_istio_suffix_match() -> None:
    hosts = ["a.shop.svc.cluster.local", "b.web.svc.cluster.local", "api.example.com", "myapi.example.com"]
    coverage = HostCoverage(hosts)
    assert coverage.services("*") == (0, 1, 2, 3)
    assert coverage.services("*.local") == (0, 1)
    assert coverage.services("*.shop.svc.cluster.local") == (0,)
    assert coverage.services("*.example.com") == (2, 3)
    assert coverage.services("*api.example.com") == (2, 3)  # any text before, as HasSuffix reads it
    assert coverage.services("*.api.example.com") == ()
    assert coverage.services("api.example.com") == (2,)
    assert coverage.services("*.svc") == ()


def test_a_table_finds_the_exact_host_then_the_longest_wildcard() -> None:
    table = HostTable()
    for r, host in enumerate(["*", "*.local", "*.shop.svc.cluster.local", "a.shop.svc.cluster.local"]):
        table.entries_of(host).append(RuleEntry(members=(r,), exports=frozenset()))

    def head(host: str) -> int:
        (entry,) = table.match(host)
        return entry.head

    assert head("a.shop.svc.cluster.local") == 3
    assert head("b.shop.svc.cluster.local") == 2
    assert head("b.web.svc.cluster.local") == 1
    assert head("api.example.com") == 0
    assert np.array_equal(HostTable().match("x.local"), [])


def test_namespaces_whose_own_rules_build_alike_are_priced_once() -> None:
    """Two namespaces each holding a private ``*.local`` rule of one spec and name length build
    the same bytes: the accounting prices them as one view group (``MeshObjects.view_groups``),
    still exactly; a third whose subset selects other pods is a group of its own."""
    spaces = ("east", "west", "odd")  # east and west: one length, so one path length
    rules = [
        dr(
            "mine",
            space,
            "*.local",
            exportTo=["."],
            trafficPolicy=pool(8),
            subsets=V1 if space != "odd" else [{"name": "v1", "labels": {"version": "v2"}}],
        )
        for space in spaces
    ]
    mesh = {
        **MESH,
        "namespaces": [*MESH["namespaces"], *({"name": s} for s in spaces)],
        "workloads": [*MESH["workloads"], *({"name": s, "namespace": s, "labels": {"app": s}} for s in spaces)],
        "destination_rules": rules,
    }
    cluster = build_cluster(scenario_from_dict(mesh))
    names = cluster.namespaces["name"].tolist()
    groups = sorted(sorted(names[v] for v in viewers) for _, viewers in mesh_objects(cluster).view_groups())
    assert groups == [["east", "west"], ["odd"]]
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def test_root_namespace_proxies_read_only_the_root_private_rules() -> None:
    """In ``istio-system``, a private rule and then one exported to other too, for one host: proxies there read
    the root's private table (the private rule alone); every other proxy the exported one. The root
    namespace's own table, which Istio builds but never reads, merges nothing in."""
    rules = [
        dr("private", "istio-system", "*.local", exportTo=["."], subsets=[{"name": "v2", "labels": {"version": "v2"}}]),
        dr("public", "istio-system", "*.local", exportTo=[".", "other"], trafficPolicy=pool(12), subsets=V1),
    ]
    workloads = [*MESH["workloads"], {"name": "gateway", "namespace": "istio-system", "labels": {"app": "gateway"}}]
    cluster = build_cluster(scenario_from_dict({**MESH, "workloads": workloads, "destination_rules": rules}))
    root, other = clusters_of(cluster, "istio-system/gateway"), clusters_of(cluster, "other/other")
    reviews = f"outbound|9080||{REVIEWS}"
    assert rule_of(root[reviews]) == "private"
    assert pool_of(root[reviews]) != 12  # Istio's default thresholds, not the other rule's pool
    assert f"outbound|9080|v1|{REVIEWS}" not in root
    assert f"outbound|9080|v2|{REVIEWS}" in root
    assert (rule_of(other[reviews]), pool_of(other[reviews])) == ("public", 12)
    assert f"outbound|9080|v1|{REVIEWS}" in other
    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)

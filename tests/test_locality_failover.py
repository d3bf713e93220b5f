"""Locality failover (issue 16, ``docs/istio-objects.md`` 2.5 "Locality failover"): Istio's mesh
default turns locality load balancing on, so a cluster whose traffic policy sets outlier detection
gets its endpoint groups prioritised relative to each proxy's locality (``applyLocalityFailover``,
``util.LbPriority``: 0 the proxy's subzone, 1 its zone, 2 its region, 3 elsewhere, then renumbered
0..N). A rule's ``localityLbSetting: {enabled: false}`` turns it off. Checked on the protobuf path
against those rules, byte-exact in the accounting under every design (per proxy: two pods of one
workload in different zones get different endpoint sets), and in the real Envoy."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from envoy.config.endpoint.v3 import endpoint_pb2

from dsim import build_cluster, scenario_from_dict
from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.errors import ScenarioError
from dsim.inventory.mesh_defaults import mesh_defaults
from dsim.scenario.istio.destination_rule import LocalityFailover
from dsim.scenario.load import scenario_to_yaml
from dsim.xds.failover import compacted, distributed, lb_priority, locality_match
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design
from tests.config_helpers import config_of
from tests.rule_helpers import dr

OUTLIER = {"outlierDetection": {"consecutive5xxErrors": 5}}
EXT = "api.ext.example.com"


def _at(region: str, zone: str) -> dict[str, str]:
    return {"region": region, "zone": zone}


def _ext_entry(endpoints: list[dict[str, str]]) -> dict[str, Any]:
    """The DNS ServiceEntry of ``EXT`` (TLS on 443), in namespace a, over ``endpoints``."""
    ports = [{"number": 443, "name": "tls", "protocol": "TLS"}]
    spec = {"hosts": [EXT], "ports": ports, "resolution": "DNS", "endpoints": endpoints}
    return {"name": "ext", "namespace": "a", "spec": spec}


def _spread(name: str, namespace: str, first: dict[str, str], *others: dict[str, str]) -> dict[str, Any]:
    """A workload (label ``app: name``) with a pod in each locality given: ``others`` for the
    first pods (a workload's ``pod_localities``), ``first`` for the last."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": {"app": name},
        "replicas": 1 + len(others),
        "locality": first,
        "pod_localities": list(others),
    }


SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}, {"name": "b"}],
    "services": [
        {"name": "web", "namespace": "a", "ip_families": ["IPv4", "IPv6"], "ports": [{"port": 80, "name": "http"}]},
        {"name": "api", "namespace": "a", "ports": [{"port": 8080, "name": "http"}]},
        {"name": "db", "namespace": "b", "ports": [{"port": 5432, "name": "tcp"}]},
    ],
    "workloads": [
        {
            "name": "web",
            "namespace": "a",
            "labels": {"app": "web", "version": "v1"},
            "ip_families": ["IPv4", "IPv6"],
            "replicas": 3,
            "locality": _at("r1", "z1"),
            "pod_localities": [_at("r1", "z2"), _at("r2", "z1")],
        },
        {"name": "api", "namespace": "a", "labels": {"app": "api"}, "replicas": 2, "locality": _at("r1", "z2")},
        {
            "name": "db",
            "namespace": "b",
            "labels": {"app": "db"},
            "replicas": 2,
            "locality": _at("r2", "z1"),
            "pod_localities": [_at("r1", "z1")],
        },
        # two pods in two regions: one workload, two endpoint sets for each failing-over cluster
        _spread("client", "b", _at("r1", "z1"), _at("r2", "z1")),
    ],
    "destination_rules": [
        dr(
            "web",
            "a",
            "web.a.svc.cluster.local",
            trafficPolicy=OUTLIER,
            subsets=[
                {"name": "v1", "labels": {"version": "v1"}},
                {
                    "name": "off",
                    "labels": {"app": "web"},
                    "trafficPolicy": {"loadBalancer": {"localityLbSetting": {"enabled": False}}},
                },
            ],
        ),
        # Only namespace b's proxies apply it: their view of db fails over, the others' does not.
        dr("db", "b", "db.b.svc.cluster.local", trafficPolicy=OUTLIER, exportTo=["."]),
        dr("ext", "a", EXT, trafficPolicy=OUTLIER),
    ],
    "service_entries": [
        _ext_entry(
            [
                {"address": "east.ext.example.com", "locality": "r1/z1"},
                {"address": "east2.ext.example.com", "locality": "r1/z2/s1"},
                {"address": "west.ext.example.com", "locality": "r2/z1"},
            ]
        )
    ],
    # client's Sidecar has a port listener: the accounting takes its proxies from their messages,
    # one per (namespace, class, ..., locality).
    "sidecars": [
        {
            "name": "client",
            "namespace": "b",
            "spec": {
                "workloadSelector": {"labels": {"app": "client"}},
                "egress": [
                    {"port": {"number": 80, "protocol": "HTTP", "name": "http"}, "hosts": ["a/*"]},
                    {"hosts": ["*/*"]},
                ],
            },
        }
    ],
    "synthetic": {"services": 6, "namespaces": 2, "localities": [_at("r1", "z1"), _at("r3", "z9")]},
    "istio_objects": {"destination_rules": {"share": 0.6, "outlier_detection": 0.7}},
}


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    return build_cluster(scenario_from_dict(SCENARIO))


def _priorities(assignment: endpoint_pb2.ClusterLoadAssignment) -> dict[str, int]:
    """Each group's priority by its ``region/zone[/subzone]``."""
    found = {}
    for group in assignment.endpoints:
        where = "/".join(p for p in (group.locality.region, group.locality.zone, group.locality.sub_zone) if p)
        found[where] = group.priority
    return found


def _assignment(cluster: Cluster, proxy: str, name: str) -> endpoint_pb2.ClusterLoadAssignment:
    config = config_of(cluster, proxy)
    found = [e for e in config.endpoints if e.cluster_name == name]
    found += [c.load_assignment for c in config.clusters if c.name == name and c.HasField("load_assignment")]
    assert len(found) == 1, name
    return found[0]


def test_priorities_follow_istios_lb_priority() -> None:
    # util.LbPriority, compared field by field from the region down.
    assert lb_priority(("r1", "z1", "s1"), ("r1", "z1", "s1")) == 0
    assert lb_priority(("r1", "z1", "s1"), ("r1", "z1", "s2")) == 1
    assert lb_priority(("r1", "z1", ""), ("r1", "z2", "")) == 2
    assert lb_priority(("r1", "z1", ""), ("r2", "z1", "")) == 3
    assert lb_priority(("", "", ""), ("", "", "")) == 0  # an unlabeled proxy and unlabeled endpoints
    # applyLocalityFailover renumbers the priorities it found 0..N in order, with no gap.
    assert compacted([3, 0, 2, 3]) == [2, 0, 1, 2]
    assert compacted([2, 3]) == [0, 1]


def test_each_proxy_gets_the_groups_prioritised_from_its_own_locality(cluster: Cluster) -> None:
    web = "outbound|80||web.a.svc.cluster.local"
    # api runs in r1/z2: its own zone first, then the region's other zone, then the other region.
    assert _priorities(_assignment(cluster, "a/api", web)) == {"r1/z2": 0, "r1/z1": 1, "r2/z1": 2}
    # client's first pod runs in r2/z1 (its pod_localities), its second in r1/z1: one workload, two endpoint sets.
    assert _priorities(_assignment(cluster, "b/client-0", web)) == {"r2/z1": 0, "r1/z1": 1, "r1/z2": 1}
    assert _priorities(_assignment(cluster, "b/client-1", web)) == {"r1/z1": 0, "r1/z2": 1, "r2/z1": 2}
    # The subset inherits the rule's outlier detection, and fails over too.
    v1 = _assignment(cluster, "a/api", "outbound|80|v1|web.a.svc.cluster.local")
    assert set(_priorities(v1).values()) == {0, 1, 2}


def test_failover_needs_outlier_detection_and_an_enabled_setting(cluster: Cluster) -> None:
    # api's cluster has no rule: no outlier detection, every group at priority 0.
    assert set(_priorities(_assignment(cluster, "a/web-0", "outbound|8080||api.a.svc.cluster.local")).values()) == {0}
    # The subset's own localityLbSetting turns it off (its outlier detection still comes from the rule).
    off = _assignment(cluster, "a/api", "outbound|80|off|web.a.svc.cluster.local")
    assert len(off.endpoints) == 3
    assert set(_priorities(off).values()) == {0}
    # db's rule is namespace b's own: proxies elsewhere apply none.
    db = "outbound|5432||db.b.svc.cluster.local"
    assert _priorities(_assignment(cluster, "a/api", db)) == {"r1/z1": 0, "r2/z1": 0}
    assert _priorities(_assignment(cluster, "b/client-1", db)) == {"r1/z1": 0, "r2/z1": 1}


def test_dns_entry_endpoints_inline_fail_over_by_subzone_too(cluster: Cluster) -> None:
    inline = _assignment(cluster, "a/api", f"outbound|443||{EXT}")
    # From r1/z2 (no subzone): r1/z2/s1 differs only by its subzone (1), r1/z1 by zone (2), r2 by region (3).
    assert _priorities(inline) == {"r1/z2/s1": 0, "r1/z1": 1, "r2/z1": 2}


def test_accounting_is_byte_exact_every_design(cluster: Cluster) -> None:
    assert_exact_every_design(cluster)


def test_failover_changes_what_the_accounting_sums(cluster: Cluster) -> None:
    """The same mesh with failover turned off by every pasted rule (the generated ones keep theirs,
    over the synthetic pods' two localities): priorities are bytes on the wire."""
    off = copy.deepcopy(SCENARIO)
    for rule in off["destination_rules"]:
        rule["spec"].setdefault("trafficPolicy", {})["loadBalancer"] = {"localityLbSetting": {"enabled": False}}
    sizes = vectorized_sizes(cluster, get_design("single-stack"))[0]
    plain = vectorized_sizes(build_cluster(scenario_from_dict(off)), get_design("single-stack"))[0]
    eds = sizes[sizes["xds_type"] == "endpoints"]["bytes"].to_numpy()
    eds_off = plain[plain["xds_type"] == "endpoints"]["bytes"].to_numpy()
    assert (eds >= eds_off).all()
    assert (eds > eds_off).any()


def test_extra_priorities_are_counted(cluster: Cluster) -> None:
    """Each priority beyond the first is a host set more in Envoy: a memory count of its own, of
    EDS sets and a DNS entry's inline ones alike."""
    counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
    config = config_of(cluster, "a/api")
    sets = [*config.endpoints, *(c.load_assignment for c in config.clusters)]
    expected = sum(max((g.priority for g in e.endpoints), default=0) for e in sets)
    inline = _assignment(cluster, "a/api", f"outbound|443||{EXT}")
    assert max(g.priority for g in inline.endpoints) == 2  # the entry's inline set counts its two
    assert expected >= 5  # web's default and v1 sets (two more each), db's none, more of the synthetic ones
    assert counts.loc[config.proxy.proxy, "failover_priorities"] == expected


@pytest.mark.slow
def test_real_envoy_accepts_every_proxy(cluster: Cluster) -> None:
    assert_envoy_accepts_every_proxy(cluster)


WEB = "outbound|80||web.a.svc.cluster.local"


def _web_and_client(policy: dict[str, Any], web_zones: list[dict[str, str]], **web: Any) -> Cluster:
    """A web service whose pods run in ``web_zones`` (its rule's policy ``policy``) and one client
    in r1/z1."""
    workload = {"name": "web", "namespace": "a", "labels": {"app": "web"}, "replicas": len(web_zones), **web}
    workload |= {"locality": web_zones[0], "pod_localities": web_zones[1:]}
    scenario = {
        "namespaces": [{"name": "a"}],
        "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            workload,
            {"name": "client", "namespace": "a", "labels": {"app": "client"}, "locality": _at("r1", "z1")},
        ],
        "destination_rules": [dr("web", "a", "web.a.svc.cluster.local", trafficPolicy=policy)],
    }
    return build_cluster(scenario_from_dict(scenario))


def test_proxies_in_one_zone_still_rank_endpoints_of_another() -> None:
    """Every proxy runs in one zone, but pods without a sidecar run in another too: their groups
    fail over all the same (the accounting prices per locality wherever pods span several)."""
    cluster = _web_and_client(OUTLIER, [_at("r1", "z1"), _at("r2", "z1")], sidecar=False)
    assert _priorities(_assignment(cluster, "a/client", WEB)) == {"r1/z1": 0, "r2/z1": 1}
    assert_exact_every_design(cluster)


def test_a_consistent_hash_builds_a_ring_per_priority() -> None:
    """Envoy's thread-aware balancer builds its ring over each priority's hosts: a ring-hash cluster
    whose endpoints fail over into three priorities holds three rings, in both paths."""
    ring = {**OUTLIER, "loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}
    cluster = _web_and_client(ring, [_at("r1", "z1"), _at("r1", "z2"), _at("r2", "z1")])
    assert _priorities(_assignment(cluster, "a/client", WEB)) == {"r1/z1": 0, "r1/z2": 1, "r2/z1": 2}
    counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
    client = config_of(cluster, "a/client").proxy.proxy
    assert counts.loc[client, "hash_rings"] == 3
    assert_exact_every_design(cluster)


# -- a rule's failover list ------------------------------------------------------------------------
FAILOVER_TO_R3 = {**OUTLIER, "loadBalancer": {"localityLbSetting": {"failover": [{"from": "r1", "to": "r3"}]}}}


def test_a_failover_list_puts_other_regions_after_the_named_one() -> None:
    # applyLocalityFailover: a region other than the one named for the proxy's region goes to 4.
    failover = (LocalityFailover(source="r1", target="r3"), LocalityFailover(source="r1", target="r2"))
    assert lb_priority(("r1", "z1", ""), ("r2", "z1", ""), failover) == 4  # the first entry from r1 names r3
    assert lb_priority(("r1", "z1", ""), ("r3", "z1", ""), failover) == 3
    assert lb_priority(("r1", "z1", ""), ("r1", "z2", ""), failover) == 2  # its own region: as before
    assert lb_priority(("r2", "z1", ""), ("r1", "z1", ""), failover) == 3  # no entry from r2


def _three_regions(policy: dict[str, Any] | None, mesh: dict[str, Any] | None = None) -> Cluster:
    """web's pods in r1, r2 and r3 (rule ``policy``; ``None``: no rule), a DNS entry's endpoints in
    the same three, and clients in r1 and r2 (the mesh settings ``mesh``)."""
    scenario: dict[str, Any] = {
        "namespaces": [{"name": "a"}],
        "services": [{"name": "web", "namespace": "a", "ports": [{"port": 80, "name": "http"}]}],
        "workloads": [
            _spread("web", "a", _at("r1", "z1"), _at("r2", "z1"), _at("r3", "z1")),
            _spread("client", "a", _at("r1", "z1"), _at("r2", "z1")),
        ],
        "destination_rules": [
            dr("web", "a", "web.a.svc.cluster.local", trafficPolicy=policy),
            dr("ext", "a", EXT, trafficPolicy=policy),
        ]
        if policy is not None
        else [],
        "mesh": mesh or {},
        "service_entries": [
            _ext_entry([{"address": f"{r}.ext.example.com", "locality": f"{r}/z1"} for r in ("r1", "r2", "r3")])
        ],
    }
    return build_cluster(scenario_from_dict(scenario))


def _cluster_message(cluster: Cluster, proxy: str, name: str) -> Any:
    return next(c for c in config_of(cluster, proxy).clusters if c.name == name)


def test_each_region_fails_over_by_the_list_in_both_paths() -> None:
    cluster = _three_regions(FAILOVER_TO_R3)
    ext = f"outbound|443||{EXT}"
    for name in (WEB, ext):
        # From r1 (client's second pod) the list names r3: r2 comes last. From r2 (its first)
        # nothing is named: the default order.
        assert _priorities(_assignment(cluster, "a/client-1", name)) == {"r1/z1": 0, "r3/z1": 1, "r2/z1": 2}
        assert _priorities(_assignment(cluster, "a/client-0", name)) == {"r2/z1": 0, "r1/z1": 1, "r3/z1": 1}
        # The cluster balances by locality weight (ApplyToCluster: failover with outlier detection).
        assert _cluster_message(cluster, "a/client-1", name).common_lb_config.HasField("locality_weighted_lb_config")
    assert_exact_every_design(cluster)
    counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
    assert counts.loc[config_of(cluster, "a/client-1").proxy.proxy, "failover_priorities"] == 4  # 2 sets x 2


def test_a_failover_list_needs_outlier_detection_and_an_enabled_setting() -> None:
    listed = {"localityLbSetting": {"failover": [{"from": "r1", "to": "r3"}]}}
    for policy in ({"loadBalancer": listed}, {**OUTLIER, "loadBalancer": {**listed, "simple": "RANDOM"}}):
        enabled = "outlierDetection" in policy
        if enabled:  # the same list, turned off
            policy["loadBalancer"]["localityLbSetting"] = {**listed["localityLbSetting"], "enabled": False}
        cluster = _three_regions(policy)
        assert set(_priorities(_assignment(cluster, "a/client-0", WEB)).values()) == {0}
        assert not _cluster_message(cluster, "a/client-0", WEB).common_lb_config.HasField("locality_weighted_lb_config")
        assert_exact_every_design(cluster)


def test_a_failover_target_no_pod_runs_in_ranks_every_other_region_alike() -> None:
    listed = {"localityLbSetting": {"failover": [{"from": "r1", "to": "r9"}]}}
    cluster = _three_regions({**OUTLIER, "loadBalancer": listed})
    assert _priorities(_assignment(cluster, "a/client-1", WEB)) == {"r1/z1": 0, "r2/z1": 1, "r3/z1": 1}
    assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("setting", "field", "message"),
    [
        ({"failover": [{"from": "r1", "to": "r1"}]}, "failover[0]", "must specify different regions"),
        ({"failover": [{"from": "r1/z1", "to": "r2"}]}, "failover[0].from", "only specify region"),
        ({"failover": [{"from": "r1", "to": "r*"}]}, "failover[0].to", "should not contain '*'"),
        (
            {"failover": [{"from": "r1", "to": "r2"}], "distribute": [{"from": "r1/*", "to": {"r2/*": 100}}]},
            "failover",
            "can not simultaneously specify 'distribute' and 'failover'",
        ),
        ({"failover": [{"from": "r1"}]}, "failover[0].to", "missing"),
    ],
)
def test_a_bad_failover_list_is_refused_naming_the_field(setting: dict[str, Any], field: str, message: str) -> None:
    scenario = copy.deepcopy(SCENARIO)
    policy = {**OUTLIER, "loadBalancer": {"localityLbSetting": setting}}
    scenario["destination_rules"][0]["spec"]["trafficPolicy"] = policy
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(scenario)
    assert f"trafficPolicy.loadBalancer.localityLbSetting.{field}" in str(error.value)
    assert message in str(error.value)


# -- a rule's distribution -------------------------------------------------------------------------
def _groups(assignment: endpoint_pb2.ClusterLoadAssignment) -> dict[str, tuple[int, int, int]]:
    """Each group's (weight, endpoints, priority) by its ``region/zone[/subzone]``."""
    found = {}
    for group in assignment.endpoints:
        where = "/".join(p for p in (group.locality.region, group.locality.zone, group.locality.sub_zone) if p)
        found[where] = (group.load_balancing_weight.value, len(group.lb_endpoints), group.priority)
    return found


def _assignment_of(weights: dict[str, int]) -> endpoint_pb2.ClusterLoadAssignment:
    """An endpoint set with a group per ``region/zone`` of ``weights`` holding that many endpoints."""
    out = endpoint_pb2.ClusterLoadAssignment(cluster_name="c")
    for where, count in weights.items():
        group = out.endpoints.add()
        group.locality.region, group.locality.zone = where.split("/")
        group.load_balancing_weight.value = count
        for _ in range(count):
            group.lb_endpoints.add().endpoint.address.socket_address.address = "10.0.0.1"
    return out


def test_a_distribution_weighs_the_groups_it_takes_and_empties_the_rest() -> None:
    # applyLocalityWeights: the first entry from the proxy's locality; each to-locality's weight
    # shared by the groups it takes (by their own weights, rounded up); the rest lose their endpoints.
    assignment = _assignment_of({"r1/z1": 2, "r1/z2": 1, "r2/z1": 1, "r3/z1": 1})
    spread = (("r1/*", (("r1/*", 80), ("r2/z1", 20))), ("r2/*", (("r3/*", 100),)))
    got = _groups(distributed(assignment, ("r1", "z1", ""), spread))
    assert got == {"r1/z1": (54, 2, 0), "r1/z2": (27, 1, 0), "r2/z1": (20, 1, 0), "r3/z1": (1, 0, 0)}
    assert _groups(distributed(assignment, ("r2", "z9", ""), spread))["r3/z1"] == (100, 1, 0)
    assert distributed(assignment, ("r4", "z1", ""), spread) is assignment  # no entry from r4: as it is
    # A to-locality taken by an earlier one takes nothing: "r1/z1" after "r1/*" weighs no group.
    later = _groups(distributed(assignment, ("r1", "z1", ""), (("*", (("r1/*", 50), ("r1/z1", 50))),)))
    assert later["r1/z1"] == (34, 2, 0)
    # LocalityMatch: a missing zone or subzone matches any; "*" anything.
    assert locality_match(("r1", "z1", "s1"), "r1")
    assert locality_match(("r1", "z1", "s1"), "*")
    assert not locality_match(("r1", "z1", ""), "r1/z1/s1")
    assert not locality_match(("r2", "z1", ""), "r1/*")


SPREAD = {"localityLbSetting": {"distribute": [{"from": "r1/*", "to": {"r1/z1": 70, "r3/*": 30}}]}}


def test_each_proxy_gets_its_own_distribution_in_both_paths() -> None:
    ext = f"outbound|443||{EXT}"
    for policy in ({"loadBalancer": SPREAD}, {**OUTLIER, "loadBalancer": SPREAD}):
        cluster = _three_regions(policy)  # outlier detection or not: weights, never priorities
        for name in (WEB, ext):
            # client's second pod runs in r1: r2 gets no weight and loses its endpoints.
            near = _groups(_assignment(cluster, "a/client-1", name))
            assert near == {"r1/z1": (70, 1, 0), "r2/z1": (1, 0, 0), "r3/z1": (30, 1, 0)}
            # Its first runs in r2, which no entry is from: the set as it is.
            assert _groups(_assignment(cluster, "a/client-0", name)) == dict.fromkeys(near, (1, 1, 0))
            for proxy in ("a/client-0", "a/client-1"):  # both balance by locality weight
                lb = _cluster_message(cluster, proxy, name).common_lb_config
                assert lb.HasField("locality_weighted_lb_config")
        assert_exact_every_design(cluster)
        counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
        near_proxy, far_proxy = (config_of(cluster, p).proxy.proxy for p in ("a/client-1", "a/client-0"))
        assert counts.loc[far_proxy, "endpoints"] - counts.loc[near_proxy, "endpoints"] == 1  # web's r2 pod
        assert counts.loc[near_proxy, "failover_priorities"] == 0


def test_a_distribution_that_empties_a_ring_hash_set_builds_no_ring() -> None:
    nowhere = {"localityLbSetting": {"distribute": [{"from": "r1/*", "to": {"r9/*": 100}}]}}
    cluster = _three_regions({"loadBalancer": {**nowhere, "consistentHash": {"httpHeaderName": "x-user"}}})
    assert all(n == 0 for _, n, _ in _groups(_assignment(cluster, "a/client-1", WEB)).values())
    counts = vectorized_sizes(cluster, get_design("single-stack"))[1].set_index("proxy")
    near_proxy, far_proxy = (config_of(cluster, p).proxy.proxy for p in ("a/client-1", "a/client-0"))
    assert counts.loc[far_proxy, "hash_rings"] == 2  # web's and the entry's
    assert counts.loc[near_proxy, "hash_rings"] == 0
    assert_exact_every_design(cluster)


def test_a_distribution_turned_off_changes_nothing() -> None:
    off = {"localityLbSetting": {**SPREAD["localityLbSetting"], "enabled": False}}
    cluster = _three_regions({"loadBalancer": off})
    assert _groups(_assignment(cluster, "a/client-1", WEB)) == dict.fromkeys(("r1/z1", "r2/z1", "r3/z1"), (1, 1, 0))
    assert not _cluster_message(cluster, "a/client-1", WEB).common_lb_config.HasField("locality_weighted_lb_config")
    assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("to", "field", "message"),
    [
        ({"r1/*": 0, "r2/*": 100}, "distribute[0].to['r1/*']", "locality weight 0 must be in range [1, 100]"),
        ({"r1/*": 60, "r2/*": 30}, "distribute[0].to", "total locality weight 90 != 100"),
        ({"r1/*": 60, "r1/z1": 40}, "distribute[0].to", "'r1/z1' overlaps with one specified before it"),
        ({"r1/*/z": 100}, "distribute[0].to", "a wildcard '*' may appear once, at the end"),
        ({"r1//z1": 100}, "distribute[0].to", "must not contain empty region/zone/subzone info"),
    ],
)
def test_a_bad_distribution_is_refused_naming_the_field(to: dict[str, int], field: str, message: str) -> None:
    scenario = copy.deepcopy(SCENARIO)
    policy = {"loadBalancer": {"localityLbSetting": {"distribute": [{"from": "r1/*", "to": to}]}}}
    scenario["destination_rules"][0]["spec"]["trafficPolicy"] = policy
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict(scenario)
    assert f"trafficPolicy.loadBalancer.localityLbSetting.{field}" in str(error.value)
    assert message in str(error.value)


def test_distributions_from_overlapping_localities_are_refused() -> None:
    scenario = copy.deepcopy(SCENARIO)
    spread = [{"from": "r1/*", "to": {"r1/*": 100}}, {"from": "r1/z1", "to": {"r2/*": 100}}]
    scenario["destination_rules"][0]["spec"]["trafficPolicy"] = {
        "loadBalancer": {"localityLbSetting": {"distribute": spread}}
    }
    with pytest.raises(ScenarioError, match=r"localityLbSetting\.distribute: locality 'r1/z1' overlaps"):
        scenario_from_dict(scenario)


def test_a_distribution_reweighs_a_group_of_many_endpoints() -> None:
    """A group's weight is its endpoints (130: a two-byte varint) until a distribution gives it its
    share of 100 (one byte): the accounting follows the weight, not only the emptied groups."""
    cluster = _web_and_client({"loadBalancer": SPREAD}, [_at("r1", "z1")] * 130 + [_at("r2", "z1")], sidecar=False)
    assert _groups(_assignment(cluster, "a/client", WEB)) == {"r1/z1": (70, 130, 0), "r2/z1": (1, 0, 0)}
    assert_exact_every_design(cluster)


# -- generated rules ---------------------------------------------------------------------------------
GENERATED: dict[str, Any] = {
    "name": "generated",
    "seed": 3,
    "synthetic": {
        "services": 16,
        "namespaces": 2,
        "families": {"ipv4": 0.5, "dual_ipv4_primary": 0.5},
        "replicas": {"distribution": "fixed", "mean": 3, "max": 3},
        "localities": [_at("r1", "z1"), _at("r1", "z2"), _at("r2", "z1"), _at("r3", "z1")],
    },
}


@pytest.mark.parametrize(
    "rules",
    [
        {"share": 1.0, "outlier_detection": 0.5, "failover": {"r1": "r3", "r2": "r1"}},
        {"share": 0.8, "outlier_detection": 0.5, "distribute": {"r1/*": {"r1/z1": 70, "r3/*": 30}}},
    ],
)
def test_generated_rules_carry_the_locality_setting_asked_for(rules: dict[str, Any]) -> None:
    cluster = build_cluster(scenario_from_dict({**GENERATED, "istio_objects": {"destination_rules": rules}}))
    settings = {r.spec.traffic_policy.load_balancer.locality_lb_setting for r in cluster.istio.destination_rules}
    assert len(settings) == 1
    (setting,) = settings
    assert setting is not None
    assert len(setting.failover) == len(rules.get("failover", {}))
    assert len(setting.distribute) == len(rules.get("distribute", {}))
    assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("rules", "field", "message"),
    [
        ({"failover": {"r1": "r1"}}, "failover.r1", "must specify different regions"),
        ({"distribute": {"r1/*": {"r1/*": 80}}}, "distribute['r1/*']", "total locality weight 80 != 100"),
        ({"failover": {"r1": "r2"}, "distribute": {"r1/*": {"r2/*": 100}}}, "failover", "can not simultaneously"),
    ],
)
def test_bad_generated_locality_settings_are_refused(rules: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ScenarioError) as error:
        scenario_from_dict({**GENERATED, "istio_objects": {"destination_rules": {"share": 1.0, **rules}}})
    assert f"istio_objects.destination_rules.{field}: " in str(error.value)
    assert message in str(error.value)


# -- review mends ------------------------------------------------------------------------------------
def test_a_resolution_none_entry_keeps_its_locality_weighted_balancer() -> None:
    """applyLoadBalancer applies the locality setting before it leaves an ORIGINAL_DST cluster
    CLUSTER_PROVIDED: an entry of resolution NONE keeps locality_weighted_lb_config."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["service_entries"].append(
        {
            "name": "raw",
            "namespace": "a",
            "spec": {"hosts": ["raw.example.com"], "ports": [{"number": 9000, "name": "tcp", "protocol": "TCP"}]},
        }
    )
    spread = {"distribute": [{"from": "r1/*", "to": {"r1/*": 100}}]}
    scenario["destination_rules"].append(dr("raw", "a", "raw.example.com", trafficPolicy={"loadBalancer": {
        "simple": "ROUND_ROBIN", "localityLbSetting": spread}}))  # fmt: skip
    cluster = build_cluster(scenario_from_dict(scenario))
    raw = _cluster_message(cluster, "a/api", "outbound|9000||raw.example.com")
    assert raw.lb_policy == raw.CLUSTER_PROVIDED
    assert raw.common_lb_config.HasField("locality_weighted_lb_config")
    assert_exact_every_design(cluster)


def test_weights_follow_istios_uint32_arithmetic() -> None:
    # applyLocalityWeights multiplies and sums uint32s (they wrap) and rounds a float64 quotient up:
    # a group of weight 50,000,000 given 100 gets ceil((5e9 mod 2^32) / 5e7) = 15.
    assignment = _assignment_of({"r1/z1": 1})
    assignment.endpoints[0].load_balancing_weight.value = 50_000_000
    spread = (("*", (("r1/z1", 100),)),)
    assert _groups(distributed(assignment, ("r1", "z1", ""), spread))["r1/z1"] == (15, 1, 0)


def test_an_entrys_group_weight_stops_at_the_largest_uint32() -> None:
    """istiod sums a group's endpoint weights without wrapping past 2^32 - 1 (addUint32)."""
    scenario = copy.deepcopy(SCENARIO)
    heavy = [{"address": f"{n}.ext.example.com", "locality": "r1/z1", "weight": 4_000_000_000} for n in ("a", "b")]
    scenario["service_entries"][0]["spec"]["endpoints"] = heavy
    cluster = build_cluster(scenario_from_dict(scenario))
    inline = _assignment(cluster, "a/api", f"outbound|443||{EXT}")
    assert [g.load_balancing_weight.value for g in inline.endpoints] == [2**32 - 1]
    assert_exact_every_design(cluster)


@pytest.mark.parametrize(
    ("labels", "refused"),
    [(["topology.kubernetes.io/zone"], True), (["topology.istio.io/network"], False), ([], False)],
)
def test_failover_beside_a_topology_failover_priority_is_refused(labels: list[str], refused: bool) -> None:
    """ValidateLocalityLbSetting refuses a failover list beside a failoverPriority naming a locality
    label; dsim does not model failoverPriority (an ignored field) but holds the rule all the same."""
    scenario = copy.deepcopy(SCENARIO)
    setting = {"failover": [{"from": "r1", "to": "r2"}], **({"failoverPriority": labels} if labels else {})}
    scenario["destination_rules"][0]["spec"]["trafficPolicy"] = {
        **OUTLIER,
        "loadBalancer": {"localityLbSetting": setting},
    }
    if not refused:
        scenario_from_dict(scenario)
        return
    with pytest.raises(ScenarioError, match=r"localityLbSetting\.failoverPriority\[0\]: can not simultaneously"):
        scenario_from_dict(scenario)


def test_generated_lists_are_checked_even_where_rules_turn_locality_off() -> None:
    rules = {"share": 1.0, "locality_failover": False, "failover": {"r1": "r2"}}
    cluster = build_cluster(scenario_from_dict({**GENERATED, "istio_objects": {"destination_rules": rules}}))
    setting = cluster.istio.destination_rules[0].spec.traffic_policy.load_balancer.locality_lb_setting
    assert setting.enabled is False
    assert len(setting.failover) == 1  # kept, unused, as Istio keeps it
    with pytest.raises(ScenarioError, match=r"destination_rules\.failover\.r1: "):
        scenario_from_dict({**GENERATED, "istio_objects": {"destination_rules": {**rules, "failover": {"r1": "r1"}}}})


# -- the mesh's own setting ------------------------------------------------------------------------
def test_the_meshs_setting_applies_where_a_rule_sets_none() -> None:
    """meshConfig.localityLbSetting stands in for a rule's (GetEffectiveLbSetting): off, failover off
    where a rule's outlier detection would bring it; a failover list, where it does; a distribution,
    to every cluster, a rule or not. A rule's own setting replaces it whole."""
    off = _three_regions(OUTLIER, {"locality_lb_setting": {"enabled": False}})
    assert set(_priorities(_assignment(off, "a/client-1", WEB)).values()) == {0}
    assert_exact_every_design(off)
    own = _three_regions(
        {**OUTLIER, "loadBalancer": {"localityLbSetting": {"enabled": True}}},
        {"locality_lb_setting": {"enabled": False}},
    )
    assert set(_priorities(_assignment(own, "a/client-1", WEB)).values()) == {0, 1}
    listed = _three_regions(OUTLIER, {"locality_lb_setting": {"failover": [{"from": "r1", "to": "r3"}]}})
    assert _priorities(_assignment(listed, "a/client-1", WEB)) == {"r1/z1": 0, "r3/z1": 1, "r2/z1": 2}
    assert _cluster_message(listed, "a/client-1", WEB).common_lb_config.HasField("locality_weighted_lb_config")
    assert_exact_every_design(listed)
    spread = _three_regions(None, {"locality_lb_setting": SPREAD["localityLbSetting"]})  # no rule at all
    for name in (WEB, f"outbound|443||{EXT}"):
        assert _groups(_assignment(spread, "a/client-1", name)) == {
            "r1/z1": (70, 1, 0),
            "r2/z1": (1, 0, 0),
            "r3/z1": (30, 1, 0),
        }
        assert _cluster_message(spread, "a/client-0", name).common_lb_config.HasField("locality_weighted_lb_config")
    assert_exact_every_design(spread)


def test_the_meshs_setting_is_checked_and_written_back_as_meshconfig_has_it() -> None:
    bad = {"locality_lb_setting": {"distribute": [{"from": "r1/*", "to": {"r1/*": 60}}]}}
    with pytest.raises(
        ScenarioError, match=r"mesh\.locality_lb_setting\.distribute\[0\]\.to: total locality weight 60"
    ):
        _three_regions(None, bad)
    # ValidateMeshConfig runs ValidateLocalityLbSetting whole: the ignored failoverPriority's rule too.
    topology = {"failover": [{"from": "r1", "to": "r3"}], "failoverPriority": ["topology.kubernetes.io/region"]}
    with pytest.raises(ScenarioError, match=r"mesh\.locality_lb_setting\.failoverPriority\[0\]: can not"):
        _three_regions(None, {"locality_lb_setting": topology})
    mesh = {"locality_lb_setting": {"failover": [{"from": "r1", "to": "r3"}]}}
    scenario = scenario_from_dict({**GENERATED, "mesh": mesh})
    written = yaml.safe_load(scenario_to_yaml(scenario))
    assert written["mesh"]["locality_lb_setting"] == {"failover": [{"from": "r1", "to": "r3"}]}
    assert scenario_from_dict(written) == scenario


def test_import_carries_the_meshs_setting_over_or_leaves_it_out_with_a_note() -> None:
    listed = {"failover": [{"from": "r1", "to": "r2"}]}
    notes: list[str] = []
    assert mesh_defaults({"localityLbSetting": listed}, notes) == {"locality_lb_setting": listed}
    assert not notes
    topology = {**listed, "failoverPriority": ["topology.kubernetes.io/zone"]}
    assert mesh_defaults({"localityLbSetting": topology}, notes) == {}
    assert notes == [
        "meshConfig.localityLbSetting.failoverPriority[0]: can not simultaneously set 'failover' and topology "
        "label 'topology.kubernetes.io/zone' in 'failover_priority'; left out: the scenario keeps Istio's "
        "default for it"
    ]

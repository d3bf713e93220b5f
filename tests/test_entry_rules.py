"""DestinationRules on ServiceEntry hosts (issue 16, ``docs/istio-objects.md`` 3.8): a rule covering an
entry's host shapes the entry's clusters as it shapes a Service's (``applyDestinationRule``): its
policies, a cluster per subset over the endpoints whose labels hold the subset's
(``buildSubsetCluster``), no DNS cluster where none does (``buildCluster``), an ORIGINAL_DST
cluster's load balancer left alone (``applyLoadBalancer``), and the hash of the routes to it. Which
rule a proxy applies follows the same lookup as for Services (exportTo, wildcard hosts). Checked on
the protobuf path, byte-exact in the accounting under every design, and in the real Envoy."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.pushsim.reach import destination_rule_reach
from dsim.xds.generate import ProxyConfig
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_methods_agree
from tests.config_helpers import config_of
from tests.rule_helpers import dr, pool, pool_of, rule_of

PAY, STATUS, LEGACY, MIRROR, DB, RAW, PT = (
    "api.pay.example.com",
    "status.example.com",
    "legacy.corp.internal",
    "mirror.example.org",
    "db.shop.internal",
    "raw.corp.internal",
    "pt.corp.internal",
)
V1, V2 = {"version": "v1"}, {"version": "v2"}


def _entry(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "spec": spec}


ENTRIES = [
    _entry(  # external, DNS on its own host: TLS origination by the rule
        "pay",
        "ext",
        hosts=[PAY],
        ports=[{"number": 443, "name": "https", "protocol": "TLS"}, {"number": 80, "name": "http", "protocol": "HTTP"}],
        resolution="DNS",
    ),
    _entry(  # covered only by the mesh-wide wildcard rule
        "status",
        "ext",
        hosts=[STATUS],
        ports=[{"number": 443, "name": "https", "protocol": "TLS"}],
        resolution="DNS",
    ),
    _entry(  # inside the mesh, STATIC, endpoints of both families and versions
        "legacy",
        "ext",
        hosts=[LEGACY],
        addresses=["240.0.0.10", "2001:db8::10"],
        ports=[{"number": 8080, "name": "http", "protocol": "HTTP"}],
        resolution="STATIC",
        location="MESH_INTERNAL",
        endpoints=[
            {"address": "10.9.0.1", "labels": V1},
            {"address": "2001:db8:9::1", "labels": V1},
            {"address": "10.9.0.2", "labels": V2},
        ],
    ),
    _entry(  # DNS over named endpoints with labels: subsets filter its inline assignment
        "mirror",
        "ext",
        hosts=[MIRROR],
        ports=[{"number": 80, "name": "http", "protocol": "HTTP"}],
        resolution="DNS",
        endpoints=[
            {"address": "a.mirror.example.org", "labels": V1},
            {"address": "b.mirror.example.org", "labels": V2},
        ],
    ),
    _entry(  # the mesh's own pods by workloadSelector
        "db",
        "shop",
        hosts=[DB],
        addresses=["240.0.0.20"],
        ports=[{"number": 5432, "name": "tcp", "protocol": "TCP"}],
        resolution="STATIC",
        location="MESH_INTERNAL",
        workloadSelector={"labels": {"app": "db"}},
    ),
    _entry(  # DNS under a rule-wide PASSTHROUGH, one subset asking for it itself
        "pt",
        "ext",
        hosts=[PT],
        ports=[{"number": 7000, "name": "tcp", "protocol": "TCP"}],
        resolution="DNS",
        endpoints=[{"address": "a.pt.internal", "labels": V1}, {"address": "b.pt.internal", "labels": V2}],
    ),
    _entry(  # NONE: an ORIGINAL_DST cluster
        "raw",
        "ext",
        hosts=[RAW],
        addresses=["240.0.0.30"],
        ports=[{"number": 9000, "name": "tcp", "protocol": "TCP"}],
        resolution="NONE",
    ),
]

HASH = {"loadBalancer": {"consistentHash": {"httpHeaderName": "x-user"}}}
RULES = [
    dr("mesh-default", "istio-system", "*.example.com", trafficPolicy=pool(1)),
    dr(
        "pay-tls",
        "ext",
        PAY,
        trafficPolicy={**pool(50), "tls": {"mode": "SIMPLE", "sni": PAY}},
    ),
    dr(
        "legacy-versions",
        "ext",
        LEGACY,
        trafficPolicy=HASH,
        subsets=[
            {"name": "v1", "labels": V1},
            {"name": "v2", "labels": V2},
            {"name": "v3", "labels": {"version": "v3"}},
        ],
    ),
    # client's own view of legacy: a pool, no subsets, no hash
    dr("legacy-client", "client", LEGACY, exportTo=["."], trafficPolicy=pool(7)),
    dr(
        "mirror-versions",
        "ext",
        MIRROR,
        trafficPolicy={"loadBalancer": {"simple": "ROUND_ROBIN"}},
        subsets=[{"name": "v1", "labels": V1}, {"name": "v9", "labels": {"version": "v9"}}],
    ),
    dr(
        "db-v1",
        "shop",
        DB,
        trafficPolicy={"outlierDetection": {"consecutive5xxErrors": 3}},
        subsets=[{"name": "v1", "labels": V1}],
    ),
    dr(
        "pt-everything",
        "ext",
        PT,
        trafficPolicy={"loadBalancer": {"simple": "PASSTHROUGH"}},
        subsets=[
            {"name": "v1", "labels": V1},
            {"name": "v9", "labels": {"version": "v9"}},
            {"name": "own", "labels": V2, "trafficPolicy": {"loadBalancer": {"simple": "PASSTHROUGH"}}},
        ],
    ),
    dr("raw-hash", "ext", RAW, trafficPolicy={**HASH, "outlierDetection": {"consecutive5xxErrors": 2}}),
]

MESH: dict[str, Any] = {
    "name": "entry-rules",
    "visibility": "all",
    "namespaces": [{"name": n} for n in ("istio-system", "shop", "client", "ext")],
    "services": [{"name": "web", "namespace": "client", "ports": [{"port": 80, "name": "http"}]}],
    "workloads": [
        {"name": "web", "namespace": "client", "labels": {"app": "web"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "db-v1", "namespace": "shop", "labels": {"app": "db", **V1}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "db-v2", "namespace": "shop", "labels": {"app": "db", **V2}},
    ],
    "service_entries": ENTRIES,
    "destination_rules": RULES,
}


@pytest.fixture(scope="module")
def mesh() -> Cluster:
    return build_cluster(scenario_from_dict(MESH))


def _clusters(config: ProxyConfig) -> dict[str, cluster_pb2.Cluster]:
    return {c.name: c for c in config.clusters}


def _assignments(config: ProxyConfig) -> dict[str, endpoint_pb2.ClusterLoadAssignment]:
    return {e.cluster_name: e for e in config.endpoints}


def _addresses(assignment: endpoint_pb2.ClusterLoadAssignment) -> list[str]:
    return [e.endpoint.address.socket_address.address for group in assignment.endpoints for e in group.lb_endpoints]


def test_a_rule_gives_an_external_host_its_policy_and_tls(mesh: Cluster) -> None:
    clusters = _clusters(config_of(mesh, "shop/db-v1"))
    for port in (443, 80):
        pay = clusters[f"outbound|{port}||{PAY}"]
        assert (rule_of(pay), pool_of(pay)) == ("pay-tls", 50)
        assert pay.type == cluster_pb2.Cluster.STRICT_DNS
        assert pay.transport_socket.name == "envoy.transport_sockets.tls"
        context = tls_pb2.UpstreamTlsContext()
        pay.transport_socket.typed_config.Unpack(context)
        assert context.sni == PAY
        assert pay.metadata.filter_metadata["istio"].fields["alpn_override"].string_value == "false"
    # the wildcard rule, where no exact one is nearer
    status = clusters[f"outbound|443||{STATUS}"]
    assert (rule_of(status), pool_of(status)) == ("mesh-default", 1)


def test_subsets_of_a_static_host_select_its_endpoints_by_label(mesh: Cluster) -> None:
    config = config_of(mesh, "shop/db-v1")
    clusters, assignments = _clusters(config), _assignments(config)
    names = [n for n in clusters if n.endswith(LEGACY)]
    assert names == [f"outbound|8080|{s}|{LEGACY}" for s in ("", "v1", "v2", "v3")]
    assert all(clusters[n].type == cluster_pb2.Cluster.EDS and rule_of(clusters[n]) == "legacy-versions" for n in names)
    assert _addresses(assignments[f"outbound|8080|v1|{LEGACY}"]) == ["10.9.0.1", "2001:db8:9::1"]
    assert _addresses(assignments[f"outbound|8080|v2|{LEGACY}"]) == ["10.9.0.2"]
    assert _addresses(assignments[f"outbound|8080|v3|{LEGACY}"]) == []  # an EDS subset cluster stands empty
    assert clusters[f"outbound|8080||{LEGACY}"].lb_policy == cluster_pb2.Cluster.RING_HASH
    # the route to it hashes as the rule says
    (route,) = [r for r in config.routes if r.name == "8080"]
    (vhost,) = [v for v in route.virtual_hosts if v.name == f"{LEGACY}:8080"]
    assert vhost.routes[0].route.hash_policy[0].header.header_name == "x-user"


def test_a_dns_subset_no_endpoint_holds_builds_no_cluster(mesh: Cluster) -> None:
    clusters = _clusters(config_of(mesh, "shop/db-v1"))
    v1 = clusters[f"outbound|80|v1|{MIRROR}"]
    assert v1.type == cluster_pb2.Cluster.STRICT_DNS
    assert _addresses(v1.load_assignment) == ["a.mirror.example.org"]
    assert v1.lb_policy == cluster_pb2.Cluster.ROUND_ROBIN
    assert f"outbound|80|v9|{MIRROR}" not in clusters
    assert _addresses(clusters[f"outbound|80||{MIRROR}"].load_assignment) == [
        "a.mirror.example.org",
        "b.mirror.example.org",
    ]


def test_subsets_of_a_selected_host_pick_its_pods(mesh: Cluster) -> None:
    config = config_of(mesh, "client/web")
    clusters, assignments = _clusters(config), _assignments(config)
    assert clusters[f"outbound|5432|v1|{DB}"].outlier_detection.consecutive_5xx.value == 3
    pods = mesh.pods
    v1_pod = pods[mesh.workloads["name"].to_numpy()[pods["workload"].to_numpy()] == "db-v1"]
    assert len(_addresses(assignments[f"outbound|5432|v1|{DB}"])) == len(v1_pod)
    assert len(_addresses(assignments[f"outbound|5432||{DB}"])) == len(pods) - 1  # both db pods, not web's


def test_an_original_dst_host_keeps_its_load_balancer(mesh: Cluster) -> None:
    raw = _clusters(config_of(mesh, "client/web"))[f"outbound|9000||{RAW}"]
    assert raw.type == cluster_pb2.Cluster.ORIGINAL_DST
    assert raw.lb_policy == cluster_pb2.Cluster.CLUSTER_PROVIDED  # not RING_HASH: applyLoadBalancer returns first
    assert raw.outlier_detection.consecutive_5xx.value == 2
    assert rule_of(raw) == "raw-hash"


def test_passthrough_on_a_dns_host_follows_when_istio_reads_it(mesh: Cluster) -> None:
    clusters = _clusters(config_of(mesh, "client/web"))
    built = {name.split("|")[2]: c for name, c in clusters.items() if name.endswith(PT)}
    assert sorted(built) == ["", "own", "v1"]  # v9: a DNS cluster without endpoints is never built
    for found in built.values():
        assert (found.type, found.lb_policy) == (cluster_pb2.Cluster.ORIGINAL_DST, cluster_pb2.Cluster.CLUSTER_PROVIDED)
        assert not found.HasField("load_assignment")
    # built as DNS clusters, then turned ORIGINAL_DST by the rule: their DNS settings stay
    assert [built[s].HasField("dns_refresh_rate") for s in ("", "v1")] == [True, True]
    # its own PASSTHROUGH makes the subset ORIGINAL_DST from the start
    assert not built["own"].HasField("dns_refresh_rate")


def test_a_namespace_own_rule_replaces_the_exported_one_for_its_proxies(mesh: Cluster) -> None:
    config = config_of(mesh, "client/web")
    clusters = _clusters(config)
    assert [n for n in clusters if n.endswith(LEGACY)] == [f"outbound|8080||{LEGACY}"]
    legacy = clusters[f"outbound|8080||{LEGACY}"]
    assert (rule_of(legacy), pool_of(legacy)) == ("legacy-client", 7)
    (route,) = [r for r in config.routes if r.name == "8080"]
    (vhost,) = [v for v in route.virtual_hosts if v.name == f"{LEGACY}:8080"]
    assert not vhost.routes[0].route.hash_policy


def test_duplicate_copies_split_each_subset_by_family(mesh: Cluster) -> None:
    assignments = _assignments(config_of(mesh, "shop/db-v1", "duplicate"))
    v1 = {name: _addresses(a) for name, a in assignments.items() if "|v1|" in name and name.endswith(LEGACY)}
    assert sorted(v1.values()) == [["10.9.0.1"], ["2001:db8:9::1"]]


@pytest.mark.parametrize("design", design_names())
def test_the_accounting_is_byte_exact(mesh: Cluster, design: str) -> None:
    assert assert_methods_agree(mesh, design) == len(mesh.proxies)


def test_real_envoy_accepts_every_config(mesh: Cluster) -> None:
    assert_envoy_accepts_every_proxy(mesh)


def test_an_edit_reaches_the_proxies_that_see_the_host(mesh: Cluster) -> None:
    names = mesh.namespaces["name"].tolist()
    hosts = mesh.service_hosts().tolist()
    reached = {
        rule.name: [
            ([hosts[s] for s in services], None if found is None else [names[n] for n in found])
            for services, found in parts
        ]
        for rule, parts in zip(mesh.istio.destination_rules, destination_rule_reach(mesh), strict=True)
    }
    assert reached["pay-tls"] == [([PAY], None)]
    assert reached["legacy-client"] == [([LEGACY], ["client"])]
    assert reached["legacy-versions"] == [([LEGACY], [n for n in names if n != "client"])]

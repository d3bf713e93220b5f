"""Built clusters: the seed's exact objects, the shipped scenarios' invariants, the generator's shape."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from dsim import build_cluster, load_scenario, scenario_from_dict
from tests.cluster_invariants import check_cluster
from tests.conftest import SCENARIOS

BLOG = SCENARIOS / "istio-blog-dual-stack.yaml"


@pytest.mark.parametrize("name", ["istio-blog-dual-stack", "quickstart", "large"])
def test_shipped_scenarios_satisfy_every_invariant(name: str) -> None:
    check_cluster(build_cluster(SCENARIOS / f"{name}.yaml"))


def test_blog_example_objects_are_exact() -> None:
    c = build_cluster(BLOG)
    hosts = c.service_hosts().tolist()
    assert hosts == [
        "tcp-echo.dual-stack.svc.cluster.local",
        "tcp-echo.ipv4.svc.cluster.local",
        "tcp-echo.ipv6.svc.cluster.local",
        "sleep.default.svc.cluster.local",
    ]
    assert c.services["ip_families"].astype(str).tolist() == ["IPv6,IPv4", "IPv4", "IPv6", "IPv4"]
    vips = c.service_vip_text()
    assert vips.loc[0].tolist() == ["10.96.106.11", "fd00:10:96::f9fc"]
    pod_ips = c.pod_ip_text()
    assert pod_ips.loc[:2].values.tolist() == [
        ["10.244.0.26", "fd00:10:244::1a"],
        ["10.244.0.19", "fd00:10:244::13"],
        ["10.244.0.24", "fd00:10:244::18"],
    ]
    assert c.pod_names().tolist() == ["tcp-echo-0", "tcp-echo-0", "tcp-echo-0", "sleep-0"]
    ports = c.service_ports
    assert ports[ports["service"] == 0][["name", "port", "target_port"]].values.tolist() == [
        ["tcp", 9000, 9000],
        ["tcp-other", 9001, 9001],
    ]
    assert set(ports["protocol"].astype(str)) == {"TCP", "HTTP"}
    assert c.workloads["service_account"].tolist() == ["default", "default", "default", "sleep"]
    assert len(c.proxies) == 4
    # sleep calls the three tcp-echo services.
    graph = c.call_graph()
    assert sorted(graph.successors(3)) == [0, 1, 2]


def test_fixed_addresses_are_kept_and_the_rest_avoid_them() -> None:
    c = build_cluster(BLOG)
    sleep = c.pod_ip_text().loc[3]
    fixed = {"10.244.0.26", "10.244.0.19", "10.244.0.24", "fd00:10:244::1a", "fd00:10:244::13", "fd00:10:244::18"}
    assert sleep["ipv4"] not in fixed
    assert sleep["ipv6"] not in fixed
    assert ipaddress.ip_address(sleep["ipv4"]) in ipaddress.ip_network("10.244.0.0/16")


def test_synthetic_family_mix_follows_the_weights() -> None:
    c = build_cluster(SCENARIOS / "large.yaml")
    shares = c.services["ip_families"].astype(str).value_counts(normalize=True)
    n = len(c.services)
    for family, weight in {"IPv4": 0.7, "IPv4,IPv6": 0.2, "IPv6,IPv4": 0.1}.items():
        assert abs(shares[family] - weight) < 4 * np.sqrt(weight * (1 - weight) / n)
    assert "IPv6" not in shares.index


def test_large_has_the_advertised_size() -> None:
    c = build_cluster(SCENARIOS / "large.yaml")
    assert (len(c.services), len(c.pods), len(c.proxies)) == (10_000, 30_000, 30_000)


def test_barabasi_albert_call_graph_has_m_edges_per_new_service_pointing_to_older_ones() -> None:
    s = scenario_from_dict({"synthetic": {"services": 200, "call_graph": {"model": "barabasi-albert", "m": 3}}})
    c = build_cluster(s)
    deps = c.dependencies.merge(c.service_workloads, on="workload", suffixes=("", "_caller"))
    edges = set(zip(deps["service_caller"], deps["service"], strict=True))
    assert len(edges) == 3 * (200 - 3)
    assert all(caller > callee for caller, callee in edges)


def test_subsets_get_one_workload_per_version() -> None:
    s = scenario_from_dict({"seed": 5, "synthetic": {"services": 100, "subsets": {"fraction": 0.25, "versions": 3}}})
    c = build_cluster(s)
    assert len(c.subsets) == 25 * 3
    assert len(c.workloads) == 75 + 25 * 3
    versioned = c.workloads[c.workloads["name"].str.endswith("-v3")]
    assert len(versioned) == 25
    assert set(c.subsets["name"]) == {"v1", "v2", "v3"}


def test_sidecar_injection_share_decides_which_namespaces_get_proxies() -> None:
    s = scenario_from_dict({"synthetic": {"services": 40, "namespaces": 4, "sidecar_injection": 0.5}})
    c = build_cluster(s)
    assert c.namespaces["sidecar_injection"].sum() == 2
    injected = c.namespaces["sidecar_injection"].to_numpy()
    assert injected[c.proxies["namespace"]].all()
    assert len(c.proxies) == int(injected[c.workloads["namespace"]] @ c.workloads["replicas"])


def test_single_family_pods_get_one_address() -> None:
    s = scenario_from_dict(
        {
            "network": {"pod_ip_families": ["IPv6"]},
            "synthetic": {"services": 10, "families": {"ipv4": 0, "ipv6": 1, "dual_ipv4_primary": 0}},
        }
    )
    c = build_cluster(s)
    assert not c.pods["has_ipv4"].any()
    assert c.pods["has_ipv6"].all()
    check_cluster(c)


def test_resolved_defaults_follow_kubernetes_and_istio() -> None:
    s = load_scenario(BLOG)
    sleep = s.services[3]
    assert sleep.selector == {"app": "sleep"}
    assert sleep.ports[0].protocol == "HTTP"
    assert sleep.ports[0].target_port == 80
    assert s.services[0].ports[1].protocol == "TCP"  # "tcp-other": the prefix before '-'
    assert s.istiod.push_throttle == 35
    assert s.istiod.max_requests_per_second == 35.0
    assert s.designs == ("single-stack", "duplicate", "additional-addresses", "additional-addresses-1.24")
    assert s.workloads[3].sidecar is True
    assert s.workloads[3].ip_families == ("IPv4", "IPv6")


@pytest.mark.parametrize(
    ("name", "number", "protocol"),
    [
        ("http", 80, "HTTP"),
        ("http-web", 80, "HTTP"),
        ("HTTP2-x", 80, "HTTP2"),
        ("grpc-web", 80, "GRPC-Web"),
        ("tcp", 80, "TCP"),
        ("https", 80, "HTTPS"),
        ("tls-x", 80, "TLS"),
        ("mongo-db", 80, "Mongo"),
        ("MONGO", 27017, "Mongo"),
        ("mysql-x", 80, "TCP"),
        ("redis", 80, "TCP"),
        ("http_proxy", 80, "HTTP"),
        ("web", 80, "auto"),
        ("", 80, "auto"),
        ("httpx", 80, "auto"),
        # Istio's well-known ports (SMTP, DNS, MySQL, MongoDB) are TCP where the name names nothing ...
        ("", 25, "TCP"),
        ("dns-tcp", 53, "TCP"),
        ("db", 3306, "TCP"),
        ("mongodb", 27017, "TCP"),
        ("", 3307, "auto"),
        # ... and what the name names where it does.
        ("http-metrics", 3306, "HTTP"),
        ("grpc-web", 27017, "GRPC-Web"),
    ],
)
def test_port_protocol_from_name_and_number_follows_istio(name: str, number: int, protocol: str) -> None:
    """``ConvertProtocol`` (Istio 1.30, ``pkg/config/kube/conversion.go``)."""
    from dsim.scenario.resolve import protocol_from_port_name

    assert protocol_from_port_name(name, number) == protocol


@pytest.mark.slow
def test_fifty_thousand_services_build_and_hold_invariants() -> None:
    c = build_cluster(SCENARIOS.parent / "bench" / "fleet-50k.yaml")
    assert (len(c.services), len(c.pods)) == (50_000, 200_000)
    check_cluster(c)

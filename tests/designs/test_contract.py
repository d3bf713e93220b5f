"""One contract, every registered design: complete, self-consistent configs, and the
single-stack shapes wherever the proxy or the service has one IP family."""

from __future__ import annotations

from typing import Any

import pytest

from dsim import build_cluster, design_names, generate, scenario_from_dict
from dsim.cluster import Cluster
from tests.xds_integrity import check_config

VARIETY: dict[str, Any] = {
    "seed": 3,
    "namespaces": [{"name": "edge"}],
    "services": [
        {
            "name": "gw",
            "namespace": "edge",
            "ip_families": ["IPv6", "IPv4"],
            "ports": [{"name": "http", "port": 80}, {"name": "tcp-admin", "port": 9901}, {"port": 8443}],
        },
    ],
    "workloads": [
        {"name": "gw", "namespace": "edge", "replicas": 2, "calls": ["edge/gw"]},
        {"name": "legacy", "namespace": "edge", "ip_families": ["IPv4"], "labels": {"app": "gw"}},
        {"name": "v6only", "namespace": "edge", "ip_families": ["IPv6"], "labels": {"app": "v6"}},
    ],
    "synthetic": {
        "namespaces": 3,
        "services": 24,
        "families": {"ipv4": 1, "ipv6": 1, "dual_ipv4_primary": 1, "dual_ipv6_primary": 1},
        "protocols": {"http": 1, "http2": 1, "grpc": 1, "tcp": 1, "auto": 1, "grpc_web": 1},
        "subsets": {"fraction": 0.3, "versions": 2},
        "localities": [{"region": "r", "zone": "a"}, {"region": "r", "zone": "b"}],
        "sidecar_injection": 0.7,
    },
}


def variety(**overrides: Any) -> Cluster:
    return build_cluster(scenario_from_dict({**VARIETY, **overrides}))


@pytest.fixture(scope="module", params=["PERMISSIVE", "STRICT", "DISABLE"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    policy = "REGISTRY_ONLY" if request.param == "STRICT" else "ALLOW_ANY"
    return variety(mesh={"mtls": request.param, "outbound_traffic_policy": policy})


@pytest.mark.parametrize("design", design_names())
def test_every_proxy_gets_a_complete_consistent_config(cluster: Cluster, design: str) -> None:
    for proxy in range(len(cluster.proxies)):
        check_config(generate(cluster, proxy, design))


@pytest.mark.parametrize("design", design_names())
@pytest.mark.parametrize("visibility", ["namespace", "dependencies"])
def test_visibility_scopes_what_a_proxy_sees(design: str, visibility: str) -> None:
    everything, scoped = variety(), variety(visibility=visibility)
    for proxy in range(len(scoped.proxies)):
        narrow, wide = generate(scoped, proxy, design), generate(everything, proxy, design)
        check_config(narrow)
        assert {c.name for c in narrow.clusters} <= {c.name for c in wide.clusters}
        seen = {v.host for v in narrow.proxy.outbound}
        if visibility == "namespace":
            assert all(v.namespace == narrow.proxy.namespace for v in narrow.proxy.outbound)
        else:
            row = everything.proxies.iloc[proxy]
            calls = everything.dependencies[everything.dependencies["workload"] == row["workload"]]["service"]
            assert seen == set(everything.service_hosts().iloc[calls.tolist()])


@pytest.mark.parametrize("design", design_names())
def test_single_family_proxies_get_exactly_the_single_stack_config(design: str) -> None:
    cluster = variety()
    pods = cluster.pods.iloc[cluster.proxies["pod"]]
    single = [i for i, (v4, v6) in enumerate(zip(pods["has_ipv4"], pods["has_ipv6"], strict=True)) if not (v4 and v6)]
    assert single, "the scenario must have single-family proxies"
    for proxy in single:
        mine, baseline = generate(cluster, proxy, design), generate(cluster, proxy, "single-stack")
        for kind in ("listeners", "clusters", "routes", "endpoints"):
            assert [m.SerializeToString(deterministic=True) for m in mine.resources(kind)] == [
                m.SerializeToString(deterministic=True) for m in baseline.resources(kind)
            ], (design, proxy, kind)


@pytest.mark.parametrize("design", design_names())
def test_single_family_services_keep_single_stack_shapes_on_dual_proxies(design: str) -> None:
    cluster = build_cluster(
        scenario_from_dict({"synthetic": {"services": 12, "families": {"ipv4": 1, "dual_ipv4_primary": 0}}})
    )
    for proxy in range(len(cluster.proxies)):
        mine, baseline = generate(cluster, proxy, design), generate(cluster, proxy, "single-stack")
        # Only the proxy-level objects (wildcard listeners, inbound side) may differ.
        outbound = lambda cfg: sorted(  # noqa: E731
            c.SerializeToString(deterministic=True) for c in cfg.clusters if c.name.startswith("outbound")
        )
        assert outbound(mine) == outbound(baseline)
        assert [a.SerializeToString(deterministic=True) for a in mine.endpoints] == [
            a.SerializeToString(deterministic=True) for a in baseline.endpoints
        ]


def test_designs_differ_where_the_spec_says() -> None:
    cluster = variety()
    pods = cluster.pods.iloc[cluster.proxies["pod"]]
    dual = next(i for i, (v4, v6) in enumerate(zip(pods["has_ipv4"], pods["has_ipv6"], strict=True)) if v4 and v6)
    configs = {d: generate(cluster, dual, d) for d in design_names()}
    count = {
        d: {k: len(c.resources(k)) for k in ("listeners", "clusters", "routes", "endpoints")}
        for d, c in configs.items()
    }
    dual_services = sum(1 for v in configs["single-stack"].proxy.outbound if v.facts.dual)
    assert dual_services
    # duplicate: more of everything; additional-addresses: as many objects as the baseline.
    for kind in ("listeners", "clusters", "endpoints"):
        assert count["duplicate"][kind] > count["single-stack"][kind], kind
    assert count["additional-addresses"]["listeners"] == count["single-stack"]["listeners"]
    assert count["additional-addresses"]["endpoints"] == count["single-stack"]["endpoints"]

    def endpoints(design: str) -> int:
        return sum(len(g.lb_endpoints) for a in configs[design].endpoints for g in a.endpoints)

    # Two endpoints per dual pod of a dual-stack service (1.17), one with an additional address (1.24);
    # single-stack drops pods without the primary family, which 1.24 keeps.
    assert endpoints("additional-addresses") > endpoints("additional-addresses-1.24") >= endpoints("single-stack")
    for assignment in configs["additional-addresses-1.24"].endpoints:
        metadata = [
            lb.metadata.filter_metadata["istio"]["workload"] for g in assignment.endpoints for lb in g.lb_endpoints
        ]
        addresses = [
            {
                lb.endpoint.address.socket_address.address,
                *(a.address.socket_address.address for a in lb.endpoint.additional_addresses),
            }
            for g in assignment.endpoints
            for lb in g.lb_endpoints
        ]
        assert len(metadata) == len(addresses)
        assert all(len(a) <= 2 for a in addresses)
        flat = [x for a in addresses for x in a]
        assert len(flat) == len(set(flat)), "a pod's address appears once per endpoint set"

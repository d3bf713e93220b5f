"""Any valid synthetic scenario builds a cluster that satisfies every invariant, deterministically."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsim import build_cluster, scenario_from_dict
from tests.cluster_invariants import check_cluster

weights = st.floats(min_value=0, max_value=5, allow_nan=False)


@st.composite
def synthetic_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    pod_families = draw(st.sampled_from([["IPv4", "IPv6"], ["IPv6", "IPv4"], ["IPv4"], ["IPv6"]]))
    families = {k: draw(weights) for k in ("ipv4", "ipv6", "dual_ipv4_primary", "dual_ipv6_primary")}
    if sum(families.values()) == 0:
        families["dual_ipv6_primary"] = 1.0
    protocols = {k: draw(weights) for k in ("http", "http2", "grpc", "tcp", "auto", "grpc_web")}
    if sum(protocols.values()) == 0:
        protocols["tcp"] = 1.0
    distribution = draw(st.sampled_from(["fixed", "uniform", "geometric", "lognormal"]))
    low = draw(st.integers(1, 3))
    model = draw(st.sampled_from(["none", "barabasi-albert", "erdos-renyi"]))
    return {
        "seed": draw(st.integers(0, 2**32)),
        "network": {"pod_ip_families": pod_families},
        "namespaces": [{"name": "fixed"}],
        "services": [
            {
                "name": "fixed",
                "namespace": "fixed",
                "ip_families": ["IPv6", "IPv4"],
                "ports": [{"name": "http", "port": 80}],
            }
        ],
        "workloads": [
            {"name": "fixed", "namespace": "fixed", "replicas": draw(st.integers(0, 3)), "ip_families": pod_families}
        ],
        "synthetic": {
            "namespaces": draw(st.integers(1, 5)),
            "services": draw(st.integers(1, 40)),
            "families": families,
            "ports_per_service": {1: 1.0, 2: draw(weights), 3: draw(weights)},
            "protocols": protocols,
            "replicas": {
                "distribution": distribution,
                "mean": draw(st.floats(1, 6)),
                "min": low,
                "max": low + draw(st.integers(0, 5)),
            },
            "localities": draw(
                st.lists(
                    st.builds(
                        dict,
                        region=st.sampled_from(["r1", "r2"]),
                        zone=st.sampled_from(["a", "b", "c"]),
                        weight=st.floats(0.1, 3),
                    ),
                    max_size=4,
                )
            ),
            "subsets": {"fraction": draw(st.floats(0, 1)), "versions": draw(st.integers(1, 3))},
            "sidecar_injection": draw(st.floats(0, 1)),
            "call_graph": {"model": model, "m": draw(st.integers(1, 4)), "mean_degree": draw(st.floats(0, 4))},
        },
    }


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(synthetic_scenarios())
def test_every_generated_cluster_holds_the_invariants_and_rebuilds_identically(data: dict[str, Any]) -> None:
    scenario = scenario_from_dict(data)
    first = build_cluster(scenario)
    check_cluster(first)
    again = build_cluster(scenario)
    for name, frame in first.tables().items():
        assert frame.equals(again.tables()[name]), name

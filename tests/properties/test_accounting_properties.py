"""On any small cluster, the vectorized accounting equals real serialization, exactly: odd name
lengths (varint boundaries at 127/128 bytes in names, hosts, SANs), every family mix, protocol,
subsets, visibility and mTLS mode, 0, 1 or many endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsim import build_cluster, design_names, scenario_from_dict
from tests.accounting_check import assert_methods_agree

label = st.integers(1, 63).map(lambda n: "a" * n)
domain = st.sampled_from(["cluster.local", "c" * 60 + ".local", "x" * 100])
families = st.sampled_from([["IPv4"], ["IPv6"], ["IPv4", "IPv6"], ["IPv6", "IPv4"]])
protocols = st.sampled_from(["http", "http2", "grpc", "grpc-web", "tcp", "mongo", ""])


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    namespaces = draw(st.lists(label, min_size=1, max_size=3, unique=True))
    services, workloads = [], []
    for i in range(draw(st.integers(1, 4))):
        ns = draw(st.sampled_from(namespaces))
        name = draw(label)[:60] + f"-{i}"
        ports = [
            {
                "name": f"{proto}-{k}" if proto else f"p{k}",
                "port": draw(st.sampled_from([80, 127, 128, 8080, 16384, 65535])),
            }
            for k, proto in enumerate(draw(st.lists(protocols, min_size=1, max_size=2)))
        ]
        ports = list({p["port"]: p for p in ports}.values())
        subset = draw(st.booleans())
        services.append(
            {
                "name": name,
                "namespace": ns,
                "ip_families": draw(families),
                "ports": ports,
                "selector": {"app": name},
                "subsets": [{"name": "v1", "labels": {"version": "v1"}}] if subset else [],
            }
        )
        workloads.append(
            {
                "name": name,
                "namespace": ns,
                "replicas": draw(st.integers(0, 3)),
                "labels": {"app": name, "version": draw(st.sampled_from(["v1", "v2"]))},
                "service_account": draw(label),
                "ip_families": draw(families),
                "sidecar": draw(st.booleans()),
                # region and zone at their 63-character limit: a Locality message over 127 bytes
                "locality": draw(st.sampled_from([{}, {"region": "r" * 63, "zone": "z" * 63}])),
            }
        )
    for w in workloads:
        w["calls"] = [
            f"{s['namespace']}/{s['name']}"
            for s in draw(st.lists(st.sampled_from(services), max_size=3, unique_by=lambda s: s["name"]))
        ]
    workloads[0]["sidecar"] = True
    workloads[0]["replicas"] = max(workloads[0]["replicas"], 1)
    return {
        "seed": draw(st.integers(0, 1000)),
        "visibility": draw(st.sampled_from(["all", "namespace", "dependencies"])),
        "mesh": {
            "mtls": draw(st.sampled_from(["PERMISSIVE", "STRICT", "DISABLE"])),
            "outbound_traffic_policy": draw(st.sampled_from(["ALLOW_ANY", "REGISTRY_ONLY"])),
            "cluster_domain": draw(domain),
            "trust_domain": draw(domain),
        },
        "namespaces": [{"name": n} for n in namespaces],
        "services": services,
        "workloads": workloads,
    }


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_vectorized_equals_protobuf_on_any_small_cluster(data: dict[str, Any]) -> None:
    cluster = build_cluster(scenario_from_dict(data))
    for design in design_names():
        assert_methods_agree(cluster, design)

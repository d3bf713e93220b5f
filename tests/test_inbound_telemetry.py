"""Inbound clusters list the pod's services as ``istio.services`` telemetry metadata
(``addTelemetryMetadata``; ``docs/dual-stack-designs.md``): of the services on the cluster's target
port, those with the first's service port, each host once; a Sidecar ingress port, the first service
with a port of its target port, or nothing when none has one. Both paths agree byte for byte."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import json_format

from dsim import build_cluster, design_names, scenario_from_dict
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for
from tests.accounting_check import assert_envoy_accepts_every_proxy, assert_exact_every_design

SCENARIO: dict[str, Any] = {
    "namespaces": [{"name": "a"}],
    "services": [
        # shop and store on 80 -> 8080: both listed; legacy on 81 -> 8080: not (another service port)
        {
            "name": "shop",
            "namespace": "a",
            "selector": {"app": "shop"},
            "ports": [{"port": 80, "target_port": 8080, "name": "http"}],
        },
        {
            "name": "legacy",
            "namespace": "a",
            "selector": {"app": "shop"},
            "ports": [{"port": 81, "target_port": 8080, "name": "http"}],
        },
        {
            "name": "store",
            "namespace": "a",
            "selector": {"app": "shop"},
            "ports": [{"port": 80, "target_port": 8080, "name": "http"}, {"port": 9000, "name": "tcp"}],
        },
        {
            "name": "gate",
            "namespace": "a",
            "selector": {"app": "gate"},
            "ports": [{"port": 443, "target_port": 8443, "name": "https"}],
        },
    ],
    "workloads": [
        {"name": "shop", "namespace": "a", "labels": {"app": "shop"}, "ip_families": ["IPv4", "IPv6"]},
        {"name": "gate", "namespace": "a", "labels": {"app": "gate"}},
    ],
    "sidecars": [
        {
            "name": "gate",
            "namespace": "a",
            "spec": {
                "workloadSelector": {"labels": {"app": "gate"}},
                "ingress": [
                    {"port": {"number": 8443, "protocol": "TLS", "name": "tls"}},
                    {"port": {"number": 7000, "protocol": "HTTP", "name": "http"}},
                ],
            },
        }
    ],
}
HOST = "{}.a.svc.cluster.local"


def _listed(cluster: Cluster, workload: str, design: str) -> dict[str, list[str]]:
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == workload)[0])
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    found = {}
    for c in proxy_config(index_for(cluster), proxy, get_design(design)).clusters:
        if c.name.startswith("inbound"):
            meta = json_format.MessageToDict(c.metadata).get("filterMetadata", {}).get("istio", {})
            found[c.name] = [s["host"] for s in meta.get("services", [])]
    return found


def test_inbound_clusters_list_their_services() -> None:
    cluster = build_cluster(scenario_from_dict(SCENARIO))
    for design in design_names():
        shop = _listed(cluster, "shop", design)
        assert shop["inbound|8080||"] == [HOST.format("shop"), HOST.format("store")]
        assert shop["inbound|9000||"] == [HOST.format("store")]
        gate = _listed(cluster, "gate", design)
        assert gate["inbound|8443||"] == [HOST.format("gate")]
        assert gate["inbound|7000||"] == []
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)


def test_a_destination_rule_gives_the_inbound_cluster_its_connection_pool_and_its_name() -> None:
    """``buildInboundCluster``: the rule of the first listed service, where it has a traffic policy at
    its top, names itself in the metadata and gives its connection pool (its port's settings replace
    the top's); its outlier detection stays outbound. A rule without a top-level policy gives nothing."""
    pool = {"tcp": {"maxConnections": 7}, "http": {"idleTimeout": "30s"}}
    scenario = {
        **SCENARIO,
        "destination_rules": [
            {
                "name": "shop",
                "namespace": "a",
                "spec": {
                    "host": "shop",
                    "trafficPolicy": {"connectionPool": pool, "outlierDetection": {"consecutive5xxErrors": 3}},
                },
            },
            {
                "name": "store",
                "namespace": "a",
                "spec": {
                    "host": "store",
                    "trafficPolicy": {
                        "portLevelSettings": [
                            {"port": {"number": 9000}, "connectionPool": {"tcp": {"maxConnections": 9}}}
                        ]
                    },
                },
            },
            {"name": "gate", "namespace": "a", "spec": {"host": "gate", "subsets": [{"name": "v1"}]}},
        ],
    }
    cluster = build_cluster(scenario_from_dict(scenario))
    w = int(np.flatnonzero(cluster.workloads["name"].to_numpy() == "shop")[0])
    proxy = int(np.flatnonzero(cluster.proxies["workload"].to_numpy() == w)[0])
    for design in design_names():
        found = {c.name: c for c in proxy_config(index_for(cluster), proxy, get_design(design)).clusters}
        shop, store = found["inbound|8080||"], found["inbound|9000||"]
        config = json_format.MessageToDict(shop.metadata)["filterMetadata"]["istio"]["config"]
        assert config.endswith("/namespaces/a/destination-rule/shop")
        assert shop.circuit_breakers.thresholds[0].max_connections.value == 7
        assert not shop.HasField("outlier_detection")
        assert store.circuit_breakers.thresholds[0].max_connections.value == 9
        assert "config" in json_format.MessageToDict(store.metadata)["filterMetadata"]["istio"]
    gate = _listed(cluster, "gate", "single-stack")
    assert gate["inbound|8443||"] == [HOST.format("gate")]
    assert_exact_every_design(cluster)
    assert_envoy_accepts_every_proxy(cluster)

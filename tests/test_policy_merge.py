"""Which traffic policy shapes a cluster (``docs/istio-objects.md`` 2.2), as Istio's
``MergeTrafficPolicy`` (``cluster_builder.go`` in 1.17, ``model/destination_rule.go`` at HEAD)
merges a rule's and a subset's: the rule's port-level entry replaces its top-level policy; a
subset's part replaces the rule's part; a subset's port-level entry replaces all four parts, the
ones it leaves unset by Istio's defaults rather than the rule's."""

from __future__ import annotations

from dsim.scenario.istio.destination_rule import parse_destination_rule
from dsim.xds.policy import effective_policy

RULE = {
    "name": "reviews",
    "namespace": "shop",
    "spec": {
        "host": "reviews",
        "trafficPolicy": {
            "outlierDetection": {"consecutive5xxErrors": 3},
            "connectionPool": {"tcp": {"maxConnections": 10}},
            "portLevelSettings": [{"port": {"number": 9090}, "connectionPool": {"tcp": {"maxConnections": 90}}}],
        },
        "subsets": [
            {
                "name": "v1",
                "labels": {"version": "v1"},
                "trafficPolicy": {
                    "loadBalancer": {"simple": "ROUND_ROBIN"},
                    "portLevelSettings": [
                        {"port": {"number": 8080}, "connectionPool": {"tcp": {"maxConnections": 80}}}
                    ],
                },
            }
        ],
    },
}


def _summary(subset: str, port: int) -> tuple[int | None, bool, str | None]:
    policy = effective_policy(parse_destination_rule(RULE).value.spec, subset, port)
    pool = policy.connection_pool
    connections = pool.tcp.max_connections if pool is not None and pool.tcp is not None else None
    lb = policy.load_balancer.simple if policy.load_balancer is not None else None
    return connections, policy.outlier_detection is not None, lb


def test_the_rules_port_level_entry_replaces_its_policy() -> None:
    assert _summary("", 9080) == (10, True, None)
    assert _summary("", 9090) == (90, False, None)  # nothing inherited from the top level


def test_a_subsets_part_replaces_the_rules_part() -> None:
    assert _summary("v1", 9080) == (10, True, "ROUND_ROBIN")
    assert _summary("v1", 9090) == (90, False, "ROUND_ROBIN")


def test_a_subsets_port_level_entry_replaces_every_part() -> None:
    # the rule's outlier detection and the subset's own load balancer are gone on that port
    assert _summary("v1", 8080) == (80, False, None)

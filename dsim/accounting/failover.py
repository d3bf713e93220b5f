"""The per-service metrics of locality failover (dsim/xds/failover.py): what a service's endpoints
add for a proxy in each locality, summed per workload like any other metric and picked per proxy by
its own locality (:func:`dsim.accounting.proxies.design_accounting`)."""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster
from dsim.scenario.istio.destination_rule import DestinationRuleSpec

FAILOVER_EDS = "failover_eds_bytes@"
"""``failover_eds_bytes@<locality>``: what prioritising the service's endpoint sets that fail over
adds to them for a proxy in that locality (a ``localities`` row)."""
FAILOVER_CDS = "failover_cds_bytes@"
"""``failover_cds_bytes@<locality>``: the same for its clusters' inline endpoints (DNS ServiceEntries)."""
FAILOVER_PRIORITIES = "failover_priorities@"
"""``failover_priorities@<locality>``: the priorities beyond the first its endpoint sets then have."""
FAILOVER_RINGS = "failover_hash_rings@"
"""``failover_hash_rings@<locality>``: the consistent-hash rings its clusters then build past one
each (a ring per priority)."""
FAILOVER_TARGETS = {
    FAILOVER_EDS: "eds_bytes",
    FAILOVER_CDS: "cds_bytes",
    FAILOVER_PRIORITIES: "failover_priorities",
    FAILOVER_RINGS: "hash_rings",
}
"""The metric each one adds to, per proxy."""


def failover_metric(prefix: str, locality: int) -> str:
    """The metric of ``prefix`` (a key of :data:`FAILOVER_TARGETS`) for ``locality``."""
    return f"{prefix}{locality}"


def is_failover_metric(metric: str) -> bool:
    return metric.startswith(tuple(FAILOVER_TARGETS))


def proxy_localities(cluster: Cluster) -> np.ndarray:
    """The localities (``localities`` rows) proxies run in, ascending: endpoint sets that fail over
    are priced for each."""
    pods = cluster.proxies["pod"].to_numpy()
    return np.unique(cluster.pods["locality"].to_numpy()[pods])


def may_fail_over(cluster: Cluster) -> bool:
    """Whether some endpoint set of ``cluster`` may fail over: some DestinationRule sets outlier
    detection (at any level) and pods run in more than one locality, or a ServiceEntry endpoint
    names one (its groups may then differ from the proxies' own). Where not, nothing is priced per
    locality. Kept on the cluster: every pricing pass asks."""
    return cluster.keep("may_fail_over", lambda: _may_fail_over(cluster))


def _may_fail_over(cluster: Cluster) -> bool:
    rules = cluster.istio.destination_rules
    if not any(_sets_outlier_detection(rule.spec) for rule in rules):
        return False
    if len(np.unique(cluster.pods["locality"].to_numpy())) > 1:
        return True
    return any(e.locality for entry in cluster.istio.service_entries for e in entry.spec.endpoints)


def _sets_outlier_detection(spec: DestinationRuleSpec) -> bool:
    policies = [p for p in (spec.traffic_policy, *(s.traffic_policy for s in spec.subsets)) if p is not None]
    ports = [port for p in policies for port in p.port_level_settings]
    return any(p.outlier_detection is not None for p in policies) or any(
        port.outlier_detection is not None for port in ports
    )


def failover_metrics(cluster: Cluster) -> list[str]:
    """Every failover metric of ``cluster``'s proxy localities (none where no set may fail over)."""
    if not may_fail_over(cluster):
        return []
    return [failover_metric(prefix, int(at)) for at in proxy_localities(cluster) for prefix in FAILOVER_TARGETS]

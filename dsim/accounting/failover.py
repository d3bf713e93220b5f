"""The per-service metrics of locality failover (dsim/xds/failover.py): what a service's endpoints
add for a proxy in each locality, summed per workload like any other metric and picked per proxy by
its own locality (:func:`dsim.accounting.proxies.design_accounting`)."""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster
from dsim.scenario.istio.destination_rule import (
    DestinationRuleSpec,
    LocalityLbSetting,
    PortTrafficPolicy,
    TrafficPolicy,
)

FAILOVER_EDS = "failover_eds_bytes@"
"""``failover_eds_bytes@<locality>``: what prioritising the service's endpoint sets that fail over
adds to them for a proxy in that locality (a ``localities`` row)."""
FAILOVER_CDS = "failover_cds_bytes@"
"""``failover_cds_bytes@<locality>``: the same for its clusters' inline endpoints (DNS ServiceEntries)."""
FAILOVER_PRIORITIES = "failover_priorities@"
"""``failover_priorities@<locality>``: the priorities beyond the first its endpoint sets then have."""
FAILOVER_RINGS = "failover_hash_rings@"
"""``failover_hash_rings@<locality>``: the consistent-hash rings its clusters then build past one
each (a ring per priority; none where a distribution empties every group)."""
FAILOVER_ENDPOINTS = "failover_endpoints@"
"""``failover_endpoints@<locality>``: the endpoints its sets then lose (a distribution empties the
groups it gives no weight)."""
FAILOVER_EXTRA = "failover_endpoint_additional_addresses@"
"""``failover_endpoint_additional_addresses@<locality>``: their additional addresses lost with them."""
FAILOVER_TARGETS = {
    FAILOVER_EDS: "eds_bytes",
    FAILOVER_CDS: "cds_bytes",
    FAILOVER_PRIORITIES: "failover_priorities",
    FAILOVER_RINGS: "hash_rings",
    FAILOVER_ENDPOINTS: "endpoints",
    FAILOVER_EXTRA: "endpoint_additional_addresses",
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
    """Whether some endpoint set of ``cluster`` may differ by the proxy's locality: some
    DestinationRule or the mesh distributes by locality, or a rule sets outlier detection (at any
    level) or a service has a ``trafficDistribution``, and pods run in more than one locality, or a
    ServiceEntry endpoint names one (its groups may then differ from the proxies' own). Where not,
    nothing is priced per locality. Kept on the cluster: every pricing pass asks."""
    return cluster.keep("may_fail_over", lambda: _may_fail_over(cluster))


def _may_fail_over(cluster: Cluster) -> bool:
    policies = [p for rule in cluster.istio.destination_rules for p in _policies(rule.spec)]
    settings = [p.load_balancer.locality_lb_setting for p in policies if p.load_balancer is not None]
    if any(_distributes(s) for s in (*settings, cluster.scenario.mesh.locality_lb_setting)):
        return True
    if not any(p.outlier_detection is not None for p in policies) and not cluster.services["prefer_close"].any():
        return False
    if len(np.unique(cluster.pods["locality"].to_numpy())) > 1:
        return True
    return any(e.locality for entry in cluster.istio.service_entries for e in entry.spec.endpoints)


def _policies(spec: DestinationRuleSpec) -> list[TrafficPolicy | PortTrafficPolicy]:
    """Every policy of a rule: its own, its subsets', and their ports'."""
    policies = [p for p in (spec.traffic_policy, *(s.traffic_policy for s in spec.subsets)) if p is not None]
    return [*policies, *(port for p in policies for port in p.port_level_settings)]


def _distributes(setting: LocalityLbSetting | None) -> bool:
    return setting is not None and setting.enabled is not False and bool(setting.distribute)


def failover_metrics(cluster: Cluster) -> list[str]:
    """Every failover metric of ``cluster``'s proxy localities (none where no set may fail over)."""
    if not may_fail_over(cluster):
        return []
    return [failover_metric(prefix, int(at)) for at in proxy_localities(cluster) for prefix in FAILOVER_TARGETS]

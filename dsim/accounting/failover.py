"""The per-service metrics of locality failover (dsim/xds/failover.py): what a service's endpoints
add for a proxy in each locality, summed per workload like any other metric and picked per proxy by
its own locality (:func:`dsim.accounting.proxies.design_accounting`)."""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster

FAILOVER_EDS = "failover_eds_bytes@"
"""``failover_eds_bytes@<locality>``: what prioritising the service's endpoint sets that fail over
adds to them for a proxy in that locality (a ``localities`` row)."""
FAILOVER_CDS = "failover_cds_bytes@"
"""``failover_cds_bytes@<locality>``: the same for its clusters' inline endpoints (DNS ServiceEntries)."""
FAILOVER_PRIORITIES = "failover_priorities@"
"""``failover_priorities@<locality>``: the priorities beyond the first its endpoint sets then have."""
FAILOVER_TARGETS = {FAILOVER_EDS: "eds_bytes", FAILOVER_CDS: "cds_bytes", FAILOVER_PRIORITIES: "failover_priorities"}
"""The metric each one adds to, per proxy."""


def failover_metric(prefix: str, locality: int) -> str:
    """The metric of ``prefix`` (:data:`FAILOVER_EDS` or :data:`FAILOVER_CDS`) for ``locality``."""
    return f"{prefix}{locality}"


def is_failover_metric(metric: str) -> bool:
    return metric.startswith(tuple(FAILOVER_TARGETS))


def proxy_localities(cluster: Cluster) -> np.ndarray:
    """The localities (``localities`` rows) proxies run in, ascending: endpoint sets that fail over
    are priced for each."""
    pods = cluster.proxies["pod"].to_numpy()
    return np.unique(cluster.pods["locality"].to_numpy()[pods])


def failover_metrics(cluster: Cluster) -> list[str]:
    """Every failover metric of ``cluster``'s proxy localities."""
    return [failover_metric(prefix, int(at)) for at in proxy_localities(cluster) for prefix in FAILOVER_TARGETS]

"""Which workloads see a service: the scenario's ``visibility``, playing the Sidecar scope.

Istio skips a proxy in a push when none of the changed configs is in its Sidecar scope, so the
same rule decides both what a proxy's config holds and which proxies a change reaches.
"""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster
from dsim.cluster.grouping import grouped


def services_by_workload(cluster: Cluster) -> list[np.ndarray]:
    """Per workload row: the services selecting it."""
    sw = cluster.service_workloads
    return grouped(sw["workload"].to_numpy(), sw["service"].to_numpy(), len(cluster.workloads))


class Seers:
    """Per service (by the original a created copy was cloned from): the workloads that see it.

    Where Sidecars or exportTo scope the mesh, the cluster's ``scope`` pairs decide (as they do
    for the configs' sizes: :mod:`dsim.cluster.sidecars`); else the scenario's ``visibility``."""

    def __init__(self, cluster: Cluster) -> None:
        scoped = cluster.istio.scoped
        self.mode = "scope" if scoped else cluster.scenario.visibility
        self.workloads = len(cluster.workloads)
        self.workload_namespace = cluster.workloads["namespace"].to_numpy()
        self.service_namespace = cluster.services["namespace"].to_numpy()
        self._every = np.arange(self.workloads)
        self._by_namespace = grouped(self.workload_namespace, self._every, len(cluster.namespaces))
        if scoped:  # (group, service) pairs: each group's workloads see its services
            pairs, column = cluster.scope, "group"
            members = cluster.scope_groups
            count = int(members["group"].max()) + 1 if len(members) else 0
            self._members = grouped(members["group"].to_numpy(), members["workload"].to_numpy(), count)
        else:  # (workload, service) pairs
            pairs, column = cluster.dependencies, "workload"
        self._by_dependency = grouped(pairs["service"].to_numpy(), pairs[column].to_numpy(), len(cluster.services))

    def of(self, service: int) -> np.ndarray:
        """Workload rows that see ``service`` (an original service row)."""
        if self.mode == "all":
            return self._every
        if self.mode == "namespace":
            return self._by_namespace[int(self.service_namespace[service])]
        if self.mode == "scope":
            groups = self._by_dependency[service]
            if not len(groups):
                return groups
            return np.sort(np.concatenate([self._members[g] for g in groups.tolist()]))
        return self._by_dependency[service]

    def in_namespace(self, namespace: int) -> np.ndarray:
        """Workload rows of a namespace."""
        return self._by_namespace[namespace]

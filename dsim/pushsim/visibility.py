"""Which workloads see a service: the scenario's ``visibility``, playing the Sidecar scope.

Istio skips a proxy in a push when none of the changed configs is in its Sidecar scope, so the
same rule decides both what a proxy's config holds and which proxies a change reaches.
"""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster


class Seers:
    """Per service (by the original a created copy was cloned from): the workloads that see it."""

    def __init__(self, cluster: Cluster) -> None:
        self.mode = cluster.scenario.visibility
        self.workloads = len(cluster.workloads)
        self.workload_namespace = cluster.workloads["namespace"].to_numpy()
        self.service_namespace = cluster.services["namespace"].to_numpy()
        self._every = np.arange(self.workloads)
        order = np.argsort(self.workload_namespace, kind="stable")
        bounds = np.searchsorted(self.workload_namespace[order], np.arange(len(cluster.namespaces) + 1))
        self._by_namespace = [order[bounds[i] : bounds[i + 1]] for i in range(len(cluster.namespaces))]
        deps = cluster.dependencies.sort_values(["service", "workload"], kind="stable")
        services = deps["service"].to_numpy()
        self._dep_workloads = deps["workload"].to_numpy()
        self._dep_bounds = np.searchsorted(services, np.arange(len(cluster.services) + 1))

    def of(self, service: int) -> np.ndarray:
        """Workload rows that see ``service`` (an original service row)."""
        if self.mode == "all":
            return self._every
        if self.mode == "namespace":
            return self._by_namespace[int(self.service_namespace[service])]
        return self._dep_workloads[self._dep_bounds[service] : self._dep_bounds[service + 1]]

    def in_namespace(self, namespace: int) -> np.ndarray:
        """Workload rows of a namespace."""
        return self._by_namespace[namespace]

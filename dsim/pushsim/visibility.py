"""Which workloads see a service: the scenario's ``visibility``, playing the Sidecar scope.

Istio skips a proxy in a push when none of the changed configs is in its Sidecar scope, so the
same rule decides both what a proxy's config holds and which proxies a change reaches.
"""

from __future__ import annotations

import numpy as np

from dsim.accounting.holders import Holders, holders_of
from dsim.cluster import Cluster
from dsim.cluster.grouping import grouped


def services_by_workload(cluster: Cluster) -> list[np.ndarray]:
    """Per workload row: the services whose endpoint sets hold its pods (:meth:`Cluster.endpoint_workloads`)."""
    sw = cluster.endpoint_workloads("service")
    return grouped(sw["workload"].to_numpy(), sw["service"].to_numpy(), len(cluster.workloads))


class Seers:
    """Per service (by the original a created copy was cloned from): the workloads that see it.

    Where Sidecars or exportTo scope the mesh, the cluster's ``scope`` pairs decide (as they do
    for the configs' sizes: :mod:`dsim.cluster.sidecars`); else the scenario's ``visibility``.
    Outside ``all``, each workload has a holder that sees for it (its namespace, its scope group,
    or itself under the call graph), so sums over what a workload sees are made per holder."""

    def __init__(self, cluster: Cluster) -> None:
        scoped = cluster.istio.scoped
        self.mode = "scope" if scoped else cluster.scenario.visibility
        self.workloads = len(cluster.workloads)
        self.workload_namespace = cluster.workloads["namespace"].to_numpy()
        self.service_namespace = cluster.services["namespace"].to_numpy()
        self._every = np.arange(self.workloads)
        self._by_namespace = grouped(self.workload_namespace, self._every, len(cluster.namespaces))
        self.holder = self.workload_namespace.astype(np.int64)
        """Per workload: its holder (under ``scope``, a workload in no group has the last, which sees nothing)."""
        self.holders = len(cluster.namespaces)
        self._sets: Holders | None = None
        if scoped or self.mode == "dependencies":  # the accounting's holders: scope groups, or workloads
            self._sets = holders_of(cluster)
            self.holder, self.holders = self._sets.holder, self._sets.count
        pairs, column = (cluster.scope, "group") if scoped else (cluster.dependencies, "workload")
        self._by_dependency = grouped(pairs["service"].to_numpy(), pairs[column].to_numpy(), len(cluster.services))

    def of(self, service: int) -> np.ndarray:
        """Workload rows that see ``service`` (an original service row), ascending."""
        if self.mode == "all":
            return self._every
        if self.mode == "namespace":
            return self._by_namespace[int(self.service_namespace[service])]
        if self.mode == "scope":
            return np.flatnonzero(self._seeing([service])[self.holder])
        return self._by_dependency[service]

    def _holders_of(self, service: int) -> np.ndarray:
        """The holders that see ``service`` (not under ``all``)."""
        if self.mode == "namespace":
            return self.service_namespace[service : service + 1].astype(np.int64)
        return self._by_dependency[service]

    def _seeing(self, services: list[int]) -> np.ndarray:
        """Mask over holders: those that see any of ``services``."""
        mask = np.zeros(self.holders, bool)
        for service in services:
            mask[self._holders_of(service)] = True
        return mask

    def sees(self, service: int, workloads: np.ndarray) -> np.ndarray:
        """Per workload of ``workloads``: whether it sees ``service`` (an original service row)."""
        if self.mode == "all":
            return np.ones(len(workloads), bool)
        return self._seeing([service])[self.holder[workloads]]

    def sees_any(self, services: np.ndarray) -> np.ndarray:
        """Per workload: whether it sees any of ``services`` (original service rows)."""
        if self.mode == "all":
            return np.full(self.workloads, len(services) > 0)
        return self._seeing(np.unique(services).tolist())[self.holder]

    def per_holder(self, per_service: np.ndarray) -> np.ndarray:
        """Per holder: the sum of ``per_service`` (per original service row) over the services it
        sees (not under ``all``; float64, whole numbers)."""
        if self._sets is None:  # namespace: a namespace's holder sees its services
            return np.bincount(self.service_namespace, weights=per_service, minlength=self.holders)
        return self._sets.total(per_service)

    def in_namespace(self, namespace: int) -> np.ndarray:
        """Workload rows of a namespace."""
        return self._by_namespace[namespace]

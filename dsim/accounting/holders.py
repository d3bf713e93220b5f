"""Each workload's holder (the workloads that see the same services: a scope group, or the workload
itself under the call graph) and what each holder sees, for a cluster. Made once and kept on it:
every design's accounting (:class:`dsim.accounting.visibility.Visibility`) and the push model
(:class:`dsim.pushsim.visibility.Seers`) sum over the same sets."""

from __future__ import annotations

import dataclasses

import numpy as np

from dsim.accounting.holder_sets import HolderSets
from dsim.cluster import Cluster


@dataclasses.dataclass(frozen=True)
class Holders:
    mode: str
    """``scope`` (Sidecars or exportTo scope the mesh) or the scenario's ``visibility``."""
    holder: np.ndarray
    """Per workload: its holder (under ``scope``, a workload in no group has the last, which sees nothing)."""
    count: int
    """The number of holders."""
    seen: HolderSets
    """What each holder sees (empty under the ``all`` and ``namespace`` visibilities: their sums need no pairs)."""
    only: HolderSets | None
    """The services each holder has clusters for and nothing else (VirtualService destinations its
    Sidecar's egress hosts leave out); ``None``: none."""

    def total(self, per_service: np.ndarray) -> np.ndarray:
        """Per holder: the sum of ``per_service`` over the services it has clusters for (float64, whole numbers)."""
        found = self.seen.total(per_service)
        return found if self.only is None else found + self.only.total(per_service)


def holders_of(cluster: Cluster) -> Holders:
    """The cluster's :class:`Holders`, made once."""
    return cluster.keep("holders", lambda: _holders(cluster))


def _holders(cluster: Cluster) -> Holders:
    scoped = cluster.istio.scoped
    workloads = len(cluster.workloads)
    if scoped:
        rows, column = cluster.scope, "group"
        holder = cluster.workload_scope_groups()
        count = int(holder.max()) + 1 if workloads else 0
        holder = np.where(holder < 0, count, holder)  # no group: the empty holder past the last
    else:
        rows, column = cluster.dependencies, "workload"
        holder, count = np.arange(workloads, dtype=np.int64), workloads
    mode = "scope" if scoped else cluster.scenario.visibility
    if mode in ("all", "namespace"):
        rows = rows.iloc[:0]
    holders = rows[column].to_numpy()
    service = rows["service"].to_numpy()
    alone = rows["clusters_only"].to_numpy(bool) if scoped else np.zeros(len(rows), bool)

    def sets(chosen: np.ndarray) -> HolderSets:
        return HolderSets.of_pairs(holders[chosen], service[chosen], count + 1, len(cluster.services))

    return Holders(
        mode=mode, holder=holder, count=count + 1, seen=sets(~alone), only=sets(alone) if alone.any() else None
    )

"""Membership states priced: some workloads backed by other pods than their own.

An endpoint-set change of the push model swaps one membership state's endpoint bytes for
another's (:mod:`.configs`). A Kubernetes Service's endpoint sets are priced by the accounting's
column pricing over a membership table (``service_pods``, ``subset_pods``). A ServiceEntry that
selects pods by ``workloadSelector`` is priced from the generator's own messages
(:mod:`dsim.accounting.entries`), so its endpoint sets under a state are built on an index whose
workloads have the state's pods: the same messages a cluster holding those pods would build.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from dsim.accounting.columns import ClusterColumns
from dsim.accounting.entries import entry_prices
from dsim.accounting.outbound import ENDPOINT_METRICS, endpoint_prices
from dsim.cluster import Cluster
from dsim.designs.base import Design, ProxyFacts
from dsim.xds.service_entries import entry_index
from dsim.xds.view import index_for


@dataclasses.dataclass(frozen=True, eq=False)
class Membership:
    """Some workloads' pods replaced, as the two pricings read it."""

    cols: ClusterColumns
    """The columns with those pods behind the workloads' services and subsets."""
    pods_of_workload: dict[int, list[int]]
    """The replaced workloads' pods (a pod listed twice: a clone of it)."""


def membership(cluster: Cluster, cols: ClusterColumns, batch: list[tuple[int, tuple[int, ...]]]) -> Membership:
    """``cols`` with the workloads of ``batch`` backed by the given pods instead of their own."""
    workloads = np.array([w for w, _ in batch])
    # The endpoints written by hand (sources past the pods) belong to no workload.
    pod_workload = np.concatenate([cluster.pods["workload"].to_numpy(), np.full(len(cluster.written_endpoints), -1)])
    states = pd.DataFrame([(w, pod) for w, pods in batch for pod in pods], columns=["workload", "pod"], dtype=np.int64)
    tables = {}
    for key, table, links in (
        ("service", cols.service_pods, cluster.endpoint_workloads("service")),
        ("subset", cols.subset_pods, cluster.endpoint_workloads("subset")),
    ):
        kept = table[~np.isin(pod_workload[table["pod"].to_numpy()], workloads)]
        added = links[links["workload"].isin(workloads)].merge(states, on="workload")[[key, "pod"]]
        tables[key] = pd.concat([kept, added], ignore_index=True).sort_values([key, "pod"], ignore_index=True)
    return Membership(
        cols=dataclasses.replace(cols, service_pods=tables["service"], subset_pods=tables["subset"]),
        pods_of_workload={w: list(pods) for w, pods in batch},
    )


def state_endpoint_prices(
    state: Membership, cols: ClusterColumns, design: Design, proxy: ProxyFacts, services: np.ndarray
) -> pd.DataFrame:
    """:func:`dsim.accounting.outbound.endpoint_prices` of ``services`` under ``state``, seen
    through ``cols`` (``state.cols``, or a view of it), ServiceEntry hosts included."""
    priced = endpoint_prices(cols, design, proxy, services)
    cluster = cols.objects.cluster
    is_entry = cluster.services["entry"].to_numpy()[services] >= 0
    if not is_entry.any():
        return priced
    index = index_for(cluster).with_pods(state.pods_of_workload)
    entries = services[is_entry]
    # A host listening per endpoint is a NONE one: ORIGINAL_DST clusters, no endpoint set (its
    # metrics stay 0), and its listeners, which Istio leaves to the next full push, are not built.
    built = entries[~np.isin(entries, entry_index(index).per_endpoint)]
    # Endpoint metrics alone: the listeners' outbound traffic policy changes none of them.
    per = entry_prices(index, design, proxy, [], cols.objects, built, listener_policy=True).per_service
    for metric in ENDPOINT_METRICS:
        values = priced[metric].to_numpy().copy()
        values[is_entry] = per[metric][entries]
        priced[metric] = values
    return priced

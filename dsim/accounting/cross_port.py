"""What the ``<host>:P`` virtual hosts of a VirtualService's other hosts (P a port other than 80)
add to each workload's ``"P"`` route configurations (:mod:`dsim.xds.cross_port_vhosts`, whose
choice these are), summed without building a proxy's messages.

They depend on a workload through its walk (its import scope), its viewer (which routes it keeps,
which VirtualService builds a service's virtual host) and what it sees of the few services that
decide them (:meth:`dsim.xds.cross_port_vhosts.CrossPortVirtualHosts.relevant`). Workloads alike in
all of these share one priced list; the visibility mode says who can differ in what they see (no
one, a namespace, or each workload).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.accounting.port80 import METRICS
from dsim.accounting.visibility import Visibility
from dsim.cluster import Cluster
from dsim.designs.base import Design, ProxyFacts
from dsim.xds.cross_port_vhosts import cross_port_vhosts
from dsim.xds.mesh_objects import mesh_objects


def cross_port_deltas(
    cluster: Cluster, design: Design, proxy: ProxyFacts, seen: Visibility, http_ports: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Per workload and metric of :data:`dsim.accounting.port80.METRICS`: what its ``"P<suffix>"``
    route configurations (``http_ports``: workload, port, suffix, those it has), P not 80, gain from
    VirtualServices' other hosts."""
    crossing = cross_port_vhosts(cluster)
    if not crossing or not len(http_ports):
        return {}
    opened = http_ports[np.isin(http_ports["port"].to_numpy(), sorted(crossing.ports))]
    if not len(opened):
        return {}
    workload = opened["workload"].to_numpy()
    rows = pd.DataFrame(
        {
            "workload": workload,
            "viewer": cluster.workload_viewers()[workload],
            "scope": crossing.scopes.of_workload[workload],
            "port": opened["port"].to_numpy(),
            "suffix": opened["suffix"].to_numpy(),
        }
    )
    walks = rows[["scope", "port"]].drop_duplicates()
    walks["walk"] = [crossing.walk(int(sc), int(p)) for sc, p in zip(walks["scope"], walks["port"], strict=True)]
    rows = rows.merge(walks, on=["scope", "port"], how="left")
    deciding = sorted(set().union(*(crossing.relevant[w] for w in walks["walk"].unique().tolist())))
    who, seen_by = _who_sees(seen, deciding, rows["workload"].to_numpy())
    rows["who"] = who
    key_columns = ["viewer", "walk", "port", "suffix", "who"]
    distinct = rows[key_columns].drop_duplicates().reset_index(drop=True)
    objects = mesh_objects(cluster)
    values = np.zeros((len(distinct), len(METRICS)), np.int64)
    for k, (viewer, walk, port, suffix, sees) in enumerate(distinct.itertuples(index=False)):
        view = objects.routes_view(int(viewer))
        values[k] = crossing.priced(int(walk), view, int(port), suffix, design, proxy, seen_by[int(sees)])
    if not values.any():
        return {}
    distinct["key"] = np.arange(len(distinct))
    per_row = values[rows.merge(distinct, on=key_columns, how="left")["key"].to_numpy()]
    return {
        metric: np.bincount(
            rows["workload"].to_numpy(), weights=per_row[:, i], minlength=len(cluster.workloads)
        ).astype(np.int64)
        for i, metric in enumerate(METRICS)
    }


def _who_sees(
    seen: Visibility, services: list[int], workload: np.ndarray
) -> tuple[np.ndarray, dict[int, frozenset[int]]]:
    """Per row (its workload): a number shared by the rows whose workloads see the same of
    ``services`` (from what each :meth:`Visibility.who` number sees), and what each number sees
    of ``services``."""
    pairs = seen.who_pairs(np.asarray(services, np.int64)).sort_values(["who", "service"])
    per_who = pairs.groupby("who", sort=True)["service"].agg(tuple)
    numbers: dict[tuple[int, ...], int] = {(): 0}
    number_of = np.zeros(seen.whos(), np.int64)  # a number seeing none of them: 0
    number_of[per_who.index.to_numpy()] = [numbers.setdefault(found, len(numbers)) for found in per_who]
    return number_of[seen.who()[workload]], {number: frozenset(found) for found, number in numbers.items()}

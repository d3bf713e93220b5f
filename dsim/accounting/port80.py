"""What the ``<host>:80`` virtual hosts of VirtualService hosts no port-80 service answers add to
each workload's ``"80"`` route configurations (:mod:`dsim.xds.port80_vhosts`, whose prices these
are), summed without building a proxy's messages.

They depend on a workload through its walk (its import scope: namespace and Sidecar, or the
Sidecar its ``visibility`` stands for), its viewer (which routes it keeps, which hash policies they
carry) and what it sees (a host whose port-80 service it sees is that service's). Each (viewer,
import scope, family copy) takes a list of priced candidate hosts in parts
shared between keys (:class:`dsim.xds.port80_vhosts.PricedHosts`); a workload takes its parts'
totals, less the hosts its scope blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.accounting.visibility import Visibility
from dsim.cluster import Cluster
from dsim.designs.base import Design, ProxyFacts
from dsim.xds.port80_vhosts import PORT_80, port80_vhosts
from dsim.xds.routes import ROUTE_COUNTS

METRICS = ("rds_bytes", "virtual_hosts", "domains", *ROUTE_COUNTS)
"""What one such virtual host adds (it has one domain, its host)."""


def port80_deltas(
    cluster: Cluster, design: Design, proxy: ProxyFacts, seen: Visibility, http_ports: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Per workload and metric of :data:`METRICS`: what its ``"80<suffix>"`` route configurations
    (``http_ports``: workload, port, suffix, those it has) gain from hosts without a port-80 service."""
    unmatched = port80_vhosts(cluster)
    opened = http_ports[http_ports["port"].to_numpy() == PORT_80]
    if not unmatched or not len(opened):
        return {}
    workload = opened["workload"].to_numpy()
    keys = pd.DataFrame(
        {
            "workload": workload,
            "viewer": cluster.workload_viewers()[workload],
            "scope": unmatched.scopes.of_workload[workload],
            "suffix": opened["suffix"].to_numpy(),
        }
    )
    key_columns = ["viewer", "scope", "suffix"]
    distinct = keys[key_columns].drop_duplicates().reset_index(drop=True)
    # Each distinct key's parts (lead, tail, less the dropped) with their signs; each part priced once.
    hosts: dict[str, int] = {}
    blockers: dict[int, frozenset[int]] = {}
    rows: list[tuple[int, ...]] = []  # (part, host, metric values...)
    priced_parts: set[int] = set()
    uses: list[tuple[int, int, int]] = []  # (distinct key, part, sign)
    for k, (viewer, scope, suffix) in enumerate(distinct.itertuples(index=False)):
        found = unmatched.priced(int(scope), unmatched.view_of(int(viewer)), suffix, design, proxy)
        for part, sign in ((found.lead, 1), (found.tail, 1), (found.dropped, -1)):
            if not part.hosts:
                continue
            uses.append((k, part.number, sign))
            if part.number in priced_parts:
                continue
            priced_parts.add(part.number)
            for host, size, counts in part.hosts:
                h = hosts.setdefault(host.host, len(hosts))
                blockers[h] = host.blockers
                rows.append((part.number, h, size, 1, 1, *(counts[name] for name in ROUTE_COUNTS)))
    if not rows:
        return {}
    distinct["key"] = np.arange(len(distinct))
    keys = keys.merge(distinct, on=key_columns)
    priced = pd.DataFrame(np.array(rows, dtype=np.int64), columns=["part", "host", *METRICS])
    used = pd.DataFrame(np.array(uses, dtype=np.int64), columns=["key", "part", "sign"])
    # Every (workload row, part, sign) its "80<suffix>" is made of.
    made = keys[["workload", "key"]].merge(used, on="key")
    made["row"] = np.arange(len(made))
    totals = priced.groupby("part")[list(METRICS)].sum()
    values = totals.reindex(made["part"].to_numpy()).to_numpy(np.int64) - _blocked(made, priced, blockers, seen)
    values *= made["sign"].to_numpy()[:, None]
    workload_of = made["workload"].to_numpy()
    return {
        metric: np.bincount(workload_of, weights=values[:, i], minlength=len(cluster.workloads)).astype(np.int64)
        for i, metric in enumerate(METRICS)
    }


def _blocked(
    made: pd.DataFrame,
    priced: pd.DataFrame,
    blockers: dict[int, frozenset[int]],
    seen: Visibility,
) -> np.ndarray:
    """Per row of ``made`` (a part of a workload's ``"80<suffix>"``): the metrics of the part's hosts
    whose port-80 service the workload sees (they are that service's host, not a virtual host of
    their own)."""
    nothing = np.zeros((len(made), len(METRICS)), np.int64)
    blocking = pd.DataFrame(
        [(h, s) for h, found in blockers.items() for s in found], columns=["host", "service"], dtype=np.int64
    )
    if not len(blocking):
        return nothing
    # (who, host): the hosts whose port-80 service the workloads of ``who`` see (Visibility.who:
    # all alike, by namespace, or by holder).
    who_of_row = seen.who()[made["workload"].to_numpy()]
    held = seen.who_pairs(blocking["service"].unique()).merge(blocking, on="service")[["who", "host"]]
    # Few "who"s: sum each part's blocked hosts per who, then look each row's (part, who) up.
    summed = priced.merge(held.drop_duplicates(), on="host").groupby(["part", "who"])[list(METRICS)].sum()
    index = pd.MultiIndex.from_arrays([made["part"].to_numpy(), who_of_row])
    return summed.reindex(index, fill_value=0).to_numpy(np.int64)

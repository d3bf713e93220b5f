"""What a sidecar does not get of the per-endpoint listeners it sees: those of its own pod.

A ServiceEntry host that listens per endpoint (``NONE``, a workload selector, no address:
``docs/istio-objects.md`` 3.4) gives every proxy that sees it a listener per endpoint, except a
proxy whose pod is that endpoint (``buildSidecarOutboundListeners`` skips the endpoint whose first
address is the proxy's first). The class prices hold every endpoint's listener, as a proxy of no
such pod gets them; this module takes each selected pod's own proxy's listeners back off, per
proxy: the listeners it keeps of its own address (the first host it sees that builds a name keeps
it, as :func:`dsim.xds.service_entries.kept_parts` keeps it), and a sniffed port's route
configuration where those were the only listeners of their host naming it that the proxy keeps.
Rows are priced in the proxy's viewer's view, as its VirtualServices shape their chains.

Only a pod's own rows are joined to its proxy; how many listeners of a host naming a route the
proxy keeps depends on what its workload sees alone, and is counted once per
:meth:`~dsim.accounting.visibility.Visibility.who` number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.accounting.entries import ROUTE_METRICS, endpoint_listener_rows
from dsim.accounting.visibility import Visibility
from dsim.cluster import Cluster
from dsim.designs.base import Design, ProxyFacts
from dsim.xds.mesh_objects import mesh_objects
from dsim.xds.service_entries import entry_index
from dsim.xds.view import index_for

ROUTE_KEY = ["service", "route"]


def _kept_naming(seen: Visibility, rows: pd.DataFrame, whos: np.ndarray) -> pd.DataFrame:
    """Per (who, service, route) of ``whos`` (:meth:`Visibility.who` numbers): how many listeners of
    the host naming the route a workload of that number keeps (``kept``): those whose name no
    earlier host it sees builds. Names and routes are the same in every view."""
    pairs = seen.who_pairs(np.unique(rows["service"].to_numpy()))
    pairs = pairs[np.isin(pairs["who"].to_numpy(), whos)]
    every = pairs.merge(rows[["service", "name", "route"]], on="service").sort_values(["who", "service"], kind="stable")
    kept = every[~every.duplicated(["who", "name"])]
    counted = kept[kept["route"] != ""].groupby(["who", *ROUTE_KEY], as_index=False).size()
    return counted.rename(columns={"size": "kept"})


def own_endpoint_deltas(
    cluster: Cluster,
    design: Design,
    facts: ProxyFacts,
    seen: Visibility,
    proxies: np.ndarray,
    *,
    tau: np.ndarray,
    allow: np.ndarray,
    listener_policy: bool,
    logged: bool,
) -> dict[str, np.ndarray]:
    """Per proxy (all of the cluster's; zero but for ``proxies``, ``facts``-family ones): what its
    own pod's per-endpoint listeners and the route configurations only they name add to its
    workload's outbound totals, negated (``tau``, ``allow``: per workload, its tracing class and
    whether its outbound traffic policy is ALLOW_ANY, the listeners being priced under
    ``listener_policy``; ``logged``: each chain carries an access log)."""
    index = index_for(cluster)
    if not entry_index(index).per_endpoint or not len(proxies):
        return {}
    proxy_workload = cluster.proxies["workload"].to_numpy()
    taus = sorted(set(tau[proxy_workload[proxies]].tolist()))
    objects = mesh_objects(cluster)
    base = endpoint_listener_rows(index, design, facts, taus, objects.base, listener_policy)
    pods = cluster.proxies["pod"].to_numpy()[proxies]
    chosen = proxies[np.isin(pods, base["pod"].to_numpy())]
    if not len(chosen):
        return {}
    workload = proxy_workload[chosen]
    viewer = cluster.workload_viewers()[workload]
    who = seen.who()
    proxied = pd.DataFrame(
        {"proxy": chosen, "workload": workload, "pod": cluster.proxies["pod"].to_numpy()[chosen], "who": who[workload]}
    )
    own_parts = []
    for v in np.unique(viewer).tolist():
        view = objects.view(v)
        rows = (
            base if view is objects.base else endpoint_listener_rows(index, design, facts, taus, view, listener_policy)
        )
        mine = proxied[viewer == v]
        # A pod's own rows, of the hosts its workload sees.
        own = mine.merge(rows, on="pod")
        visible = pd.MultiIndex.from_frame(own[["who", "service"]]).isin(
            pd.MultiIndex.from_frame(seen.who_pairs(np.unique(own["service"].to_numpy()))[["who", "service"]])
        )
        own_parts.append(own[visible])
    every = pd.concat(own_parts, ignore_index=True).sort_values(["proxy", "service"], kind="stable")
    own = every[~every.duplicated(["proxy", "name"])]  # the first host it sees building the name keeps it
    total = len(cluster.proxies)

    def summed(frame: pd.DataFrame, values: np.ndarray | int) -> np.ndarray:
        weights = np.broadcast_to(np.asarray(values, np.int64), (len(frame),))
        return -np.bincount(frame["proxy"].to_numpy(), weights=weights, minlength=total).astype(np.int64)

    w = own["workload"].to_numpy()
    listener_bytes = np.zeros(len(own), np.int64)
    for key in taus:
        pick = tau[w] == key
        listener_bytes[pick] = own[f"bytes_{key}"].to_numpy()[pick]
    listener_bytes += np.where(allow[w] != listener_policy, own["fallthrough"].to_numpy(), 0)
    chains = summed(own, own["filter_chains"].to_numpy())
    out = {
        "lds_resources": summed(own, 1),
        "lds_bytes": summed(own, listener_bytes),
        "filter_chains": chains,
        "listener_additional_addresses": summed(own, own["additional"].to_numpy()),
        "access_logs": chains if logged else np.zeros(total, np.int64),
    }
    # A route configuration goes where every listener of its host naming it that the proxy keeps is its own.
    lost = (
        own[own["route"] != ""]
        .groupby(["proxy", "who", *ROUTE_KEY], as_index=False)
        .agg(count=("name", "size"), **{c: (c, "first") for c in ROUTE_METRICS})
    )
    lost = lost.merge(_kept_naming(seen, base, np.unique(proxied["who"].to_numpy())), on=["who", *ROUTE_KEY])
    lost = lost[lost["count"] == lost["kept"]]
    out["rds_resources"] = summed(lost, 1)
    for metric in ROUTE_METRICS:
        out[metric] = summed(lost, lost[metric].to_numpy())
    return out

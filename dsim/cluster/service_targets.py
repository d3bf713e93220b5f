"""A pod's service targets, the services whose inbound side its proxy gets, in istiod's order.

istiod asks every registry for the proxy's targets (``GetProxyServiceTargets``): the Kubernetes
Services selecting the pod, ready or not, and the ServiceEntries whose ``workloadSelector`` selects
it (the ServiceEntry registry finds them by the pod's address, ``ServiceInstancesByIP``: one target
per host and port; it holds ready pods only). It then orders them oldest service first, then by
hostname (``SetServiceTargets``), and the first of a target port builds its inbound chain and cluster.
The scenario has no creation times, so its order stands for theirs (``docs/istio-objects.md`` 3.10
and 4.8): Kubernetes Services in table order (a headless one where the scenario lists it), then entries in
scenario order; an entry's hosts share its creation time, so they come by hostname.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dsim.cluster.headless import headless_rows, kubernetes_rows, telemetry_names
from dsim.cluster.tables import Cluster
from dsim.scenario.istio.rules import HTTP_PROTOCOLS

_INBOUND_HTTP = {"HTTP": "HTTP", "HTTP_PROXY": "HTTP", "HTTP2": "HTTP2", "GRPC": "GRPC", "GRPC-Web": "GRPC"}


def target_rank(cluster: Cluster) -> np.ndarray:
    """Per ``services`` row: its place among a pod's service targets (lower first)."""
    services = cluster.services
    entry = services["entry"].to_numpy(np.int64)
    # A headless Service is a Service written among the others: created where the scenario lists it.
    headless = headless_rows(entry, cluster.istio.service_entries)
    created = _listed_order(cluster) if headless.any() else np.arange(len(services))
    hosts = (entry >= 0) & ~headless
    if hosts.any():  # an entry's hosts share its creation time: its first row stands for it
        created[hosts] = pd.Series(created[hosts]).groupby(entry[hosts]).transform("min").to_numpy()
    order = np.lexsort((services["name"].astype(str).to_numpy(), created))
    rank = np.empty(len(services), np.int64)
    rank[order] = np.arange(len(services))
    return rank


def _listed_order(cluster: Cluster) -> np.ndarray:
    """Per ``services`` row: where the scenario lists it, its explicit Services (headless ones
    included) first, in their order, then every other row in table order."""
    services = cluster.services
    listed = {(svc.namespace, svc.name): i for i, svc in enumerate(cluster.scenario.services)}
    names = telemetry_names(services["name"].tolist(), services["entry"].to_numpy(), cluster.istio.service_entries)
    namespaces = cluster.namespaces["name"].to_numpy()[services["namespace"].to_numpy()].tolist()
    explicit = kubernetes_rows(services["entry"].to_numpy(), cluster.istio.service_entries)
    explicit &= ~services["synthetic"].to_numpy(bool)
    return np.array(
        [
            listed[(namespace, name)] if mine else len(listed) + row
            for row, (namespace, name, mine) in enumerate(zip(namespaces, names, explicit.tolist(), strict=True))
        ],
        dtype=np.int64,
    )


def service_targets(cluster: Cluster) -> pd.DataFrame:
    """``service_workloads`` (service, workload) ordered by workload, then as each pod's targets come
    (:func:`target_rank`)."""
    links = cluster.service_workloads
    rank = target_rank(cluster)[links["service"].to_numpy()]
    return links.iloc[np.lexsort((rank, links["workload"].to_numpy()))].reset_index(drop=True)


def inbound_protocol(protocol: str) -> str:
    """A target port's protocol as the pod's own side serves it, in a Kubernetes port's words
    (``TCP``, ``HTTP``, ``HTTP2``, ``GRPC``, ``auto``; those stay as they are). An entry's port may
    name any of Istio's protocols: HTTP ones get HTTP chains (``ModelProtocolToListenerProtocol``),
    gRPC-Web's speaking HTTP/2 as gRPC's do (``IsHTTP2``); a sniffed port stays sniffed; every other
    (TLS, HTTPS, Mongo, Redis, MySQL, UDP) gets TCP chains, as dsim reads a Kubernetes port of such a
    name (``dsim/scenario/resolve.py``; a Mongo port's carry a ``mongo_proxy``, by
    :attr:`dsim.xds.view.InboundPort.mongo`)."""
    if protocol in HTTP_PROTOCOLS:
        return _INBOUND_HTTP[protocol]
    return "auto" if protocol == "auto" else "TCP"


def mesh_external(cluster: Cluster) -> np.ndarray:
    """Per ``services`` row: whether it is a ``MESH_EXTERNAL`` entry's host. An inbound cluster whose
    first target is one lists no services (``addTelemetryMetadata`` returns early)."""
    entry = cluster.services["entry"].to_numpy(np.int64)
    external = cluster.service_entries["mesh_external"].to_numpy(bool)
    return np.where(entry >= 0, external[np.maximum(entry, 0)] if len(external) else False, False)


def port_overrides(cluster: Cluster) -> dict[tuple[int, int], int]:
    """(``services`` row, port number) → the target port an original-destination cluster of it sends
    to in place of the port (a ``NONE`` entry's ``PassthroughTargetPorts``): the inbound cluster a
    pod's first target on the port builds carries it too (``buildCluster``)."""
    entry = cluster.services["entry"].to_numpy(np.int64)
    entries = cluster.istio.service_entries
    return {
        (service, number): target
        for service in np.flatnonzero(entry >= 0).tolist()
        for number, target in entries[entry[service]].passthrough_target_ports.items()
    }

"""A Sidecar's ``ingress`` listeners: the inbound ports of the proxies it selects, one row per (proxy, port).

``docs/istio-objects.md`` section 4.7 is the specification, after Istio's
``pilot/pkg/networking/core/listener_inbound.go`` (``buildInboundChainConfigs``) and ``cluster.go``
(``buildInboundClustersFromSidecar``, ``ClusterBuilder.buildInboundCluster``):

- A workload whose Sidecar has ingress listeners gets its inbound chains and clusters from them alone:
  its Services' target ports get none (``PILOT_ALLOW_SIDECAR_SERVICE_INBOUND_LISTENER_MERGE`` is off by
  default). Chains come sorted by port.
- Each chain is named ``<bind>_<port>``: the listener's ``bind``, else the pod's address
  (``getSidecarInboundBindIPs``: its first global unicast IP). Its telemetry host is
  ``<sidecar>.<proxy namespace>`` and it carries the Sidecar as ``istio.config`` metadata.
- ``defaultEndpoint`` shapes the cluster ``inbound|<port>||``: unset (or ``:<port>``), the design's usual
  inbound cluster; ``127.0.0.1``/``[::1]``, a ``STATIC`` cluster to the proxy's loopback of that family
  (the other one when the pod lacks it); ``0.0.0.0``/``[::]``, ``STATIC`` to the pod's address of that
  family bound to the inbound source address (when the pod lacks it, ``127.0.0.1``/``::1`` unbound, as
  Istio writes it); ``unix://``, ``STATIC`` to the socket, bound likewise.
- An HTTP listener with no ``bind`` (or a wildcard one) on the proxy's status or Prometheus port
  (15021, 15090) gets no chains, as ``CanBindToPort`` skips it; its cluster is still built
  (``buildInboundClustersFromSidecar`` does not ask).
- A pod's first address is its IPv4 one when it has both, as everywhere in dsim (:class:`dsim.designs.base.ProxyFacts`).

Both the protobuf path (:meth:`dsim.xds.view.ClusterIndex.proxy`) and the accounting
(:mod:`dsim.accounting.inbound`) read :func:`ingress_rows`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

import numpy as np
import pandas as pd

from dsim.cluster.tables import Cluster
from dsim.scenario.istio import Sidecar
from dsim.scenario.istio.destination_rule import ConnectionPoolSettings
from dsim.scenario.istio.rules import GRPC_WEB, H2_PROTOCOLS, HTTP_PROTOCOLS, UNIX_PREFIX, canonical_protocol
from dsim.scenario.istio.sidecar import SidecarSpec

SIDECAR_API = "/apis/networking.istio.io/v1/namespaces/{namespace}/sidecar/{name}"
"""``istio.config`` of an ingress chain: ``gvk.Sidecar`` is v1 (``BuildConfigInfoMetadata``)."""
RESERVED_PORTS = (15021, 15090)
"""The sidecar's status and Prometheus ports (Istio's defaults): an ingress listener there is skipped."""

_COLUMNS = (
    "proxy",
    "workload",
    "number",
    "kind",
    "h2",
    "grpc_web",
    "chained",
    "host",
    "config",
    "chain4",
    "chain6",
    "endpoint",
    "endpoint_address",
    "endpoint_port",
)


def ingress_kind(protocol: str) -> str:
    """How an ingress port's chains are built (``ModelProtocolToListenerProtocol``): ``http`` for
    Istio's HTTP protocols, ``auto`` (sniffed) when the protocol is empty, ``mongo`` for Mongo (TCP
    chains through a ``mongo_proxy``, ``buildNetworkFiltersStack``), else ``tcp``."""
    if not protocol:
        return "auto"
    canonical = canonical_protocol(protocol)
    if canonical == "Mongo":
        return "mongo"
    return "http" if canonical in HTTP_PROTOCOLS else "tcp"


def _used_sidecars(cluster: Cluster) -> Iterator[tuple[int, Sidecar]]:
    """(workload, the Sidecar it uses) for every workload a Sidecar selects."""
    used = cluster.sidecar_workloads
    sidecars = cluster.istio.sidecars
    for sidecar, workload in zip(used["sidecar"].tolist(), used["workload"].tolist(), strict=True):
        yield workload, sidecars[sidecar]


def pool_sidecars(cluster: Cluster) -> np.ndarray:
    """Per workload: the ``sidecars`` row of the Sidecar it uses where that Sidecar sets an inbound
    connection pool (``inboundConnectionPool``, or an ingress listener's ``connectionPool``; read by
    :func:`inbound_pool`), else -1."""
    out = np.full(len(cluster.workloads), -1, np.int64)
    sidecars = cluster.istio.sidecars
    pooled = [
        i
        for i, sidecar in enumerate(sidecars)
        if sidecar.spec.inbound_connection_pool is not None
        or any(listener.connection_pool is not None for listener in sidecar.spec.ingress)
    ]
    used = cluster.sidecar_workloads
    chosen = used[used["sidecar"].isin(pooled)]
    out[chosen["workload"].to_numpy()] = chosen["sidecar"].to_numpy()
    return out


def inbound_pool(spec: SidecarSpec, port: int) -> ConnectionPoolSettings | None:
    """The connection pool a Sidecar gives its proxies' inbound cluster of ``port`` (a target port, or
    an ingress listener's), which replaces any DestinationRule's (``InboundConnectionPoolForPort``,
    Istio 1.21 and later): the ingress listener's on that port, else the Sidecar's ``inboundConnectionPool``."""
    for listener in spec.ingress:
        if listener.port.number == port and listener.connection_pool is not None:
            return listener.connection_pool
    return spec.inbound_connection_pool


def _entries(cluster: Cluster) -> pd.DataFrame:
    """One row per (workload, ingress listener) of the Sidecar each workload uses."""
    ns_names = cluster.namespaces["name"].to_numpy()
    workload_ns = cluster.workloads["namespace"].to_numpy()
    rows: list[tuple[int, int, str, bool, bool, str, str, str, str]] = []
    for workload, sidecar in _used_sidecars(cluster):
        namespace = str(ns_names[workload_ns[workload]])
        for listener in sidecar.spec.ingress:
            rows.append(
                (
                    workload,
                    listener.port.number,
                    ingress_kind(listener.port.protocol),
                    canonical_protocol(listener.port.protocol) in H2_PROTOCOLS,
                    canonical_protocol(listener.port.protocol) == GRPC_WEB,
                    f"{sidecar.name}.{namespace}",
                    SIDECAR_API.format(namespace=namespace, name=sidecar.name),
                    listener.bind,
                    listener.default_endpoint,
                )
            )
    return pd.DataFrame(
        rows, columns=["workload", "number", "kind", "h2", "grpc_web", "host", "config", "bind", "default"]
    )


def _endpoints(
    default: pd.Series, has4: np.ndarray, has6: np.ndarray, ip4: np.ndarray, ip6: np.ndarray
) -> dict[str, np.ndarray]:
    """Per row: the cluster's endpoint kind (``""`` the design's cluster, ``static`` to a loopback,
    ``bound`` with the inbound source address), address and port."""
    text = default.to_numpy(dtype=object).astype(str)
    unix = np.char.startswith(text, UNIX_PREFIX)
    host_port = np.where(unix, ":", text)
    split = pd.Series(host_port, dtype=str).str.rpartition(":")
    host = split[0].str.strip("[]").to_numpy(dtype=object)
    port = pd.to_numeric(split[2].where(split[2] != "", "0")).to_numpy(np.int64)
    loop4 = np.where(has4, "127.0.0.1", "::1")
    loop6 = np.where(has6, "::1", "127.0.0.1")
    address = np.select(
        [host == "127.0.0.1", host == "::1", host == "0.0.0.0", host == "::"],
        [loop4, loop6, np.where(has4, ip4, "127.0.0.1"), np.where(has6, ip6, "::1")],
        "",
    ).astype(object)
    bound = ((host == "0.0.0.0") & has4) | ((host == "::") & has6)
    kind = np.where(bound, "bound", np.where(address != "", "static", ""))
    address = np.where(unix, np.char.replace(text, UNIX_PREFIX, "", count=1), address)
    return {
        "endpoint": np.where(unix, "bound", kind),
        "endpoint_address": address,
        "endpoint_port": np.where(unix, 0, port),
    }


def _rows(cluster: Cluster) -> pd.DataFrame:
    proxies = cluster.proxies
    frame = pd.DataFrame({"proxy": np.arange(len(proxies)), "workload": proxies["workload"].to_numpy()})
    rows = frame.merge(_entries(cluster), on="workload").sort_values(["proxy", "number"], kind="stable")
    if not len(rows):  # no Sidecar with ingress listeners, or none selecting a workload with proxies
        return pd.DataFrame(
            {c: pd.Series(dtype=bool if c in ("chained", "h2", "grpc_web") else object) for c in _COLUMNS}
        )
    rows = rows.reset_index(drop=True)
    pods = proxies["pod"].to_numpy()[rows["proxy"].to_numpy()]
    has4 = cluster.pods["has_ipv4"].to_numpy()[pods]
    has6 = cluster.pods["has_ipv6"].to_numpy()[pods]
    pod_text = cluster.pod_ip_text()
    ip4 = pod_text["ipv4"].to_numpy(dtype=object)[pods]
    ip6 = pod_text["ipv6"].to_numpy(dtype=object)[pods]
    bind = rows["bind"].to_numpy(dtype=object)
    wildcard = np.where(has4, "0.0.0.0", "::")
    reserved = np.isin(rows["number"].to_numpy(), RESERVED_PORTS) & (
        ((bind == "") & (rows["kind"].to_numpy() == "http")) | (bind == wildcard)
    )
    rows = rows.assign(
        chained=~reserved,
        chain4=np.where(bind == "", np.where(has4, ip4, ip6), bind),
        chain6=np.where(bind == "", np.where(has6, ip6, ip4), bind),
        **_endpoints(rows["default"], has4, has6, ip4, ip6),
    )
    return rows[list(_COLUMNS)]


def ingress_workloads(cluster: Cluster) -> np.ndarray:
    """Per workload: whether the Sidecar it uses has ingress listeners (then they alone make its own
    side, even when every one of them is skipped)."""
    found = np.zeros(len(cluster.workloads), bool)
    for workload, sidecar in _used_sidecars(cluster):
        found[workload] = bool(sidecar.spec.ingress)
    return found


_cache: weakref.WeakKeyDictionary[Cluster, pd.DataFrame] = weakref.WeakKeyDictionary()


def ingress_rows(cluster: Cluster) -> pd.DataFrame:
    """Per (proxy, ingress port) of every proxy whose Sidecar has ingress listeners, by proxy then port:
    ``workload``, ``number`` (the port, target and service alike), ``kind`` (``http``/``tcp``/``mongo``/``auto``),
    ``h2`` (its protocol is HTTP/2: HTTP2, GRPC or GRPC-Web), ``grpc_web`` (it is GRPC-Web: its connection
    managers carry a ``grpc_web`` filter),
    ``chained`` (``False``: a status or Prometheus port, whose chains are skipped but whose cluster stays),
    ``host`` (``<sidecar>.<namespace>``), ``config`` (the chain's ``istio.config``), ``chain4``/``chain6``
    (the address naming its chains in an IPv4 or IPv6 listener), ``endpoint`` (``""``, ``static`` or
    ``bound``), ``endpoint_address`` and ``endpoint_port``. Computed once per cluster."""
    if cluster not in _cache:
        _cache[cluster] = _rows(cluster)
    return _cache[cluster]

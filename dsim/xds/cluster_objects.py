"""What a cluster holds beside itself that Envoy builds an object for, by what shaped it.

A DestinationRule's policy or a ServiceEntry's resolution changes which of Envoy's per-cluster
objects exist: a cluster without a TLS context (a DestinationRule's ``tls.mode: DISABLE``, an
entry outside the mesh, mTLS off) skips the SSL context every other cluster builds from the
workload certificate; a DNS cluster resolves its hosts itself where an EDS cluster keeps a
subscription (the calibration prices the difference); outlier detection keeps a detector and a
monitor per host; a consistent hash keeps a ring of at least 1,024 entries, once the cluster has a
host, and one per priority where its endpoints fail over by locality (Envoy's thread-aware balancer
builds a ring over each priority's hosts; docs/istio-objects.md 2.5). A connection pool's limits
only change values every cluster already holds (its circuit-breaker thresholds), so it adds no
count (``docs/istio-objects.md`` 2.4). Its TCP keepalive (or the mesh's, ``tcpKeepalive``: on every
cluster but the black hole) makes Envoy build a socket option for ``SO_KEEPALIVE`` and one for each
of the probes, time and interval given, which the cluster keeps to set on every upstream connection
(``docs/istio-objects.md`` 4.11).
"""

from __future__ import annotations

from collections.abc import Iterable

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2

from dsim.xds.failover import failover_priorities
from dsim.xds.vocabulary import CLUSTER_OBJECTS

_DNS = (cluster_pb2.Cluster.STRICT_DNS, cluster_pb2.Cluster.LOGICAL_DNS)


def _hosts(assignment: endpoint_pb2.ClusterLoadAssignment) -> int:
    return sum(len(group.lb_endpoints) for group in assignment.endpoints)


_KEEPALIVE_FIELDS = ("keepalive_probes", "keepalive_time", "keepalive_interval")


def keepalive_options(cluster: cluster_pb2.Cluster) -> int:
    """The socket options ``cluster``'s TCP keepalive makes Envoy build: none without one, else
    ``SO_KEEPALIVE`` and one per field set (``TCP_KEEPCNT``, ``TCP_KEEPIDLE``, ``TCP_KEEPINTVL``)."""
    if not cluster.upstream_connection_options.HasField("tcp_keepalive"):
        return 0
    keepalive = cluster.upstream_connection_options.tcp_keepalive
    return 1 + sum(keepalive.HasField(name) for name in _KEEPALIVE_FIELDS)


def cluster_objects(cluster: cluster_pb2.Cluster, hosts: int) -> tuple[int, ...]:
    """Per :data:`CLUSTER_OBJECTS`, how many ``cluster`` holds (0 or 1 each but the keepalive's
    socket options, 0 to 4), ``hosts`` being the endpoints its assignment gives it (EDS or inline):
    Envoy builds a hash ring only over hosts."""
    outbound = cluster.name.startswith("outbound")  # outbound|… and the duplicate design's outbound6|…
    plaintext = outbound and not cluster.HasField("transport_socket") and not len(cluster.transport_socket_matches)
    return (
        int(plaintext),
        int(cluster.type in _DNS),
        int(cluster.HasField("outlier_detection")),
        int(cluster.lb_policy == cluster_pb2.Cluster.RING_HASH and hosts > 0),
        keepalive_options(cluster),
    )


def clusters_objects(
    clusters: Iterable[cluster_pb2.Cluster], assignments: Iterable[endpoint_pb2.ClusterLoadAssignment]
) -> dict[str, int]:
    """Per :data:`CLUSTER_OBJECTS`, how many ``clusters`` hold together (``assignments``: their EDS
    endpoint sets); a hash ring once per priority of the cluster's endpoints."""
    served = {a.cluster_name: (_hosts(a), failover_priorities(a)) for a in assignments}
    counts = dict.fromkeys(CLUSTER_OBJECTS, 0)
    for cluster in clusters:
        hosts, extra = served.get(cluster.name, (0, 0))
        hosts += _hosts(cluster.load_assignment)
        extra += failover_priorities(cluster.load_assignment)
        for name, value in zip(CLUSTER_OBJECTS, cluster_objects(cluster, hosts), strict=True):
            counts[name] += value * (1 + extra) if name == "hash_rings" else value
    return counts

"""Clusters (CDS): outbound per service port and subset, inbound per target port, fixed ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import struct_pb2

from dsim.designs.base import InboundCluster, PassthroughCluster
from dsim.xds import istio_filters
from dsim.xds.common import (
    HTTP_PROTOCOL_OPTIONS,
    MAX_UINT32,
    ads_config_source,
    duration,
    is_http2,
    mesh_alpn,
    mesh_tls_context,
    metadata,
    pack,
    upstream_http_options,
)
from dsim.xds.common import socket_address as address_of
from dsim.xds.failover import locality_weighted
from dsim.xds.listeners import BLACKHOLE, PASSTHROUGH
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.policy import ClusterPolicy, apply_policy, apply_tcp_keepalive, upgrades_to_h2
from dsim.xds.view import InboundEndpoint

Cluster: TypeAlias = cluster_pb2.Cluster


def _base(name: str, kind: int, mesh: MeshDefaults, lb_policy: int = Cluster.ROUND_ROBIN) -> Cluster:
    """What ``applyConnectionPool`` gives every cluster it shapes (a service's, outbound or inbound, and
    the passthrough ones), whatever its DestinationRule, which may then override them: the mesh's
    connect timeout and keepalive, and Istio's circuit breakers at their highest."""
    cluster = Cluster(name=name, type=kind, connect_timeout=duration(mesh.connect_timeout), lb_policy=lb_policy)
    if mesh.tcp_keepalive is not None:
        apply_tcp_keepalive(cluster, mesh.tcp_keepalive)
    cluster.circuit_breakers.CopyFrom(
        circuit_breaker_pb2.CircuitBreakers(
            thresholds=[
                circuit_breaker_pb2.CircuitBreakers.Thresholds(
                    max_connections={"value": MAX_UINT32},
                    max_pending_requests={"value": MAX_UINT32},
                    max_requests={"value": MAX_UINT32},
                    max_retries={"value": MAX_UINT32},
                    track_remaining=True,
                )
            ]
        )
    )
    return cluster


def _bind(cluster: Cluster, source: str, extra_sources: Sequence[str]) -> None:
    bind = cluster.upstream_bind_config
    bind.source_address.CopyFrom(address_pb2.SocketAddress(address=source, port_value=0))
    for extra in extra_sources:
        bind.extra_source_addresses.add(address=address_pb2.SocketAddress(address=extra, port_value=0))


def outbound(
    name: str,
    *,
    host: str,
    service: str,
    namespace: str,
    port: int,
    protocol: str,
    subset: str,
    identities: Sequence[str],
    sni: str,
    mtls: bool,
    rule: str = "",
    policy: ClusterPolicy | None = None,
    entry: bool = False,
    mesh: MeshDefaults,
    prefer_close: bool = False,
) -> Cluster:
    """An outbound EDS cluster over ADS, with Istio's metadata, its metadata-exchange upstream
    filter and, under mTLS, its TLS matches (``entry``: a ServiceEntry host's, whose identities a
    rule's SIMPLE or MUTUAL TLS without names of its own checks); shaped by the ``mesh``'s settings and by
    a DestinationRule when ``rule`` (its ``istio.config`` path) is given, with the rule's ``policy`` for
    this cluster, and by its service's ``trafficDistribution`` where ``prefer_close``."""
    cluster = _base(name, Cluster.EDS, mesh, Cluster.LEAST_REQUEST)
    _built(cluster)
    cluster.filters.append(istio_filters.metadata_exchange_cluster())
    cluster.eds_cluster_config.service_name = name
    cluster.eds_cluster_config.eds_config.CopyFrom(ads_config_source())
    istio: dict[str, object] = {
        "default_original_port": port,
        "services": [{"host": host, "name": service, "namespace": namespace}],
    }
    if rule:
        istio["config"] = rule  # every cluster of a ruled service names the rule (AddConfigInfoMetadata)
    elif subset:  # a Service's own subsets stand for a rule named after the service
        istio["config"] = f"/apis/networking.istio.io/v1alpha3/namespaces/{namespace}/destination-rule/{service}"
    if subset:
        istio["subset"] = subset
    tls_mode = policy.tls.mode if policy is not None and policy.tls is not None else ""
    if tls_mode in ("SIMPLE", "MUTUAL"):
        istio["alpn_override"] = "false"  # the destination's own TLS: no Istio ALPN
    cluster.metadata.CopyFrom(metadata({"istio": istio}))
    pool = policy.connection_pool if policy is not None else None
    http = upstream_http_options(protocol, h2_upgrade=upgrades_to_h2(protocol, pool, mesh.h2_upgrade))
    if http is not None:
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(http))
    if mtls:
        # Istio builds the context after the connection pool, whose useClientProtocol ends HTTP/2.
        client_protocol = pool is not None and pool.http is not None and pool.http.use_client_protocol
        common = mesh_tls_context(mesh_alpn(is_http2(cluster) and not client_protocol), identities)
        tls = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=sni)
        matches = cluster.transport_socket_matches
        match = matches.add(
            name="tlsMode-istio", match=struct_pb2.Struct(fields={"tlsMode": struct_pb2.Value(string_value="istio")})
        )
        match.transport_socket.name = "envoy.transport_sockets.tls"
        match.transport_socket.typed_config.CopyFrom(pack(tls))
        plain = matches.add(name="tlsMode-disabled", match=struct_pb2.Struct())
        plain.transport_socket.name = "envoy.transport_sockets.raw_buffer"
        plain.transport_socket.typed_config.CopyFrom(pack(raw_buffer_pb2.RawBuffer()))
    if policy is not None:
        apply_policy(cluster, policy, sni=sni, identities=identities, entry=entry)
    locality_weighted(cluster, policy, mesh, prefer_close)
    return cluster


INBOUND_CLEANUP_S = (2**63 - 1 - 999_999_999) // 10**9
"""``maxSecondsValue`` of ``cluster_builder.go``: the longest duration Go can express, about 292 years."""


def inbound(
    spec: InboundCluster,
    port: int,
    endpoint: InboundEndpoint | None = None,
    protocol: str = "",
    services: Sequence[tuple[str, str, str]] = (),
    rule: str = "",
    policy: ClusterPolicy | None = None,
    *,
    mesh: MeshDefaults,
    port_override: int = 0,
) -> Cluster:
    """The cluster an own port's inbound chains send to, as the design shapes it, or as a Sidecar
    ingress listener's ``defaultEndpoint`` makes it (``ClusterBuilder.buildInboundCluster``), speaking
    the port's ``protocol`` upstream as ``setUpstreamProtocol`` sets it, listing ``services`` (host,
    name, namespace) as its telemetry metadata and, with them, the DestinationRule ``rule`` whose
    connection pool (``policy``) it takes (:func:`inbound_metadata`). An original-destination one
    sends to ``port_override`` where that is not 0 (``buildCluster`` reads the first target's
    ``PassthroughTargetPorts``, a ``NONE`` ServiceEntry's, at either direction)."""
    cluster = _inbound_shape(spec, port, endpoint, mesh)
    _built(cluster)
    if port_override and cluster.type == Cluster.ORIGINAL_DST:
        cluster.original_dst_lb_config.upstream_port_override.value = port_override
    http = upstream_http_options(protocol)  # applyH2Upgrade is outbound only
    if http is not None:
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(http))
    if services:
        cluster.metadata.CopyFrom(inbound_metadata(services, rule))
    if policy is not None:
        apply_policy(cluster, policy, sni="", identities=())
    return cluster


def inbound_metadata(services: Sequence[tuple[str, str, str]], rule: str = "") -> base_pb2.Metadata:
    """``istio.services``: each service's host, name and namespace, which Istio's stats filter reads
    for the destination-service labels (``addTelemetryMetadata``, ``buildServiceMetadata``); and
    ``istio.config``, the rule shaping the cluster (``AddConfigInfoMetadata``, which writes it into
    the metadata the services made: a cluster listing none keeps no rule either)."""
    istio: dict[str, object] = {"services": [{"host": h, "name": n, "namespace": ns} for h, n, ns in services]}
    if rule:
        istio["config"] = rule
    return metadata({"istio": istio})


def _built(cluster: Cluster) -> None:
    """What ``ClusterBuilder.buildCluster`` gives every cluster it makes (services' outbound and
    inbound clusters): an empty ``common_lb_config`` (Istio 1.15 and later, istio/istio#39877) and
    its stats name (:func:`_alt_stat_name`)."""
    cluster.common_lb_config.SetInParent()
    _alt_stat_name(cluster, cluster.name)


def _alt_stat_name(cluster: Cluster, name: str) -> None:
    """A cluster's stats name, ``name`` and ``;``, as Istio 1.23 and later give every cluster they
    build, the passthrough and black-hole ones included (istio/istio#52416, ``DelimitedStatsPrefix``)."""
    cluster.alt_stat_name = f"{name};"


def _inbound_shape(spec: InboundCluster, port: int, endpoint: InboundEndpoint | None, mesh: MeshDefaults) -> Cluster:
    name = f"{spec.prefix}|{port}||"
    if endpoint is None and spec.loopback is None:
        assert spec.source is not None, spec
        cluster = _base(name, Cluster.ORIGINAL_DST, mesh, Cluster.CLUSTER_PROVIDED)
        # Istio 1.23+ (#51935) never cleans an inbound original-destination cluster's hosts up.
        cluster.cleanup_interval.seconds = INBOUND_CLEANUP_S
        _bind(cluster, spec.source, spec.extra_sources)
        return cluster
    if endpoint is None:
        assert spec.loopback is not None
        target = address_of(spec.loopback, port)
    elif endpoint.port == 0:  # a unix socket
        target = address_pb2.Address(pipe=address_pb2.Pipe(path=endpoint.address))
    else:
        target = address_of(endpoint.address, endpoint.port)
    cluster = _base(name, Cluster.STATIC, mesh)
    cluster.load_assignment.CopyFrom(
        endpoint_pb2.ClusterLoadAssignment(
            cluster_name=name,
            endpoints=[ec.LocalityLbEndpoints(lb_endpoints=[ec.LbEndpoint(endpoint=ec.Endpoint(address=target))])],
        )
    )
    if endpoint is not None and endpoint.bound:  # not a loopback: skip iptables' redirect back to the sidecar
        assert spec.source is not None, spec
        _bind(cluster, spec.source, spec.extra_sources)
    return cluster


def inbound_passthrough(spec: PassthroughCluster, *, mesh: MeshDefaults) -> Cluster:
    """The passthrough cluster renamed, without its filters, bound to the design's source
    addresses (``buildInboundPassthroughCluster``): its stats name stays the passthrough's."""
    cluster = _passthrough_shape(spec.name, mesh)
    _bind(cluster, spec.source, spec.extra_sources)
    return cluster


def blackhole(*, mesh: MeshDefaults) -> Cluster:
    """Where blocked traffic goes: the mesh's connect timeout, no connection pool (so no keepalive)."""
    cluster = Cluster(name=BLACKHOLE, type=Cluster.STATIC, connect_timeout=duration(mesh.connect_timeout))
    _alt_stat_name(cluster, BLACKHOLE)
    return cluster


def passthrough(*, mesh: MeshDefaults) -> Cluster:
    """Where unmatched outbound traffic goes; istiod gives it the outbound metadata exchange too."""
    cluster = _passthrough_shape(PASSTHROUGH, mesh)
    cluster.filters.append(istio_filters.metadata_exchange_cluster())
    return cluster


PASSTHROUGH_IDLE_TIMEOUT_S = 300
"""``passthroughHttpProtocolOptions``' idle timeout, 5 minutes (Istio 1.17 and later, istio/istio#41775)."""


def _passthrough_shape(name: str, mesh: MeshDefaults) -> Cluster:
    """``buildDefaultPassthroughCluster``: an original-destination cluster that speaks the
    downstream's HTTP protocol upstream, idle connections closed after 5 minutes."""
    cluster = _base(name, Cluster.ORIGINAL_DST, mesh, Cluster.CLUSTER_PROVIDED)
    _alt_stat_name(cluster, PASSTHROUGH)
    options = upstream_http_options("auto")
    assert options is not None
    options.common_http_protocol_options.idle_timeout.seconds = PASSTHROUGH_IDLE_TIMEOUT_S
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))
    return cluster

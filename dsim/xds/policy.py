"""A DestinationRule's traffic policy on one outbound cluster (``docs/istio-objects.md`` section 2).

:func:`effective_policy` picks the policy of one cluster as istiod does (the rule's
``trafficPolicy``, replaced by its ``portLevelSettings`` entry for the port; a subset's policy, port
level first, overriding field by field: ``GetPortLevelTrafficPolicy`` and ``MergeSubsetTrafficPolicy``
in ``pilot/pkg/networking/util/util.go``). :func:`apply_policy` writes it onto a cluster built with
Istio's defaults (``applyTrafficPolicy``, ``applyConnectionPool``, ``applyOutlierDetection``,
``applyLoadBalancer`` in ``pilot/pkg/networking/core/cluster_traffic_policy.go``;
``buildUpstreamTLSSettings`` in ``cluster_tls.go``). The same code shapes every design's clusters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from envoy.config.cluster.v3 import cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import config_source_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import wrappers_pb2

from dsim.scenario.istio.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    ConsistentHash,
    DestinationRuleSpec,
    LoadBalancerSettings,
    OutlierDetection,
    PortTrafficPolicy,
    TcpKeepalive,
    TrafficPolicy,
)
from dsim.scenario.istio.rules import HTTP_PROTOCOLS
from dsim.xds.common import (
    HTTP_PROTOCOL_OPTIONS,
    ROOT_CERT,
    WORKLOAD_CERT,
    downstream_protocol,
    duration,
    is_http2,
    mesh_alpn,
    mesh_tls_context,
    pack,
    san_matchers,
    sds_secret,
    tls_versions,
)

ENFORCING = 100  # Istio turns on enforcement of each consecutive-error rule it sets
RING_SIZE = 1024  # the ring size Istio gives a consistent hash without one (applyLoadBalancer)
CONFIGMAP_CREDENTIAL = "configmap://"
"""A ``credentialName`` read from a ConfigMap (a CA bundle), which any proxy may be given."""
SYSTEM_ROOTS = "system"  # the CA file of SIMPLE and MUTUAL without caCertificates (constructUpstreamTLS)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClusterPolicy:
    """The parts of a traffic policy that shape one cluster (``None``: Istio's default)."""

    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    load_balancer: LoadBalancerSettings | None = None
    tls_context: bool = True
    """``False``: a sidecar builds no TLS context from ``tls`` (a SIMPLE or MUTUAL ``credentialName``
    naming a Secret in a rule without a ``workloadSelector``: :func:`sidecar_builds_tls`); the
    cluster is left plaintext."""
    passthrough_tls: bool = False
    """The policy whose load balancer Istio reads to decide auto mTLS (``BestEffortInferServiceMTLSMode``:
    the rule's top level for the default cluster, the subset's own top level for a subset's, neither's
    port-level settings) asks for ``PASSTHROUGH``: the cluster's mTLS is then all or nothing over the
    service's endpoints (docs/istio-objects.md 3.5), whatever the load balancer this port merges to."""


_PARTS = ("connection_pool", "outlier_detection", "tls", "load_balancer")


def _at_port(policy: TrafficPolicy | None, port: int) -> TrafficPolicy | PortTrafficPolicy | None:
    if policy is None:
        return None
    for entry in policy.port_level_settings:
        if entry.port.number == port:
            return entry
    return policy


def effective_policy(spec: DestinationRuleSpec, subset: str, port: int) -> ClusterPolicy:
    """The policy of the cluster of ``port`` (and ``subset``, ``""`` for the default cluster)."""
    chosen = _at_port(spec.traffic_policy, port)
    parts = {part: getattr(chosen, part) if chosen is not None else None for part in _PARTS}
    inferred = spec.traffic_policy  # what the mTLS inference reads: the rule's top, or the subset's own
    if subset:
        for entry in spec.subsets:
            if entry.name == subset:
                inferred = entry.traffic_policy
                override = _at_port(entry.traffic_policy, port)
                # A subset's part replaces the rule's; a subset's port-level entry replaces all four,
                # unset ones by Istio's defaults (MergeTrafficPolicy, 1.17 to HEAD).
                whole = isinstance(override, PortTrafficPolicy)
                if override is not None:
                    parts |= {p: getattr(override, p) for p in _PARTS if whole or getattr(override, p) is not None}
                break
    lb = inferred.load_balancer if inferred is not None else None
    return ClusterPolicy(
        **parts,
        tls_context=sidecar_builds_tls(parts["tls"], selector=spec.workload_selector is not None),
        passthrough_tls=lb is not None and lb.simple == "PASSTHROUGH",
    )


def sidecar_builds_tls(tls: ClientTLSSettings | None, *, selector: bool) -> bool:
    """Whether a sidecar builds the TLS context of a rule's ``tls`` (``buildUpstreamClusterTLSContext``):
    not for SIMPLE or MUTUAL with a ``credentialName`` that looks a Secret up (anything but a
    ``configmap://`` one) in a rule without a ``workloadSelector``, which would hand the credential
    to every sidecar in the rule's scope."""
    if tls is None or tls.mode not in ("SIMPLE", "MUTUAL") or selector:
        return True
    return not tls.credential_name or tls.credential_name.startswith(CONFIGMAP_CREDENTIAL)


def credential_secret(name: str) -> secret_pb2.SdsSecretConfig:
    """The SDS secret of a ``credentialName`` (its CA's: the name with ``-cacert``), as
    ``ConstructSdsSecretConfigForCredential`` writes it: ``builtin://`` is the workload's own
    certificate (and ``builtin://-cacert`` its root) from istio-agent; any other name is fetched from
    istiod over ADS (no ``initial_fetch_timeout``: a missing Secret must not block the cluster), an
    ``sds://`` one without an SDS socket or provider by the name after the prefix, named as
    ``credentials.ToResourceName`` says: a ``kubernetes://``, ``kubernetes-gateway://`` or
    ``configmap://`` name as written, any other a Kubernetes Secret."""
    if name == "builtin://":
        return sds_secret(WORKLOAD_CERT)
    if name == "builtin://-cacert":
        return sds_secret(ROOT_CERT)
    name = name.removeprefix("sds://")
    if name.startswith("builtin://"):
        resource = WORKLOAD_CERT
    elif name.startswith(("kubernetes://", "kubernetes-gateway://", CONFIGMAP_CREDENTIAL)):
        resource = name
    else:
        resource = f"kubernetes://{name}"
    return secret_pb2.SdsSecretConfig(
        name=resource,
        sds_config=config_source_pb2.ConfigSource(
            ads=config_source_pb2.AggregatedConfigSource(), resource_api_version=config_source_pb2.V3
        ),
    )


def _connection_pool(cluster: cluster_pb2.Cluster, pool: ConnectionPoolSettings) -> None:
    """``applyConnectionPool``: circuit-breaker thresholds, the connect timeout, TCP keepalive, and
    the HTTP options it sets: common ones once any connection limit is given (an empty block where
    only HTTP/2 ones are), the HTTP/2 ones on an HTTP/2 cluster, the client's protocol."""
    thresholds = cluster.circuit_breakers.thresholds[0]
    tcp, http = pool.tcp, pool.http
    if tcp is not None:
        if tcp.max_connections:
            thresholds.max_connections.value = tcp.max_connections
        if tcp.connect_timeout is not None:
            cluster.connect_timeout.CopyFrom(duration(tcp.connect_timeout))
        if tcp.tcp_keepalive is not None:
            apply_tcp_keepalive(cluster, tcp.tcp_keepalive)
    if http is not None:
        for value, field in (
            (http.http1_max_pending_requests, "max_pending_requests"),
            (http.http2_max_requests, "max_requests"),
            (http.max_retries, "max_retries"),
        ):
            if value:  # zero (or unset) leaves Istio's default
                getattr(thresholds, field).value = value
    _http_pool_options(cluster, pool)
    if http is not None and http.use_client_protocol:  # setUseDownstreamProtocol, as on a sniffed port
        options = _http_options(cluster)
        options.use_downstream_protocol_config.CopyFrom(downstream_protocol())
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))


def apply_tcp_keepalive(cluster: cluster_pb2.Cluster, keepalive: TcpKeepalive) -> None:
    """``setKeepAliveSettings``: an empty ``tcp_keepalive`` (the OS's settings), then what is given,
    in whole seconds, over what the cluster has (a DestinationRule's over the mesh's)."""
    target = cluster.upstream_connection_options.tcp_keepalive
    target.SetInParent()
    if keepalive.probes:
        target.keepalive_probes.value = keepalive.probes
    # Go's uint32(Seconds): a duration beyond 2^32 s (136 years) wraps, as istiod writes it.
    if keepalive.time is not None:
        target.keepalive_time.value = (keepalive.time // 1000) % 2**32
    if keepalive.interval is not None:
        target.keepalive_interval.value = (keepalive.interval // 1000) % 2**32


def _http_pool_options(cluster: cluster_pb2.Cluster, pool: ConnectionPoolSettings) -> None:
    """The HTTP protocol options of ``applyConnectionPool``: written once any of the idle timeout
    (HTTP's, else TCP's), requests per connection, connection duration, stream limit or HTTP/2
    keepalive is given; the HTTP/2 ones only land on a cluster that speaks HTTP/2."""
    tcp, http = pool.tcp, pool.http
    idle: int | None = http.idle_timeout if http is not None else None
    if idle is None and tcp is not None:
        idle = tcp.idle_timeout
    per_connection = http.max_requests_per_connection if http is not None else None
    lifetime = tcp.max_connection_duration if tcp is not None else None
    streams = http.max_concurrent_streams if http is not None else None
    keepalive = http.http2_keep_alive if http is not None else None
    if idle is None and not per_connection and lifetime is None and not streams and keepalive is None:
        return
    options = _http_options(cluster)
    common = options.common_http_protocol_options
    common.SetInParent()
    if idle is not None:
        common.idle_timeout.CopyFrom(duration(idle))
    if per_connection:
        common.max_requests_per_connection.value = per_connection
    if lifetime is not None:
        common.max_connection_duration.CopyFrom(duration(lifetime))
    if options.explicit_http_config.HasField("http2_protocol_options"):
        http2 = options.explicit_http_config.http2_protocol_options
        if streams:
            http2.max_concurrent_streams.value = streams
        if keepalive is not None and keepalive.interval is not None and keepalive.timeout is not None:
            http2.connection_keepalive.interval.CopyFrom(duration(keepalive.interval))
            http2.connection_keepalive.timeout.CopyFrom(duration(keepalive.timeout))
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))


def upgrades_to_h2(protocol: str, pool: ConnectionPoolSettings | None, mesh_upgrade: bool) -> bool:
    """``shouldH2Upgrade`` for an outbound cluster of a ``protocol`` port: a rule's
    ``useClientProtocol`` never, its ``h2UpgradePolicy`` ``UPGRADE`` on any port and
    ``DO_NOT_UPGRADE`` never; otherwise an HTTP port when the mesh upgrades (``mesh_upgrade``)."""
    http = pool.http if pool is not None else None
    if http is not None:
        if http.use_client_protocol:
            return False
        if http.h2_upgrade_policy != "DEFAULT":
            return http.h2_upgrade_policy == "UPGRADE"
    return mesh_upgrade and protocol in HTTP_PROTOCOLS


def _http_options(cluster: cluster_pb2.Cluster) -> http_protocol_options_pb2.HttpProtocolOptions:
    """A copy of the cluster's HTTP protocol options to change, or new ones with the explicit HTTP/1
    upstream protocol Envoy wants once any HTTP option is set (``clusterWrapper.build``)."""
    options = http_protocol_options_pb2.HttpProtocolOptions()
    packed = cluster.typed_extension_protocol_options
    if HTTP_PROTOCOL_OPTIONS in packed:
        packed[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    else:
        options.explicit_http_config.http_protocol_options.SetInParent()
    return options


def _outlier_detection(cluster: cluster_pb2.Cluster, outlier: OutlierDetection) -> None:
    detection = outlier_detection_pb2.OutlierDetection(enforcing_success_rate=wrappers_pb2.UInt32Value(value=0))
    if outlier.consecutive_5xx_errors is not None:
        detection.consecutive_5xx.value = outlier.consecutive_5xx_errors
        detection.enforcing_consecutive_5xx.value = ENFORCING if outlier.consecutive_5xx_errors else 0
    if outlier.consecutive_gateway_errors is not None:
        detection.consecutive_gateway_failure.value = outlier.consecutive_gateway_errors
        detection.enforcing_consecutive_gateway_failure.value = ENFORCING if outlier.consecutive_gateway_errors else 0
    if outlier.interval is not None:
        detection.interval.CopyFrom(duration(outlier.interval))
    if outlier.base_ejection_time is not None:
        detection.base_ejection_time.CopyFrom(duration(outlier.base_ejection_time))
    if outlier.max_ejection_percent:
        detection.max_ejection_percent.value = outlier.max_ejection_percent
    cluster.outlier_detection.CopyFrom(detection)
    # minHealthPercent (default 0) always lands as the panic threshold: 0 serializes as {}.
    cluster.common_lb_config.healthy_panic_threshold.SetInParent()


def _load_balancer(cluster: cluster_pb2.Cluster, lb: LoadBalancerSettings) -> None:
    if lb.consistent_hash is not None:
        cluster.lb_policy = cluster_pb2.Cluster.RING_HASH
        cluster.ring_hash_lb_config.minimum_ring_size.value = RING_SIZE
    elif lb.simple == "ROUND_ROBIN":
        cluster.lb_policy = cluster_pb2.Cluster.ROUND_ROBIN
    elif lb.simple == "RANDOM":
        cluster.lb_policy = cluster_pb2.Cluster.RANDOM
    elif lb.simple == "PASSTHROUGH":  # to the address the client asked for: no endpoints, no EDS
        cluster.type = cluster_pb2.Cluster.ORIGINAL_DST
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        cluster.ClearField("eds_cluster_config")
        cluster.ClearField("load_assignment")
        mesh_context_alone(cluster)
    # LEAST_REQUEST, LEAST_CONN, UNSPECIFIED: Istio's LEAST_REQUEST, already set.


def mesh_context_alone(cluster: cluster_pb2.Cluster) -> None:
    """Auto mTLS is never a match on an ORIGINAL_DST cluster: its mesh context, where it has one,
    stands alone as the cluster's transport socket (``applyUpstreamTLSSettings`` in ``cluster_tls.go``)."""
    if len(cluster.transport_socket_matches):
        cluster.transport_socket.CopyFrom(cluster.transport_socket_matches[0].transport_socket)
        del cluster.transport_socket_matches[:]


def passthrough(policy: ClusterPolicy | None) -> bool:
    """Whether ``policy`` makes its cluster an ORIGINAL_DST one, with no endpoint set of its own."""
    lb = policy.load_balancer if policy is not None else None
    return lb is not None and lb.simple == "PASSTHROUGH"


def _tls(
    cluster: cluster_pb2.Cluster, tls: ClientTLSSettings | None, sni: str, identities: Sequence[str], *, entry: bool
) -> None:
    """A rule's TLS onto ``cluster`` (``None``: one the sidecar builds no context of). SIMPLE and
    MUTUAL without ``subjectAltNames`` of their own check a ServiceEntry host's identities
    (``constructUpstreamTLS``: ``provider.External``), after ``auto_san_validation`` is decided."""
    del cluster.transport_socket_matches[:]  # a DR's TLS replaces auto mTLS
    if tls is None or tls.mode == "DISABLE":
        return
    if tls.mode == "ISTIO_MUTUAL":
        context = tls_pb2.UpstreamTlsContext(
            common_tls_context=mesh_tls_context(mesh_alpn(is_http2(cluster)), tls.subject_alt_names or identities),
            sni=tls.sni or sni,
        )
    else:  # SIMPLE and MUTUAL: the destination's own certificates, checked against the CA given
        # Files are served by istio-agent as SDS resources named after them (SdsCertificateConfig).
        root = (
            credential_secret(f"{tls.credential_name}-cacert")
            if tls.credential_name
            else sds_secret(f"file-root:{tls.ca_certificates or SYSTEM_ROOTS}")
        )
        common = tls_pb2.CommonTlsContext(tls_params=tls_versions())  # defaultUpstreamCommonTLSContext
        if tls.insecure_skip_verify:  # nothing to check the certificate against (constructUpstreamTLS)
            if not tls.credential_name:
                common.validation_context.SetInParent()
        else:
            checked = common_pb2.CertificateValidationContext(
                match_subject_alt_names=san_matchers(tls.subject_alt_names or (identities if entry else ()))
            )
            if tls.ca_crl:  # validation refuses a CRL beside a credentialName
                checked.crl.filename = tls.ca_crl
            common.combined_validation_context.CopyFrom(
                tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
                    default_validation_context=checked, validation_context_sds_secret_config=root
                )
            )
        if tls.mode == "MUTUAL":
            client = (
                credential_secret(tls.credential_name)
                if tls.credential_name
                else sds_secret(f"file-cert:{tls.client_certificate}~{tls.private_key}")
            )
            common.tls_certificate_sds_secret_configs.append(client)
        if is_http2(cluster):
            common.alpn_protocols.append("h2")  # ALPNH2Only
        context = tls_pb2.UpstreamTlsContext(common_tls_context=common, sni=tls.sni)
        _auto_sni(cluster, tls)
    cluster.transport_socket.name = "envoy.transport_sockets.tls"
    cluster.transport_socket.typed_config.CopyFrom(pack(context))


def _auto_sni(cluster: cluster_pb2.Cluster, tls: ClientTLSSettings) -> None:
    """``setAutoSniAndAutoSanValidation`` for SIMPLE and MUTUAL (``ENABLE_AUTO_SNI``, on by default
    since Istio 1.21; unconditional at HEAD): without an ``sni``, Envoy sends the request's host as
    SNI (``auto_sni``) and, without ``subjectAltNames`` or ``insecureSkipVerify``, checks the
    certificate against it (``auto_san_validation``)."""
    auto_sni = not tls.sni
    auto_san = auto_sni and not tls.subject_alt_names and not tls.insecure_skip_verify
    if not auto_sni:
        return
    options = _http_options(cluster)
    options.upstream_http_protocol_options.auto_sni = True
    if auto_san:
        options.upstream_http_protocol_options.auto_san_validation = True
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))


def _consistent_hash(policy: TrafficPolicy | PortTrafficPolicy | None) -> ConsistentHash | None:
    lb = policy.load_balancer if policy is not None else None
    return lb.consistent_hash if lb is not None else None


def _port_hash(policy: TrafficPolicy | None, port: int | None) -> ConsistentHash | None:
    if policy is None or port is None:
        return None
    entry = next((e for e in policy.port_level_settings if e.port.number == port), None)
    return _consistent_hash(entry)


def destination_hash(spec: DestinationRuleSpec, subset: str, port: int | None) -> ConsistentHash | None:
    """The consistent hash a route to ``subset`` (``""``: none) of the rule's host keys on, ``port``
    being the destination's own (``None`` when the route names none): the subset's port-level
    setting, the subset's, the rule's port-level one, the rule's (``HashForHTTPDestination`` in
    ``pilot/pkg/networking/core/route/route.go``)."""
    found = [_port_hash(spec.traffic_policy, port), _consistent_hash(spec.traffic_policy)]
    for entry in spec.subsets:
        if subset and entry.name == subset:
            found = [_port_hash(entry.traffic_policy, port), _consistent_hash(entry.traffic_policy), *found]
            break
    return next((h for h in found if h is not None), None)


def hash_policy(consistent: ConsistentHash | None) -> rc.RouteAction.HashPolicy | None:
    """The route's hash policy for a consistent hash (``ConsistentHashToHashPolicy``): by header,
    cookie, source IP or query parameter; ``None`` when it names no key."""
    if consistent is None:
        return None
    if consistent.http_header_name is not None:
        return rc.RouteAction.HashPolicy(header={"header_name": consistent.http_header_name})
    if consistent.http_cookie is not None:
        cookie = consistent.http_cookie
        policy = rc.RouteAction.HashPolicy(cookie={"name": cookie.name, "path": cookie.path})
        if cookie.ttl is not None:  # 0 (a session cookie) is written too, as an empty duration
            policy.cookie.ttl.SetInParent()
            policy.cookie.ttl.CopyFrom(duration(cookie.ttl))
        return policy
    if consistent.use_source_ip:
        return rc.RouteAction.HashPolicy(connection_properties={"source_ip": True})
    if consistent.http_query_parameter_name is not None:
        return rc.RouteAction.HashPolicy(query_parameter={"name": consistent.http_query_parameter_name})
    return None


def apply_policy(
    cluster: cluster_pb2.Cluster, policy: ClusterPolicy, *, sni: str, identities: Sequence[str], entry: bool = False
) -> None:
    """Write ``policy`` onto ``cluster`` (built with Istio's defaults), as istiod applies it
    (``entry``: a ServiceEntry host's cluster, :func:`_tls`)."""
    if policy.connection_pool is not None:
        _connection_pool(cluster, policy.connection_pool)
    if policy.outlier_detection is not None:
        _outlier_detection(cluster, policy.outlier_detection)
    if policy.load_balancer is not None:
        _load_balancer(cluster, policy.load_balancer)
    if policy.tls is not None:
        _tls(cluster, policy.tls if policy.tls_context else None, sni, identities, entry=entry)

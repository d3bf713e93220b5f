"""Message pieces every builder shares: addresses, config sources, TLS, metadata, filters.

Filter chains hold what istiod sends, Istio-only filters included (:mod:`dsim.xds.istio_filters`);
a config is stripped of those only where upstream Envoy loads it (:mod:`dsim.xds.upstream`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import address_pb2, base_pb2, config_source_pb2, grpc_service_pb2, protocol_pb2
from envoy.config.listener.v3 import listener_components_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.grpc_stats.v3 import config_pb2 as grpc_stats_pb2
from envoy.extensions.filters.http.grpc_web.v3 import grpc_web_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.filters.network.mongo_proxy.v3 import mongo_proxy_pb2
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from envoy.extensions.request_id.uuid.v3 import uuid_pb2
from envoy.extensions.transport_sockets.tls.v3 import common_pb2, secret_pb2, tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.matcher.v3 import string_pb2
from envoy.type.tracing.v3 import custom_tag_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import any_pb2, duration_pb2, struct_pb2
from google.protobuf.message import Message

from dsim.scenario.istio.rules import H2_PROTOCOLS
from dsim.xds import istio_filters

SDS_CLUSTER = "sds-grpc"
"""The bootstrap cluster istio-agent serves certificates on."""
WORKLOAD_CERT = "default"
ROOT_CERT = "ROOTCA"
MAX_UINT32 = 4294967295


def pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def socket_address(address: str, port: int) -> address_pb2.Address:
    return address_pb2.Address(socket_address=address_pb2.SocketAddress(address=address, port_value=port))


CHAIN_CONNECT_TIMEOUT_S = 15
"""``transport_socket_connect_timeout`` of every chain of an outbound service listener: Istio 1.24
and later (istio/istio#52852, ``buildListenerFromEntry``, ``defaultGatewayTransportSocketConnectTimeout``)."""


def outbound_chain(**fields: Any) -> listener_components_pb2.FilterChain:
    """A chain of an outbound service listener (an HTTP, TCP, sniffed, TLS-routed or ServiceEntry
    listener's): ``fields`` and the connect timeout :data:`CHAIN_CONNECT_TIMEOUT_S`. The
    fall-through chain Istio adds to a listener whose chains all match is not one of them."""
    chain = listener_components_pb2.FilterChain(**fields)
    chain.transport_socket_connect_timeout.seconds = CHAIN_CONNECT_TIMEOUT_S
    return chain


def duration(milliseconds: int) -> duration_pb2.Duration:
    """A duration of whole milliseconds (what dsim reads Istio's durations as)."""
    return duration_pb2.Duration(seconds=milliseconds // 1000, nanos=(milliseconds % 1000) * 1_000_000)


def zero() -> duration_pb2.Duration:
    """An explicit 0s duration (Istio writes timeouts off as 0s)."""
    return duration_pb2.Duration(seconds=0)


def ads_config_source() -> config_source_pb2.ConfigSource:
    """``{ads: {}, initial_fetch_timeout: 0s, resource_api_version: V3}``."""
    return config_source_pb2.ConfigSource(
        ads=config_source_pb2.AggregatedConfigSource(),
        initial_fetch_timeout=zero(),
        resource_api_version=config_source_pb2.V3,
    )


def sds_secret(name: str) -> secret_pb2.SdsSecretConfig:
    """A secret from istio-agent's SDS server over the bootstrap's ``sds-grpc`` cluster."""
    return secret_pb2.SdsSecretConfig(
        name=name,
        sds_config=config_source_pb2.ConfigSource(
            api_config_source=config_source_pb2.ApiConfigSource(
                api_type=config_source_pb2.ApiConfigSource.GRPC,
                grpc_services=[
                    grpc_service_pb2.GrpcService(
                        envoy_grpc=grpc_service_pb2.GrpcService.EnvoyGrpc(cluster_name=SDS_CLUSTER)
                    )
                ],
                set_node_on_first_message_only=True,
                transport_api_version=config_source_pb2.V3,
            ),
            initial_fetch_timeout=zero(),
            resource_api_version=config_source_pb2.V3,
        ),
    )


def tls_versions() -> common_pb2.TlsParameters:
    """TLS 1.2 to 1.3, the versions Istio allows every context it builds (``defaultUpstreamCommonTLSContext``
    in ``cluster_tls.go``; ``BuildInboundTLS`` with the mesh's default minimum)."""
    return common_pb2.TlsParameters(
        tls_minimum_protocol_version=common_pb2.TlsParameters.TLSv1_2,
        tls_maximum_protocol_version=common_pb2.TlsParameters.TLSv1_3,
    )


def mesh_tls_context(
    alpn: Sequence[str], subject_alt_names: Sequence[str] = (), san_prefix: str | None = None
) -> tls_pb2.CommonTlsContext:
    """Istio mutual TLS: workload certificate and root CA over SDS, peer SPIFFE identities checked
    (exact, or by trust-domain prefix)."""
    return tls_pb2.CommonTlsContext(
        tls_params=tls_versions(),
        alpn_protocols=list(alpn),
        tls_certificate_sds_secret_configs=[sds_secret(WORKLOAD_CERT)],
        combined_validation_context=tls_pb2.CommonTlsContext.CombinedCertificateValidationContext(
            default_validation_context=common_pb2.CertificateValidationContext(
                match_subject_alt_names=san_matchers(subject_alt_names, san_prefix)
            ),
            validation_context_sds_secret_config=sds_secret(ROOT_CERT),
        ),
    )


def is_http2(cluster: cluster_pb2.Cluster) -> bool:
    """``isHttp2Cluster``: the cluster speaks HTTP/2 explicitly, as its port's protocol made it
    (set before any rule is applied, so the TLS it gets offers ``h2``)."""
    packed = cluster.typed_extension_protocol_options
    if HTTP_PROTOCOL_OPTIONS not in packed:
        return False
    options = http_protocol_options_pb2.HttpProtocolOptions()
    packed[HTTP_PROTOCOL_OPTIONS].Unpack(options)
    return options.explicit_http_config.HasField("http2_protocol_options")


def mesh_alpn(http2: bool) -> tuple[str, ...]:
    """What an in-mesh mTLS connection offers: Istio's metadata exchange and mesh markers, and
    ``h2`` when the cluster speaks HTTP/2 (``ALPNInMeshWithMxc``, ``ALPNInMeshH2WithMxc``: metadata
    exchange on and its ALPN not disabled, Istio's defaults; ``isHttp2Cluster`` in ``cluster_tls.go``)."""
    return ("istio-peer-exchange", "istio", "h2") if http2 else ("istio-peer-exchange", "istio")


def san_matchers(exact: Sequence[str], prefix: str | None = None) -> list[string_pb2.StringMatcher]:
    """Subject alternative names as Istio writes them, 1.17 to HEAD: Envoy's untyped
    ``match_subject_alt_names`` (``util.StringToExactMatch`` and ``StringToPrefixMatch`` in
    ``cluster_tls.go`` and ``security/model/authentication.go``), which Envoy checks against every
    SAN type of the peer's certificate, not the typed ``match_typed_subject_alt_names``."""
    matchers = [string_pb2.StringMatcher(exact=san) for san in exact]
    if prefix is not None:
        matchers.append(string_pb2.StringMatcher(prefix=prefix))
    return matchers


HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def downstream_protocol() -> http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig:
    """Speak upstream whichever HTTP version the client spoke (``setUseDownstreamProtocol``)."""
    return http_protocol_options_pb2.HttpProtocolOptions.UseDownstreamHttpConfig(
        http_protocol_options=protocol_pb2.Http1ProtocolOptions(),
        http2_protocol_options=protocol_pb2.Http2ProtocolOptions(),
    )


def upstream_http_options(
    protocol: str, *, h2_upgrade: bool = False
) -> http_protocol_options_pb2.HttpProtocolOptions | None:
    """How a cluster speaks HTTP upstream, as Istio sets it per port protocol (``setUpstreamProtocol``):
    HTTP/2 for :data:`H2_PROTOCOLS`, the downstream's protocol for sniffed ports, Envoy's default
    otherwise; ``h2_upgrade`` (:func:`dsim.xds.policy.upgrades_to_h2`) makes any but a sniffed port's
    HTTP/2 (``applyH2Upgrade``: ``setH2Options`` leaves a protocol already chosen)."""
    options = http_protocol_options_pb2.HttpProtocolOptions
    if protocol in H2_PROTOCOLS or (h2_upgrade and protocol != "auto"):
        return options(
            explicit_http_config=options.ExplicitHttpConfig(http2_protocol_options=protocol_pb2.Http2ProtocolOptions())
        )
    if protocol == "auto":
        return options(use_downstream_protocol_config=downstream_protocol())
    return None


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def metadata(filters: Mapping[str, Mapping[str, Any]]) -> base_pb2.Metadata:
    """``filter_metadata`` from plain values (Struct per filter)."""
    result = base_pb2.Metadata()
    for key, values in filters.items():
        result.filter_metadata[key].CopyFrom(struct(values))
    return result


TCP_PROXY_NAME = "envoy.filters.network.tcp_proxy"
MONGO_PROXY_NAME = "envoy.filters.network.mongo_proxy"
HCM_NAME = "envoy.filters.network.http_connection_manager"
GRPC_WEB_FILTER = "envoy.filters.http.grpc_web"
BLACKHOLE_CHAIN_SUFFIX = "-blackhole"
"""How the virtual listeners' blackhole chains' names end (Istio's ``virtualOutbound-blackhole`` and
``virtualInbound-blackhole``): the one chain kind Istio builds without an access log."""


def tcp_proxy_filter(
    cluster: str, weighted: Sequence[tuple[str, int]] = (), stat_prefix: str = ""
) -> listener_components_pb2.Filter:
    """A network filter chain's ``tcp_proxy`` to ``cluster`` (stat prefix: the cluster's name), or
    split over ``weighted`` (cluster, weight) pairs under ``stat_prefix``."""
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix or cluster)
    if weighted:
        for name, weight in weighted:
            proxy.weighted_clusters.clusters.add(name=name, weight=weight)
    else:
        proxy.cluster = cluster
    return listener_components_pb2.Filter(name=TCP_PROXY_NAME, typed_config=pack(proxy))


def tcp_filters(
    cluster: str,
    *,
    inbound: bool,
    weighted: Sequence[tuple[str, int]] = (),
    stat_prefix: str = "",
    mongo: bool = False,
) -> list[listener_components_pb2.Filter]:
    """A TCP chain's filters: Istio's TCP stats, then the ``tcp_proxy`` (:func:`tcp_proxy_filter`),
    on a ``mongo`` chain (its port's protocol is Mongo) after a ``mongo_proxy`` of the same stat
    prefix (``buildNetworkFiltersStack``; ``PILOT_ENABLE_MONGO_FILTER`` is on by default, Istio 1.30)."""
    proxy = tcp_proxy_filter(cluster, weighted, stat_prefix)
    if not mongo:
        return [istio_filters.stats_network(inbound), proxy]
    sniffer = mongo_proxy_pb2.MongoProxy(stat_prefix=stat_prefix or cluster)
    return [
        istio_filters.stats_network(inbound),
        listener_components_pb2.Filter(name=MONGO_PROXY_NAME, typed_config=pack(sniffer)),
        proxy,
    ]


def http_filters(*, inbound: bool, grpc_web: bool = False) -> list[hcm_pb2.HttpFilter]:
    """Istio's sidecar HTTP filters, in Istio's order: peer metadata first, ``grpc_web`` where the
    protocol the connection manager was built for is gRPC-Web (``buildHTTPConnectionManager``,
    Istio 1.30's ``listener_builder.go``), ALPN override outbound only (it picks the upstream mTLS
    ALPN), stats just before the router."""
    return [
        istio_filters.peer_metadata(inbound),
        *([hcm_pb2.HttpFilter(name=GRPC_WEB_FILTER, typed_config=pack(grpc_web_pb2.GrpcWeb()))] if grpc_web else []),
        hcm_pb2.HttpFilter(
            name="envoy.filters.http.grpc_stats",
            typed_config=pack(
                grpc_stats_pb2.FilterConfig(emit_filter_state=True, stats_for_all_methods={"value": False})
            ),
        ),
        *([] if inbound else [istio_filters.alpn()]),
        hcm_pb2.HttpFilter(name="envoy.filters.http.fault", typed_config=pack(fault_pb2.HTTPFault())),
        hcm_pb2.HttpFilter(name="envoy.filters.http.cors", typed_config=pack(cors_pb2.Cors())),
        istio_filters.stats_http(inbound),
        hcm_pb2.HttpFilter(name="envoy.filters.http.router", typed_config=pack(router_pb2.Router())),
    ]


def tracing(
    canonical_service: str, canonical_revision: str, mesh_id: str, namespace: str
) -> hcm_pb2.HttpConnectionManager.Tracing:
    """Istio's tracing block with the proxy's own identity tags (why LDS differs per workload)."""
    tags = {
        "istio.canonical_revision": canonical_revision,
        "istio.canonical_service": canonical_service,
        "istio.mesh_id": mesh_id,
        "istio.namespace": namespace,
    }
    return hcm_pb2.HttpConnectionManager.Tracing(
        client_sampling=percent_pb2.Percent(value=100),
        random_sampling=percent_pb2.Percent(value=1),
        overall_sampling=percent_pb2.Percent(value=100),
        custom_tags=[
            custom_tag_pb2.CustomTag(tag=tag, literal=custom_tag_pb2.CustomTag.Literal(value=value))
            for tag, value in tags.items()
        ],
    )


def hcm_common(
    manager: hcm_pb2.HttpConnectionManager, *, inbound: bool, grpc_web: bool = False
) -> hcm_pb2.HttpConnectionManager:
    """Settings Istio gives every sidecar HTTP connection manager (``grpc_web``: built for a gRPC-Web
    port, :func:`http_filters`)."""
    manager.http_filters.extend(http_filters(inbound=inbound, grpc_web=grpc_web))
    manager.use_remote_address.value = False
    manager.upgrade_configs.add(upgrade_type="websocket")
    manager.stream_idle_timeout.CopyFrom(zero())
    manager.normalize_path.value = True
    manager.request_id_extension.typed_config.CopyFrom(
        pack(uuid_pb2.UuidRequestIdConfig(use_request_id_for_trace_sampling={"value": True}))
    )
    manager.path_with_escaped_slashes_action = hcm_pb2.HttpConnectionManager.KEEP_UNCHANGED
    return manager

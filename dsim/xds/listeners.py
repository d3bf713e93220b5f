"""Listeners (LDS): outbound per service port, the shared HTTP listeners, virtualOutbound,
virtualInbound; every design's listeners come from these functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.listener.http_inspector.v3 import http_inspector_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2
from envoy.extensions.filters.listener.tls_inspector.v3 import tls_inspector_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from google.protobuf import wrappers_pb2

from dsim.designs.base import Bind, PassthroughChains, VirtualInbound
from dsim.scenario.istio.rules import H2_PROTOCOLS
from dsim.xds import istio_filters
from dsim.xds.chains import PASSTHROUGH_CHAINS, PLAINTEXT_HTTP_ALPN, PORT_CHAINS, Chain
from dsim.xds.common import (
    BLACKHOLE_CHAIN_SUFFIX,
    HCM_NAME,
    ads_config_source,
    hcm_common,
    mesh_tls_context,
    metadata,
    outbound_chain,
    pack,
    socket_address,
    tcp_filters,
    zero,
)
from dsim.xds.names import listener_name
from dsim.xds.view import InboundPort

BLACKHOLE = "BlackHoleCluster"
PASSTHROUGH = "PassthroughCluster"
VIRTUAL_OUTBOUND_PORT = 15001
VIRTUAL_INBOUND_PORT = 15006
TLS_INSPECTOR = "envoy.filters.listener.tls_inspector"
Tracing: TypeAlias = hcm_pb2.HttpConnectionManager.Tracing


def chain_count(listener: listener_pb2.Listener) -> int:
    """The filter chains Envoy builds for ``listener``: its chains and its default one."""
    return len(listener.filter_chains) + listener.HasField("default_filter_chain")


def _listener(name: str, bind: Bind, port: int, direction: int) -> listener_pb2.Listener:
    listener = listener_pb2.Listener(name=name, address=socket_address(bind.address, port), traffic_direction=direction)
    for address in bind.additional:
        listener.additional_addresses.add(address=socket_address(address, port))
    return listener


def _outbound(name: str, bind: Bind, port: int, bound: bool = False) -> listener_pb2.Listener:
    """``bound``: the listener binds its port itself (a Sidecar egress listener capturing with
    ``NONE``); every other is reached through virtualOutbound's original-destination redirect."""
    listener = _listener(name, bind, port, base_pb2.OUTBOUND)
    if not bound:
        listener.bind_to_port.value = False
    # buildListenerFromEntry sets both on every outbound service listener since Istio 1.19 (#46235): no
    # listener-filter timeout (meshConfig.protocolDetectionTimeout, 0s by default, with an HTTP inspector).
    listener.listener_filters_timeout.CopyFrom(zero())
    listener.continue_on_listener_filters_timeout = True
    return listener


def _inspectors(listener: listener_pb2.Listener) -> None:
    """TLS and HTTP inspection, needed to match on transport and application protocol."""
    listener.listener_filters.append(tls_inspector())
    listener.listener_filters.add(
        name="envoy.filters.listener.http_inspector", typed_config=pack(http_inspector_pb2.HttpInspector())
    )


def _outbound_hcm(stat_prefix: str, route_name: str, tracing: Tracing, *, grpc_web: bool = False) -> lc.Filter:
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        rds=hcm_pb2.Rds(config_source=ads_config_source(), route_config_name=route_name),
        tracing=tracing,
    )
    return lc.Filter(name=HCM_NAME, typed_config=pack(hcm_common(manager, inbound=False, grpc_web=grpc_web)))


def _http_match() -> lc.FilterChainMatch:
    return lc.FilterChainMatch(transport_protocol="raw_buffer", application_protocols=PLAINTEXT_HTTP_ALPN)


def service_tcp_chain(cluster: str, routed: lc.FilterChain | None, *, mongo: bool = False) -> lc.FilterChain:
    """A service port listener's TCP chain, matching everything: proxying to the service's cluster
    (through a ``mongo_proxy`` on a ``mongo`` port, :func:`dsim.xds.common.tcp_filters`), or by its
    VirtualService's TCP route (``routed``, :func:`dsim.xds.vs_routes.tcp_chain`)."""
    chain = outbound_chain()
    if routed is None:
        chain.filters.extend(tcp_filters(cluster, inbound=False, mongo=mongo))
    else:
        chain.MergeFrom(routed)
    return chain


def outbound_tcp(
    bind: Bind,
    port: int,
    cluster: str,
    routed: lc.FilterChain | None = None,
    *,
    bound: bool = False,
    mongo: bool = False,
) -> listener_pb2.Listener:
    """A TCP service port: a listener on the VIP (or a Sidecar's bind) with its TCP chain
    (:func:`service_tcp_chain`)."""
    listener = _outbound(listener_name(bind.address, port), bind, port, bound)
    listener.filter_chains.append(service_tcp_chain(cluster, routed, mongo=mongo))
    return listener


def _sniffing(
    bind: Bind, port: int, route_name: str, tracing: Tracing, bound: bool = False, *, grpc_web: bool = False
) -> listener_pb2.Listener:
    """An outbound listener whose first chain routes plaintext HTTP by RDS ``route_name``."""
    name = listener_name(bind.address, port)
    listener = _outbound(name, bind, port, bound)
    _inspectors(listener)
    manager = _outbound_hcm(f"outbound_{name}", route_name, tracing, grpc_web=grpc_web)
    listener.filter_chains.append(outbound_chain(filter_chain_match=_http_match(), filters=[manager]))
    return listener


def fallthrough(unknown: str) -> lc.FilterChain:
    """The default chain of an outbound listener whose chains all match something: to ``unknown``."""
    return lc.FilterChain(
        filter_chain_match=lc.FilterChainMatch(),
        filters=tcp_filters(unknown, inbound=False),
        name="PassthroughFilterChain",
    )


def outbound_http(
    bind: Bind, port: int, route_name: str, tracing: Tracing, unknown: str, *, grpc_web: bool = False
) -> listener_pb2.Listener:
    """The wildcard listener all HTTP services on ``port`` share; anything else goes to ``unknown``.
    Its connection manager is built for the first port to open it (``grpc_web``: a gRPC-Web one,
    :func:`dsim.xds.common.http_filters`)."""
    listener = _sniffing(bind, port, route_name, tracing, grpc_web=grpc_web)
    listener.default_filter_chain.CopyFrom(fallthrough(unknown))
    return listener


def outbound_http_bound(
    bind: Bind, port: int, route_name: str, tracing: Tracing, *, bound: bool, grpc_web: bool = False
) -> listener_pb2.Listener:
    """A Sidecar egress HTTP port listener on an address of its own (a bind, or the loopback under
    ``captureMode: NONE``): HTTP alone, so no inspector and no application-protocol match, its one
    chain matching everything (``buildSidecarOutboundListener`` adds the ALPN match only on the
    wildcard). ``grpc_web``: the listener's protocol is gRPC-Web (:func:`dsim.xds.common.http_filters`)."""
    name = listener_name(bind.address, port)
    listener = _outbound(name, bind, port, bound)
    manager = _outbound_hcm(f"outbound_{name}", route_name, tracing, grpc_web=grpc_web)
    listener.filter_chains.append(outbound_chain(filters=[manager]))
    return listener


def _matches_everything(chain: lc.FilterChain) -> bool:
    return chain.filter_chain_match == lc.FilterChainMatch()


def _entry_chains(listener: listener_pb2.Listener) -> list[lc.FilterChain]:
    """Copies of a built listener's chains as Istio's listener entry holds them: without the
    fall-through chain, which only ``buildListenerFromEntry`` adds."""
    found = []
    for chain in (*listener.filter_chains, listener.default_filter_chain):
        if chain.filters and chain.name != "PassthroughFilterChain":
            copy = lc.FilterChain()
            copy.CopyFrom(chain)
            found.append(copy)
    return found


def merge_tcp(current: listener_pb2.Listener, incoming: listener_pb2.Listener, unknown: str) -> None:
    """Two services' TCP listeners on one address and port (a bound egress port listener's) made one,
    in ``current``: the incoming chains whose match no chain has yet join (``mergeTCPFilterChains``),
    then, as ``buildListenerFromEntry`` lays them out, the chain matching everything is the default
    one where others match something, and without one the fall-through to ``unknown`` is; the TLS
    inspector stays where a chain matches server names."""
    chains = _entry_chains(current)
    for chain in _entry_chains(incoming):
        if all(chain.filter_chain_match != c.filter_chain_match for c in chains):
            chains.append(chain)
    lay_out(current, chains, unknown)
    del current.listener_filters[:]
    if any(c.filter_chain_match.server_names for c in current.filter_chains):
        current.listener_filters.append(tls_inspector())


def merge_into_http(current: listener_pb2.Listener, incoming: Sequence[lc.FilterChain], unknown: str) -> None:
    """Chains of address-less ServiceEntry TCP and TLS ports joining the shared HTTP listener of their
    port (``TCPOverAuto``: ``mergeTCPFilterChains``, then ``buildListenerFromEntry``): SNI chains
    beside the HTTP one, and a TCP chain, matching everything, in place of the fall-through. The
    listener already inspects TLS and HTTP."""
    lay_out(current, [*_entry_chains(current), *incoming], unknown)


def lay_out(listener: listener_pb2.Listener, chains: Sequence[lc.FilterChain], unknown: str) -> None:
    """A listener's chains as ``buildListenerFromEntry`` lays them out: where some chain matches
    something, the one matching everything is the default chain, and without one the fall-through to
    ``unknown`` is; a lone chain matching everything is the listener's only chain."""
    everything = [c for c in chains if _matches_everything(c)]
    matching = [c for c in chains if not _matches_everything(c)]
    del listener.filter_chains[:]
    listener.ClearField("default_filter_chain")
    listener.filter_chains.extend(matching or everything[:1])
    if matching:
        listener.default_filter_chain.CopyFrom(everything[0] if everything else fallthrough(unknown))


def tls_inspector() -> lc.ListenerFilter:
    """The listener filter that reads a connection's SNI and ALPN before a chain is chosen."""
    return lc.ListenerFilter(name=TLS_INSPECTOR, typed_config=pack(tls_inspector_pb2.TlsInspector()))


def outbound_tls_routed(
    bind: Bind, port: int, chains: Sequence[lc.FilterChain], unknown: str, *, bound: bool = False
) -> listener_pb2.Listener:
    """A TLS service port whose VirtualService's TLS routes give it SNI chains
    (:func:`dsim.xds.vs_routes.tls_chains`): the TLS inspector reads the SNI, and a connection no
    chain matches falls through to ``unknown`` (``buildListenerFromEntry``)."""
    listener = _outbound(listener_name(bind.address, port), bind, port, bound)
    listener.MergeFrom(tls_routing(chains, unknown))
    return listener


def tls_routing(chains: Sequence[lc.FilterChain], unknown: str) -> listener_pb2.Listener:
    """What TLS routes put in a TCP listener in place of its chain (:func:`outbound_tls_routed`), alone.
    Every chain matches server names (a sidecar's VirtualService cannot name ``*``, the one SNI that
    would match everything), so a connection none matches takes the fall-through chain."""
    return listener_pb2.Listener(
        listener_filters=[tls_inspector()], filter_chains=chains, default_filter_chain=fallthrough(unknown)
    )


def outbound_auto(
    bind: Bind,
    port: int,
    route_name: str,
    cluster: str,
    tracing: Tracing,
    routed: lc.FilterChain | None = None,
    *,
    bound: bool = False,
) -> listener_pb2.Listener:
    """An auto-detected port: a VIP listener that routes HTTP by RDS and proxies anything else (to the
    service's cluster, or by its VirtualService's TCP route: ``routed``). The TCP chain matches
    everything, so it is the default chain beside the HTTP one (Istio 1.17's
    ``appendListenerFallthroughRouteForCompleteListener``, 1.24's ``buildListenerFromEntry``)."""
    listener = _sniffing(bind, port, route_name, tracing, bound)
    listener.default_filter_chain.CopyFrom(service_tcp_chain(cluster, routed))
    return listener


def virtual_outbound(name: str, bind: Bind, unknown: str) -> listener_pb2.Listener:
    """Where iptables sends outbound traffic: original destination, or the catch-all."""
    listener = _listener(name, bind, VIRTUAL_OUTBOUND_PORT, base_pb2.OUTBOUND)
    listener.filter_chains.add(
        filter_chain_match=lc.FilterChainMatch(destination_port=wrappers_pb2.UInt32Value(value=VIRTUAL_OUTBOUND_PORT)),
        filters=tcp_filters(BLACKHOLE, inbound=False),
        name=f"{name}{BLACKHOLE_CHAIN_SUFFIX}",
    )
    listener.filter_chains.add(filters=tcp_filters(unknown, inbound=False), name=f"{name}-catchall-tcp")
    listener.use_original_dst.value = True
    return listener


def _inbound_hcm(
    stat_prefix: str,
    route_name: str,
    vhost: str,
    cluster: str,
    operation: str,
    tracing: Tracing,
    *,
    http2: bool = False,
    grpc_web: bool = False,
) -> lc.Filter:
    route = rc.Route(
        match=rc.RouteMatch(prefix="/"),
        route=rc.RouteAction(
            cluster=cluster,
            timeout=zero(),
            max_stream_duration=rc.RouteAction.MaxStreamDuration(
                max_stream_duration=zero(), grpc_timeout_header_max=zero()
            ),
        ),
        decorator=rc.Decorator(operation=operation),
        name="default",
    )
    manager = hcm_pb2.HttpConnectionManager(
        stat_prefix=stat_prefix,
        route_config=route_pb2.RouteConfiguration(
            name=route_name,
            virtual_hosts=[rc.VirtualHost(name=vhost, domains=["*"], routes=[route])],
            validate_clusters=wrappers_pb2.BoolValue(value=False),
        ),
        tracing=tracing,
        server_name="istio-envoy",
        forward_client_cert_details=hcm_pb2.HttpConnectionManager.APPEND_FORWARD,
        set_current_client_cert_details=hcm_pb2.HttpConnectionManager.SetCurrentClientCertDetails(
            subject=wrappers_pb2.BoolValue(value=True), dns=True, uri=True
        ),
    )
    if http2:  # buildSidecarInboundHTTPOpts: an HTTP/2 port's manager says so
        manager.http2_protocol_options.SetInParent()
    return lc.Filter(name=HCM_NAME, typed_config=pack(hcm_common(manager, inbound=True, grpc_web=grpc_web)))


SUPPORTED_CIPHERS = (
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-GCM-SHA256",
)
"""What a sidecar accepts on inbound mTLS without ``meshMTLS.cipherSuites``: ``SupportedCiphers``
of ``pilot/pkg/security/authn/utils/utils.go`` (the same list from Istio 1.17 to HEAD)."""


def _chain(
    chain: Chain,
    match: lc.FilterChainMatch,
    terminal: Sequence[lc.Filter],
    name: str,
    trust_domain: str,
) -> lc.FilterChain:
    match.transport_protocol = "tls" if chain.tls else "raw_buffer"
    match.application_protocols.extend(chain.alpn)
    # Every inbound chain first records the peer's identity and exchanges workload metadata.
    filters = [istio_filters.authn(), istio_filters.metadata_exchange_network(), *terminal]
    result = lc.FilterChain(filter_chain_match=match, filters=filters, name=name)
    if chain.terminate:
        # ALPNHttp and ALPNDownstreamWithMxc: "istio" marks the client's offer and the chain's match,
        # never the server's answer, where it would stand in the way of h2 (BuildInboundTLS).
        alpn = ("h2", "http/1.1") if chain.http else ("istio-peer-exchange", "h2", "http/1.1")
        context = tls_pb2.DownstreamTlsContext(
            common_tls_context=mesh_tls_context(alpn, san_prefix=f"spiffe://{trust_domain}/"),
            require_client_certificate=wrappers_pb2.BoolValue(value=True),
        )
        context.common_tls_context.tls_params.cipher_suites.extend(SUPPORTED_CIPHERS)
        result.transport_socket.name = "envoy.transport_sockets.tls"
        result.transport_socket.typed_config.CopyFrom(pack(context))
    return result


def _passthrough_chains(
    passthrough: PassthroughChains, mtls: str, tracing: Tracing, trust_domain: str
) -> list[lc.FilterChain]:
    chains = []
    for chain in PASSTHROUGH_CHAINS[mtls]:
        match = lc.FilterChainMatch()
        if passthrough.prefix is not None:
            match.prefix_ranges.add(address_prefix=passthrough.prefix, prefix_len=wrappers_pb2.UInt32Value(value=0))
        cluster = passthrough.cluster
        if chain.http:
            terminal = [_inbound_hcm(cluster, cluster, "inbound|http|0", cluster, ":0/*", tracing)]
            name = "virtualInbound-catchall-http"
        else:
            terminal, name = tcp_filters(cluster, inbound=True), "virtualInbound"
        chains.append(_chain(chain, match, terminal, name, trust_domain))
    return chains


def _port_chains(
    spec: VirtualInbound, port: InboundPort, kind: str, mtls: str, tracing: Tracing, trust_domain: str
) -> list[lc.FilterChain]:
    address = spec.chain_address if port.chain_address is None else port.chain_address[spec.family == "IPv6"]
    name = listener_name(address, port.target_port)
    cluster = f"{spec.inbound_cluster_prefix}|{port.target_port}||"
    chains = []
    for chain in PORT_CHAINS[(kind, mtls)]:
        match = lc.FilterChainMatch(destination_port=wrappers_pb2.UInt32Value(value=port.target_port))
        if chain.http:
            terminal = [
                _inbound_hcm(
                    f"inbound_{name}",
                    cluster,
                    f"inbound|http|{port.service_port}",
                    cluster,
                    f"{port.host}:{port.service_port}/*",
                    tracing,
                    http2=port.protocol in H2_PROTOCOLS,
                    grpc_web=port.grpc_web,
                )
            ]
        else:
            terminal = tcp_filters(cluster, inbound=True, mongo=port.mongo)
        built = _chain(chain, match, terminal, name, trust_domain)
        if port.config:  # a Sidecar ingress port's chains name the Sidecar (``inboundChainForOpts``)
            built.metadata.CopyFrom(metadata({"istio": {"config": port.config}}))
        chains.append(built)
    return chains


def virtual_inbound(
    spec: VirtualInbound,
    ports: Sequence[tuple[InboundPort, str]],
    mtls: str,
    tracing: Tracing,
    trust_domain: str,
) -> listener_pb2.Listener:
    """Where iptables sends inbound traffic: the blackhole, a chain set per own port, passthrough."""
    listener = _listener(spec.name, spec.bind, VIRTUAL_INBOUND_PORT, base_pb2.INBOUND)
    listener.filter_chains.add(
        filter_chain_match=lc.FilterChainMatch(destination_port=wrappers_pb2.UInt32Value(value=VIRTUAL_INBOUND_PORT)),
        filters=[istio_filters.metadata_exchange_network(), *tcp_filters(BLACKHOLE, inbound=True)],
        name=f"{spec.name}{BLACKHOLE_CHAIN_SUFFIX}",
    )
    for passthrough in spec.passthrough:
        listener.filter_chains.extend(_passthrough_chains(passthrough, mtls, tracing, trust_domain))
    for port, kind in ports:
        if port.chained:
            listener.filter_chains.extend(_port_chains(spec, port, kind, mtls, tracing, trust_domain))
    listener.listener_filters.add(
        name="envoy.filters.listener.original_dst", typed_config=pack(original_dst_pb2.OriginalDst())
    )
    _inspectors(listener)
    listener.listener_filters_timeout.CopyFrom(zero())
    listener.continue_on_listener_filters_timeout = True
    return listener

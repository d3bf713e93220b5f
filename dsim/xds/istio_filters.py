"""The filters only Istio's proxy has, as istiod sends them to a sidecar.

``istio.stats``, ``istio.metadata_exchange`` (TCP and the HTTP peer-metadata filter),
``istio.alpn`` and ``istio_authn`` are extensions of Istio's own Envoy build (istio/proxy);
istiod puts them in every sidecar's listeners and outbound clusters, so they are counted in
every size and dump. Upstream Envoy cannot load them: whatever hands a config to it strips them
first (:mod:`dsim.xds.upstream`).

Their messages are not in xds-protos. They are defined here at run time from descriptors with
the field numbers and types of Istio's own ``.proto`` files, and serialized by protobuf's own
runtime, so their bytes are the wire bytes istiod sends:

- ``stats.PluginConfig``: istio/proxy ``source/extensions/filters/http/istio_stats/config.proto``
  (``disable_host_header_fallback = 6``; the other fields istiod leaves unset on sidecars);
- ``envoy.tcp.metadataexchange.config.MetadataExchange``: istio/proxy
  ``source/extensions/filters/network/metadata_exchange/config/metadata_exchange.proto``
  (``protocol = 1``, ``enable_discovery = 2``, ``additional_labels = 3``);
- ``istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig``: istio/api
  ``envoy/config/filter/http/alpn/v2alpha1/config.proto`` (``repeated AlpnOverride
  alpn_override = 1``; ``AlpnOverride {Protocol upstream_protocol = 1; repeated string
  alpn_override = 2}``; ``Protocol {HTTP10, HTTP11, HTTP2}``), as generated into istio/api's Go
  package that istiod (1.2x) links.

What each filter holds and where it goes follows istiod 1.2x (istio/istio master,
``pilot/pkg/xds/filters/filters.go``: ``Alpn``, ``TCPListenerMx``, ``TCPClusterMx``,
``SidecarInboundMetadataFilter``, ``SidecarOutboundMetadataFilter``,
``IstioNetworkAuthenticationFilter``; the telemetry stats filters: an empty
``stats.PluginConfig`` outbound, ``disable_host_header_fallback: true`` inbound) and Istio's own
sidecar dumps (``tests/data/istio-golden``) for placement. istiod wraps metadata exchange,
peer metadata and authn in a ``udpa.type.v1.TypedStruct`` (``protoconv.TypedStructWithFields``);
so does this module.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeAlias

from envoy.config.cluster.v3 import filter_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm_pb2
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from udpa.type.v1 import typed_struct_pb2

STATS = "istio.stats"
METADATA_EXCHANGE = "istio.metadata_exchange"
ALPN = "istio.alpn"
AUTHN = "istio_authn"
ISTIO_ONLY = frozenset({STATS, METADATA_EXCHANGE, ALPN, AUTHN})
"""Names of the filters upstream Envoy has no extension for."""

_PEER_EXCHANGE = "istio-peer-exchange"
_F: TypeAlias = descriptor_pb2.FieldDescriptorProto


def _field(name: str, number: int, kind: int, *, repeated: bool = False, type_name: str = "") -> _F:
    label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    field = _F(name=name, number=number, type=kind, label=label)
    if type_name:  # descriptor.proto is proto2: an empty type_name would still count as set
        field.type_name = type_name
    return field


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    """Istio's three files, reduced to the messages istiod sends (numbers as in the module docstring)."""
    stats = descriptor_pb2.FileDescriptorProto(name="istio_stats/config.proto", package="stats", syntax="proto3")
    stats.message_type.add(name="PluginConfig").field.append(_field("disable_host_header_fallback", 6, _F.TYPE_BOOL))

    exchange = descriptor_pb2.FileDescriptorProto(
        name="metadata_exchange/config/metadata_exchange.proto",
        package="envoy.tcp.metadataexchange.config",
        syntax="proto3",
    )
    exchange.message_type.add(name="MetadataExchange").field.extend(
        [
            _field("protocol", 1, _F.TYPE_STRING),
            _field("enable_discovery", 2, _F.TYPE_BOOL),
            _field("additional_labels", 3, _F.TYPE_STRING, repeated=True),
        ]
    )

    package = "istio.envoy.config.filter.http.alpn.v2alpha1"
    alpn = descriptor_pb2.FileDescriptorProto(
        name="envoy/config/filter/http/alpn/v2alpha1/config.proto", package=package, syntax="proto3"
    )
    config = alpn.message_type.add(name="FilterConfig")
    protocol = config.enum_type.add(name="Protocol")
    for number, name in enumerate(("HTTP10", "HTTP11", "HTTP2")):
        protocol.value.add(name=name, number=number)
    config.nested_type.add(name="AlpnOverride").field.extend(
        [
            _field("upstream_protocol", 1, _F.TYPE_ENUM, type_name=f".{package}.FilterConfig.Protocol"),
            _field("alpn_override", 2, _F.TYPE_STRING, repeated=True),
        ]
    )
    config.field.append(
        _field("alpn_override", 1, _F.TYPE_MESSAGE, repeated=True, type_name=f".{package}.FilterConfig.AlpnOverride")
    )
    return [stats, exchange, alpn]


@functools.cache
def _message_classes() -> dict[str, type[Message]]:
    """Register Istio's messages in the default pool (where ``Any`` and JSON look types up), once."""
    pool = descriptor_pool.Default()
    classes = {}
    for file in _files():
        pool.AddSerializedFile(file.SerializeToString())
        for message in file.message_type:
            name = f"{file.package}.{message.name}"
            classes[name] = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))
    return classes


def register() -> None:
    """Make Istio's message types known to ``Any`` unpacking and JSON parsing (idempotent)."""
    _message_classes()


def istio_message(full_name: str, **fields: Any) -> Message:
    """An instance of one of Istio's messages defined here (``stats.PluginConfig``, ...)."""
    return _message_classes()[full_name](**fields)


def _pack(message: Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _typed_struct(type_url: str, fields: Mapping[str, Any] | None = None) -> any_pb2.Any:
    """What istiod's ``TypedStructWithFields`` sends: the config as a Struct under its type URL."""
    typed = typed_struct_pb2.TypedStruct(type_url=f"type.googleapis.com/{type_url}")
    if fields is not None:
        typed.value.update(fields)
    return _pack(typed)


def _stats_config(inbound: bool) -> any_pb2.Any:
    # Inbound, the host header is not trusted to name the destination service.
    fields = {"disable_host_header_fallback": True} if inbound else {}
    return _pack(istio_message("stats.PluginConfig", **fields))


def stats_network(inbound: bool) -> lc.Filter:
    """``istio.stats`` in a TCP filter chain, before its ``tcp_proxy``."""
    return lc.Filter(name=STATS, typed_config=_stats_config(inbound))


def stats_http(inbound: bool) -> hcm_pb2.HttpFilter:
    """``istio.stats`` in an HTTP connection manager, before its router."""
    return hcm_pb2.HttpFilter(name=STATS, typed_config=_stats_config(inbound))


def _tcp_exchange() -> any_pb2.Any:
    return _typed_struct(
        "envoy.tcp.metadataexchange.config.MetadataExchange", {"protocol": _PEER_EXCHANGE, "enable_discovery": True}
    )


def metadata_exchange_network() -> lc.Filter:
    """TCP metadata exchange on an inbound chain (outbound, the cluster carries it)."""
    return lc.Filter(name=METADATA_EXCHANGE, typed_config=_tcp_exchange())


def metadata_exchange_cluster() -> filter_pb2.Filter:
    """TCP metadata exchange as an outbound cluster's upstream filter."""
    return filter_pb2.Filter(name=METADATA_EXCHANGE, typed_config=_tcp_exchange())


def peer_metadata(inbound: bool) -> hcm_pb2.HttpFilter:
    """The HTTP peer-metadata filter (named ``istio.metadata_exchange``): discover the peer from
    Istio's headers or workload discovery, and propagate the sidecar's own in Istio's headers."""
    side = "downstream" if inbound else "upstream"
    config: dict[str, list[dict[str, Any]]] = {
        f"{side}_discovery": [{"istio_headers": {}}, {"workload_discovery": {}}],
        f"{side}_propagation": [{"istio_headers": {}}],
    }
    return hcm_pb2.HttpFilter(
        name=METADATA_EXCHANGE, typed_config=_typed_struct("io.istio.http.peer_metadata.Config", config)
    )


def alpn() -> hcm_pb2.HttpFilter:
    """``istio.alpn``: per upstream HTTP version, the ALPN an outbound mTLS connection offers."""
    overrides = [
        (0, ["istio-http/1.0", "istio", "http/1.0"]),
        (1, ["istio-http/1.1", "istio", "http/1.1"]),
        (2, ["istio-h2", "istio", "h2"]),
    ]
    config: Any = istio_message("istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig")
    for protocol, names in overrides:
        config.alpn_override.add(upstream_protocol=protocol, alpn_override=names)
    return hcm_pb2.HttpFilter(name=ALPN, typed_config=_pack(config))


def authn() -> lc.Filter:
    """``istio_authn``: records the peer's and the sidecar's SPIFFE principals (an empty config)."""
    return lc.Filter(name=AUTHN, typed_config=_typed_struct("io.istio.network.authn.Config"))

"""Envoy's ``/config_dump`` (JSON) → per xDS type, the resources ADS delivered, by name, each with
its exact serialized size.

Each resource is parsed with protobuf's JSON mapping into its real Envoy v3 message (xds-protos,
plus Istio's own filter messages dsim registers), so ``ByteSize()`` is the bytes istiod sent for
it (``len(Any.value)``; field order and JSON spelling do not change it). A resource holding an
``Any`` whose type dsim's descriptor pool does not know (a WASM filter, an EnvoyFilter's
extension, a newer Envoy's field) cannot be sized: it is kept as *unparsed*, with its type URLs
and the parser's reason, so a check names it instead of dropping it.

Sections: ``ClustersConfigDump``'s dynamic (active and warming) clusters — its
``static_clusters`` come from the bootstrap, not xDS, and are only counted —, ``ListenersConfigDump``'s
dynamic listeners (the warming version when one is pending, else the active one; draining ones
are on their way out), ``RoutesConfigDump``'s dynamic route configurations, and
``EndpointsConfigDump``'s dynamic endpoint sets, present only when the dump was taken with
``?include_eds``. Secrets are counted; the bootstrap is ignored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message import Message

from dsim.check.archive import ArchiveError
from dsim.scenario.block_yaml import TOO_MANY_DIGITS
from dsim.xds import istio_filters

_ADMIN = "type.googleapis.com/envoy.admin.v3."
_MESSAGES: dict[str, type[Message]] = {
    "clusters": cluster_pb2.Cluster,
    "listeners": listener_pb2.Listener,
    "routes": route_pb2.RouteConfiguration,
    "endpoints": endpoint_pb2.ClusterLoadAssignment,
}
_NAME_FIELD = {"clusters": "name", "listeners": "name", "routes": "name", "endpoints": "clusterName"}


class ConfigDumpError(ArchiveError):
    """A config_dump that is not JSON or not an Envoy ``ConfigDump`` (names the file)."""


@dataclasses.dataclass(frozen=True)
class DumpedResource:
    """One xDS resource of a dump."""

    xds_type: str
    name: str
    bytes: int | None
    """Serialized size; ``None`` when the resource could not be parsed."""
    type_urls: tuple[str, ...]
    """Every ``Any`` type inside it (filters, transport sockets, options), sorted."""
    unknown_types: tuple[str, ...] = ()
    """The type URLs dsim's descriptor pool lacks."""
    reason: str = ""
    """Why it is unparsed (the JSON parser's message), empty when parsed."""

    @property
    def parsed(self) -> bool:
        return self.bytes is not None


@dataclasses.dataclass(frozen=True)
class ConfigDump:
    """The xDS resources of one ``/config_dump``."""

    resources: tuple[DumpedResource, ...]
    sections: frozenset[str]
    """The xDS types whose section the dump has (``endpoints`` only with ``?include_eds``)."""
    static_clusters: int
    """Bootstrap clusters, left out of every comparison."""
    secrets: int

    def of_type(self, xds_type: str) -> tuple[DumpedResource, ...]:
        return tuple(r for r in self.resources if r.xds_type == xds_type)

    @property
    def unparsed(self) -> tuple[DumpedResource, ...]:
        return tuple(r for r in self.resources if not r.parsed)


def type_urls(value: Any) -> Iterator[str]:
    """Every ``@type`` in a JSON value (the ``Any`` messages inside it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "@type" and isinstance(item, str):
                yield item
            else:
                yield from type_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from type_urls(item)


def _known(type_url: str) -> bool:
    try:
        descriptor_pool.Default().FindMessageTypeByName(type_url.rsplit("/", 1)[-1])
    except KeyError:
        return False
    return True


def parse_resource(xds_type: str, packed: dict[str, Any]) -> DumpedResource:
    """One resource as the dump prints it (an ``Any`` in JSON: ``@type`` and the message's fields)."""
    istio_filters.register()  # Istio's own filters are known types, as in an istio-proxy
    name = str(packed.get(_NAME_FIELD[xds_type], ""))
    urls = tuple(sorted(set(type_urls(packed))))
    message = _MESSAGES[xds_type]()
    fields = {k: v for k, v in packed.items() if k != "@type"}
    try:
        json_format.ParseDict(fields, message)
    except (json_format.ParseError, TypeError, ValueError) as e:
        unknown = tuple(u for u in urls if not _known(u))
        return DumpedResource(xds_type, name, None, urls, unknown, " ".join(str(e).split())[:300])
    return DumpedResource(xds_type, name or _message_name(xds_type, message), message.ByteSize(), urls)


def _message_name(xds_type: str, message: Message) -> str:
    return str(getattr(message, "cluster_name" if xds_type == "endpoints" else "name"))


def _entries(section: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """The section's xDS resources as ``(xds type, packed resource)``."""
    if kind == "ClustersConfigDump":
        for key in ("dynamicActiveClusters", "dynamicWarmingClusters"):
            for entry in section.get(key, []):
                if "cluster" in entry:
                    yield "clusters", entry["cluster"]
    elif kind == "ListenersConfigDump":
        for entry in section.get("dynamicListeners", []):
            state = entry.get("warmingState") or entry.get("activeState")
            if state and "listener" in state:
                yield "listeners", state["listener"]
    elif kind == "RoutesConfigDump":
        for entry in section.get("dynamicRouteConfigs", []):
            if "routeConfig" in entry:
                yield "routes", entry["routeConfig"]
    elif kind == "EndpointsConfigDump":
        for entry in section.get("dynamicEndpointConfigs", []):
            if "endpointConfig" in entry:
                yield "endpoints", entry["endpointConfig"]


_SECTION_TYPES = {
    "ClustersConfigDump": "clusters",
    "ListenersConfigDump": "listeners",
    "RoutesConfigDump": "routes",
    "EndpointsConfigDump": "endpoints",
}


def read_config_dump(data: bytes | str, where: str) -> ConfigDump:
    """The dump in ``data`` (``where`` names its file in messages)."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigDumpError(f"{where}: not a JSON config_dump ({e})") from None
    except ValueError:  # Python's cap on the digits of an integer it converts
        raise ConfigDumpError(f"{where}: not a JSON config_dump dsim can read ({TOO_MANY_DIGITS})") from None
    except RecursionError:
        raise ConfigDumpError(f"{where}: not a JSON config_dump dsim can read (nested too deeply)") from None
    configs = document.get("configs") if isinstance(document, dict) else None
    if not isinstance(configs, list):
        raise ConfigDumpError(f'{where}: not an Envoy config_dump (no "configs" list)')
    resources: list[DumpedResource] = []
    sections: set[str] = set()
    static_clusters = secrets = 0
    for section in configs:
        if not isinstance(section, dict):
            raise ConfigDumpError(f"{where}: not an Envoy config_dump (a section is not an object)")
        kind = str(section.get("@type", "")).removeprefix(_ADMIN)
        if kind in _SECTION_TYPES:
            sections.add(_SECTION_TYPES[kind])
            resources.extend(parse_resource(t, packed) for t, packed in _entries(section, kind))
        if kind == "ClustersConfigDump":
            static_clusters += len(section.get("staticClusters", []))
        if kind == "SecretsConfigDump":
            secrets += len(section.get("dynamicActiveSecrets", [])) + len(section.get("staticSecrets", []))
    return ConfigDump(tuple(resources), frozenset(sections), static_clusters, secrets)

"""A proxy's config as Envoy's admin ``/config_dump`` prints it (JSON) or as ``istioctl
proxy-config`` tables.

The dump is what istiod sends, Istio's own filters included (``istio.stats``,
``istio.metadata_exchange``, ``istio.alpn``, ``istio_authn``), as an istio-proxy's dump shows them;
only ``dsim validate`` and the calibration strip them, for upstream Envoy (:mod:`dsim.xds.upstream`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from envoy.admin.v3 import config_dump_pb2, config_dump_shared_pb2
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf import json_format

from dsim.errors import UnknownNameError
from dsim.xds.common import pack
from dsim.xds.generate import ProxyConfig
from dsim.xds.vocabulary import XDS_TYPES

DUMP_TYPES = (*XDS_TYPES, "all")


def _ports(listener: listener_pb2.Listener) -> set[int]:
    ports = {listener.address.socket_address.port_value}
    ports.update(a.address.socket_address.port_value for a in listener.additional_addresses)
    return ports


def _cluster_port(name: str) -> int | None:
    parts = name.split("|")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else None


def _route_port(name: str) -> int | None:
    base = name.split(".ipv6")[0]
    tail = base.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def select(config: ProxyConfig, xds_type: str, port: int | None) -> list[Any]:
    """``config``'s resources of ``xds_type``, only those on ``port`` when given (as istioctl's --port)."""
    resources = list(config.resources(xds_type))
    if port is None:
        return resources
    if xds_type == "listeners":
        return [r for r in resources if port in _ports(r)]
    if xds_type == "clusters":
        return [r for r in resources if _cluster_port(r.name) == port]
    if xds_type == "routes":
        return [r for r in resources if _route_port(r.name) == port]
    return [
        r
        for r in resources
        if any(e.endpoint.address.socket_address.port_value == port for g in r.endpoints for e in g.lb_endpoints)
    ]


def check_type(xds_type: str) -> None:
    if xds_type not in DUMP_TYPES:
        raise UnknownNameError("type", xds_type, DUMP_TYPES)


def _add_cluster(part: Any, resource: Any) -> None:
    part.dynamic_active_clusters.add(cluster=pack(resource))


def _add_listener(part: Any, resource: Any) -> None:
    part.dynamic_listeners.add(name=resource.name, active_state={"listener": pack(resource)})


def _add_route(part: Any, resource: Any) -> None:
    part.dynamic_route_configs.add(route_config=pack(resource))


def _add_endpoints(part: Any, resource: Any) -> None:
    part.dynamic_endpoint_configs.add(endpoint_config=pack(resource))


# The sections of Envoy's /config_dump, in its order: (xDS type, section message, how a resource goes in).
_SECTIONS = (
    ("clusters", config_dump_shared_pb2.ClustersConfigDump, _add_cluster),
    ("listeners", config_dump_shared_pb2.ListenersConfigDump, _add_listener),
    ("routes", config_dump_shared_pb2.RoutesConfigDump, _add_route),
    ("endpoints", config_dump_shared_pb2.EndpointsConfigDump, _add_endpoints),
)


def config_dump(config: ProxyConfig, xds_type: str = "all", port: int | None = None) -> config_dump_pb2.ConfigDump:
    """An ``envoy.admin.v3.ConfigDump`` of ``config`` (dynamic resources, as ADS delivered them)."""
    check_type(xds_type)
    dump = config_dump_pb2.ConfigDump()
    for kind, section, add in _SECTIONS:
        if xds_type in ("all", kind):
            part = section()
            for resource in select(config, kind, port):
                add(part, resource)
            dump.configs.append(pack(part))
    return dump


def dump_json(config: ProxyConfig, xds_type: str = "all", port: int | None = None) -> str:
    """The dump as Envoy's admin API prints it (protobuf JSON mapping, camelCase)."""
    return json.dumps(json_format.MessageToDict(config_dump(config, xds_type, port)), indent=2) + "\n"


def tabulate(header: Sequence[str], rows: Sequence[Sequence[object]], padding: int) -> str:
    """Columns as Go's tabwriter aligns them (cell width + ``padding``; the last column unpadded)."""
    table = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(r[i]) for r in table) + padding for i in range(len(header) - 1)]
    return "".join("".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + r[-1] + "\n" for r in table)


def _endpoint_rows(assignments: Sequence[endpoint_pb2.ClusterLoadAssignment], port: int | None) -> list[list[object]]:
    rows = []
    for assignment in assignments:
        for group in assignment.endpoints:
            for lb in group.lb_endpoints:
                address = lb.endpoint.address.socket_address
                if port is None or address.port_value == port:
                    # istioctl shows the EDS status Envoy holds (an unready pod of a Service with a
                    # traffic distribution arrives UNHEALTHY).
                    status = health_check_pb2.HealthStatus.Name(lb.health_status)
                    rows.append([address.address, address.port_value, assignment.cluster_name, status])
    # istioctl: by address, then port, then cluster (retrieveSortedEndpointClusterSlice).
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return [[f"{a}:{p}", status, "OK", c] for a, p, c, status in rows]


def _listener_rows(listeners: Sequence[listener_pb2.Listener]) -> list[list[object]]:
    rows = []
    for listener in listeners:
        addresses = [listener.address.socket_address.address] + [
            a.address.socket_address.address for a in listener.additional_addresses
        ]
        for chain in listener.filter_chains:
            match = chain.filter_chain_match
            what = []
            if match.HasField("destination_port"):
                what.append(f"port={match.destination_port.value}")
            if match.transport_protocol:
                what.append(f"trans={match.transport_protocol}")
            if match.application_protocols:
                what.append("app=" + ",".join(match.application_protocols))
            rows.append(
                [
                    ",".join(addresses),
                    listener.address.socket_address.port_value,
                    "; ".join(what) or "ALL",
                    chain.name or listener.name,
                ]
            )
    return rows


def _cluster_rows(clusters: Sequence[cluster_pb2.Cluster]) -> list[list[object]]:
    rows = []
    for cluster in clusters:
        parts = cluster.name.split("|")
        if len(parts) == 4:
            direction, port, subset, host = parts
            rows.append(
                [host or "-", port, subset or "-", direction, cluster_pb2.Cluster.DiscoveryType.Name(cluster.type)]
            )
        else:
            rows.append([cluster.name, "-", "-", "-", cluster_pb2.Cluster.DiscoveryType.Name(cluster.type)])
    return rows


def _route_rows(routes: Sequence[route_pb2.RouteConfiguration]) -> list[list[object]]:
    return [
        [
            route.name,
            vhost.name,
            ", ".join(vhost.domains[:3]) + (f" + {len(vhost.domains) - 3} more" if len(vhost.domains) > 3 else ""),
            "/*",
        ]
        for route in routes
        for vhost in route.virtual_hosts
    ]


def dump_table(config: ProxyConfig, xds_type: str = "all", port: int | None = None) -> str:
    """``istioctl proxy-config <type>`` style tables."""
    check_type(xds_type)
    sections = []
    wanted = XDS_TYPES if xds_type == "all" else (xds_type,)
    if "listeners" in wanted:
        sections.append(
            tabulate(
                ["ADDRESSES", "PORT", "MATCH", "DESTINATION"], _listener_rows(select(config, "listeners", port)), 1
            )
        )
    if "clusters" in wanted:
        sections.append(
            tabulate(
                ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"],
                _cluster_rows(select(config, "clusters", port)),
                1,
            )
        )
    if "routes" in wanted:
        sections.append(
            tabulate(["NAME", "VHOST NAME", "DOMAINS", "MATCH"], _route_rows(select(config, "routes", port)), 1)
        )
    if "endpoints" in wanted:
        sections.append(
            tabulate(["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"], _endpoint_rows(config.endpoints, port), 5)
        )
    return "\n".join(sections)

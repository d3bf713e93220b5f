"""Endpoints (EDS): one ClusterLoadAssignment per outbound cluster, grouped by locality."""

from __future__ import annotations

from collections.abc import Sequence

from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec
from envoy.config.endpoint.v3 import endpoint_pb2
from google.protobuf import wrappers_pb2

from dsim.scenario.model import IpFamily
from dsim.xds.common import metadata, socket_address
from dsim.xds.view import EndpointRows

TLS_MATCH = {"tlsMode": "istio"}


def _lb_endpoint(rows: EndpointRows, row: int, addresses: Sequence[str], port: int) -> ec.LbEndpoint:
    endpoint = ec.Endpoint(address=socket_address(addresses[0], port))
    for extra in addresses[1:]:
        endpoint.additional_addresses.add(address=socket_address(extra, port))
    filters: dict[str, dict[str, str]] = {}
    if rows.sidecar[row]:
        filters["envoy.transport_socket_match"] = TLS_MATCH
    filters["istio"] = {"workload": rows.workload[row]}
    return ec.LbEndpoint(
        endpoint=endpoint,
        # Unhealthy: a Service with a distribution sends its unready pods too (the same byte count).
        health_status=health_check_pb2.HEALTHY if rows.healthy[row] else health_check_pb2.UNHEALTHY,
        metadata=metadata(filters),
        load_balancing_weight=wrappers_pb2.UInt32Value(value=1),
    )


def load_assignment(
    cluster: str, rows: EndpointRows, port: int, families: Sequence[IpFamily], additional: bool
) -> endpoint_pb2.ClusterLoadAssignment:
    """``cluster``'s endpoints: each pod's addresses of ``families`` (as one endpoint with
    additional addresses when ``additional``, else one endpoint per address), by locality."""
    groups: dict[int, list[ec.LbEndpoint]] = {}
    names: dict[int, tuple[str, str]] = {}
    for row in range(len(rows.locality)):
        addresses = [a for a in (rows.address(row, f) for f in families) if a]
        if not addresses:
            continue
        per_pod = [addresses] if additional else [[a] for a in addresses]
        group = groups.setdefault(rows.locality[row], [])
        group.extend(_lb_endpoint(rows, row, a, port) for a in per_pod)
        names[rows.locality[row]] = (rows.region[row], rows.zone[row])
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster)
    for locality in sorted(groups):
        region, zone = names[locality]
        group = cla.endpoints.add(lb_endpoints=groups[locality])
        group.locality.SetInParent()  # Istio sends the (possibly empty) locality
        group.locality.region, group.locality.zone = region, zone
        group.load_balancing_weight.value = len(groups[locality])
    return cla

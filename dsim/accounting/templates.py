"""Templates of the resources whose instances differ in structure, not only in lengths.

An endpoint set's endpoints differ in two structural ways: a pod with a sidecar carries
``tlsMode`` metadata, and (under ``Endpoint.additional_addresses``) a pod with one family has
no additional address. The template holds one endpoint of each kind as its own repeated family
(``lb_<sidecar>_<addresses>``), all in one locality group (family ``group``), so one walk sizes
every instance exactly, whatever mix of kinds it has.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dsim.accounting.shape import Number, ragged, text
from dsim.scenario.model import IpFamily
from dsim.xds import endpoints
from dsim.xds.view import EndpointRows


@dataclasses.dataclass(frozen=True)
class EndpointKind:
    family: str
    """Its repeated family in the template."""
    sidecar: bool
    """Carries ``envoy.transport_socket_match`` metadata."""
    additional: bool
    """Has an ``additional_addresses`` entry."""


def endpoint_kinds(additional: bool) -> tuple[EndpointKind, ...]:
    """The endpoint kinds an endpoint set can hold (two per sidecar state when addresses vary)."""
    counts = (True, False) if additional else (False,)
    return tuple(
        EndpointKind(family=f"lb_{int(sidecar)}_{int(extra)}", sidecar=sidecar, additional=extra)
        for sidecar in (True, False)
        for extra in counts
    )


PORT = Number("port")  # module constants: each Number is registered with the engine once
WEIGHT = Number("*group.weight")
PRIORITY = Number("*group.priority")


def load_assignment_template(additional: bool) -> Any:
    """One ClusterLoadAssignment standing for all: ``cluster`` and ``port`` per instance, groups
    (``group``: region, zone, weight, priority, 0 where it fails over to none) holding endpoints of
    every kind (address, other, workload)."""
    kinds = endpoint_kinds(additional)
    rows = EndpointRows(
        ipv4=tuple(ragged(k.family, "address") for k in kinds),
        ipv6=tuple(ragged(k.family, "other") if k.additional else "" for k in kinds),
        region=tuple(ragged("group", "region") for _ in kinds),
        zone=tuple(ragged("group", "zone") for _ in kinds),
        locality=tuple(0 for _ in kinds),
        workload=tuple(ragged(k.family, "workload") for k in kinds),
        sidecar=tuple(k.sidecar for k in kinds),
        healthy=tuple(True for _ in kinds),  # an unhealthy endpoint's status is as long (one byte)
    )
    families: tuple[IpFamily, ...] = ("IPv4", "IPv6") if additional else ("IPv4",)
    template = endpoints.load_assignment(text("cluster"), rows, PORT, families, additional)
    # The builder counts the template's endpoints; a group's weight is its own endpoint count.
    template.endpoints[0].load_balancing_weight.value = WEIGHT
    template.endpoints[0].priority = PRIORITY
    return template

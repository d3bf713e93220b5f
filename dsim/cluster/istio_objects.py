"""The Istio objects a cluster was built with, kept beside its tables (see :mod:`dsim.cluster.istio`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dsim.cluster.case_twins import CaseTwins
from dsim.cluster.egress_ports import EgressLayout
from dsim.cluster.service_aliases import ServiceAliases
from dsim.scenario.istio import DestinationRule, ServiceEntry, Sidecar, VirtualService

if TYPE_CHECKING:  # it imports the tables, which import this module
    from dsim.cluster.cross_port_hosts import CrossPorts
    from dsim.cluster.port80_hosts import Port80Hosts


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class IstioObjects:
    """The VirtualServices, DestinationRules and ServiceEntries in force (pasted, then generated), and notes."""

    virtual_services: tuple[VirtualService, ...] = ()
    """Row ``i`` of ``Cluster.virtual_services`` is ``virtual_services[i]``."""
    destination_rules: tuple[DestinationRule, ...] = ()
    """Row ``i`` of ``Cluster.destination_rules`` is ``destination_rules[i]``."""
    service_entries: tuple[ServiceEntry, ...] = ()
    """Row ``i`` of ``Cluster.service_entries`` is ``service_entries[i]``."""
    sidecars: tuple[Sidecar, ...] = ()
    """Row ``i`` of ``Cluster.sidecars`` is ``sidecars[i]``."""
    scoped: bool = False
    """Whether ``Cluster.scope`` decides what each proxy sees (a Sidecar applies, an exportTo is not
    public, or a host has services in two namespaces)."""
    egress_layouts: Mapping[int, EgressLayout] = dataclasses.field(default_factory=dict)
    """Per workload (a ``workloads`` row) whose Sidecar has egress listeners on ports: what its
    proxies get on each (:mod:`dsim.cluster.egress_ports`)."""
    port80_hosts: Port80Hosts | None = None
    """The VirtualServices' hosts as route configuration ``"80"`` may hold them (:mod:`dsim.cluster.port80_hosts`)."""
    cross_port_hosts: CrossPorts | None = None
    """The VirtualServices' other hosts as route configurations ``"P"``, P not 80, may hold them
    (:mod:`dsim.cluster.cross_port_hosts`)."""
    service_domain_hosts: Mapping[tuple[int, int], tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """(VirtualService, Service) → the VirtualService's hosts that are the Service's other domains,
    each a virtual host of its own where the VirtualService builds the Service's
    (:mod:`dsim.cluster.service_domain_hosts`)."""
    delegations: tuple[tuple[int, int], ...] = ()
    """(root, delegate) ``virtual_services`` rows: each delegate a root merges (its routes are in
    the root's ``virtual_services`` entry, :mod:`dsim.cluster.delegation`)."""
    case_twins: CaseTwins = dataclasses.field(default_factory=dict)
    """Registry hosts equal to a later one but for case, by port (:mod:`dsim.cluster.case_twins`)."""
    service_aliases: ServiceAliases = dataclasses.field(default_factory=lambda: ServiceAliases({}, "cluster.local"))
    """Per Kubernetes Service with a ClusterIP, the ExternalName Services naming it
    (:mod:`dsim.cluster.service_aliases`)."""
    notes: tuple[tuple[str, int], ...] = ()
    """(what Istio does that dsim does not model, or accepts to no effect; how many times), sorted."""
    ignored: tuple[tuple[str, int], ...] = ()
    """Fields accepted but not modelled: (``kind/path`` with list indices as ``[*]``, count), sorted."""

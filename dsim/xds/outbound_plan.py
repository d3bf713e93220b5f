"""Which ports of each service a proxy sees get clusters, listeners (of which kind) and virtual hosts.

Without port-bearing egress listeners every port of every visible service gets all three, each
listener of its port's kind. With them (:mod:`dsim.cluster.egress_ports`, ``docs/istio-objects.md``
4.2-4.3, after Istio's ``buildSidecarOutboundListeners`` and ``GetEgressListenerForRDS``): a port
listener builds its services' listeners on its port with its own protocol; the catch-all builds
its services' other listeners, skipping every (address, port) a port listener built (the shared
``0.0.0.0_P`` of an HTTP port, a service's ``<VIP>_P``); the route configurations of a port hold the
virtual hosts of the listener owning the port; clusters are the union of the listeners' ports.
A bound port listener (a ``bind``, or ``captureMode: NONE``; 4.2) builds one listener on its own
address for all its services and locks nothing.
"""

from __future__ import annotations

from dsim.cluster.egress_ports import EgressLayout, PortListener
from dsim.scenario.istio.rules import HTTP_PROTOCOLS
from dsim.xds.view import PortView, ServiceView

SHARED = -1
"""The address key of the shared wildcard listener of an HTTP port."""


def listener_kind(protocol: str) -> str:
    """The listener an egress port's protocol (as Istio parses it) builds: ``http``, ``tcp``, ``auto``
    (sniffed) or ``udp`` (none) (``ModelProtocolToListenerProtocol``)."""
    if protocol in HTTP_PROTOCOLS:
        return "http"
    if not protocol:
        return "auto"
    return "udp" if protocol == "UDP" else "tcp"


class OutboundPlan:
    """A proxy's outbound ports, by its egress layout (``None``: one catch-all listener)."""

    def __init__(self, layout: EgressLayout | None) -> None:
        self.layout = layout
        # (service or SHARED, port) of every listener a port listener builds: the catch-all's are locked out.
        self.locked: set[tuple[int, int]] = set()
        for listener in layout.ports if layout is not None else ():
            kind = listener_kind(listener.protocol)
            if listener.bound:  # its listener's key is its own address: no VIP's, no wildcard's
                continue
            if kind == "http" and listener.services:
                self.locked.add((SHARED, listener.port))
            elif kind in ("tcp", "auto"):
                self.locked.update((s, listener.port) for s in listener.services)

    def cluster_ports(self, svc: ServiceView) -> tuple[PortView, ...]:
        """The ports the service has clusters for."""
        only = self.layout.cluster_ports(svc.index) if self.layout is not None else None
        return svc.ports if only is None else tuple(p for p in svc.ports if p.port in only)

    def listener_ports(self, svc: ServiceView) -> list[tuple[PortView, str, PortListener | None]]:
        """The service's listeners: (port, listener kind, the port listener building it or ``None``
        for the catch-all), kind ``udp`` left out."""
        if self.layout is None:
            return [(p, p.kind, None) for p in svc.ports]
        found: list[tuple[PortView, str, PortListener | None]] = []
        by_number = {p.port: p for p in svc.ports}
        for listener in self.layout.ports:
            kind = listener_kind(listener.protocol)
            if svc.index in listener.services and kind != "udp":
                found.append((by_number[listener.port], kind, listener))
        if self.layout.catch_all is not None and svc.index in self.layout.catch_all:
            for p in svc.ports:
                if (SHARED if p.kind == "http" else svc.index, p.port) not in self.locked:
                    found.append((p, p.kind, None))
        return found

    def owning(self, port: int) -> PortListener | None:
        """The port listener owning ``port``'s route configurations (``None``: the catch-all, or no layout)."""
        return self.layout.owning(port) if self.layout is not None else None

    def has_vhost(self, service: int, port: int) -> bool:
        """Whether the service's port ``port`` has a virtual host in the port's route configurations."""
        return self.layout is None or service in self.layout.owner(port)

    def port_listener_ports(self, service: int) -> frozenset[int]:
        """The ports only a port listener builds the service's listeners on (the catch-all does not
        hold the service): there a host that listens per endpoint gets the ordinary listener, since
        ``buildSidecarOutboundListeners`` expands endpoints in the catch-all alone. Where the
        catch-all holds it too, its per-endpoint listeners are built, locked out by nothing (their
        addresses are not the port listener's), and the port listener's own is not *(a ServiceEntry
        host gets one listener per port in dsim: 4.2)*."""
        if self.layout is None or (self.layout.catch_all is not None and service in self.layout.catch_all):
            return frozenset()
        return frozenset(listener.port for listener in self.layout.ports if service in listener.services)

    def entry_ports(self, service: int) -> frozenset[int] | None:
        """The ports a ServiceEntry host gets anything for (``None``: every port); its listeners
        keep its ports' own protocols *(inferred simplification)*."""
        return self.layout.cluster_ports(service) if self.layout is not None else None

"""Sidecar egress listeners on ports: what a proxy gets on each port (``docs/istio-objects.md`` 4.2, 4.3).

An egress listener with a ``port`` imports its hosts' services on that port only
(``serviceMatchingListenerPort``: a service without the port is not imported by it), builds their
listeners with the port's protocol, and owns the route configurations of the port
(``GetEgressListenerForRDS``); the catch-all listener (the one without a port) then builds every
other listener of its services, but none on an (address, port) a port listener holds
(``buildSidecarOutboundListeners`` locks those). Clusters are the union: a service of the
catch-all with every port, one only a port listener imports with that port
(``collectImportedServices`` merges the ports).

A port listener may also ``bind`` an IP and capture with ``NONE`` (4.2, "Bound egress port
listeners"): its listener then sits on that address (the proxy's loopback where ``NONE`` names none),
binds its port itself under ``NONE``, and is one listener for all its services
(``listenerKey{bind, port}``), so it locks nothing of the catch-all's.

dsim builds this where some egress listener has a port and none is on a unix socket, speaks
``HTTP_PROXY``, binds an unspecified address, or is a catch-all with a bind or ``captureMode: NONE``
(:func:`modelled`); other Sidecars' egress listeners are read as one catch-all, and the notes count
them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from dsim.scenario.istio import Sidecar
from dsim.scenario.istio.rules import canonical_protocol

Egress = tuple[tuple[str | None, str], ...]
"""Egress hosts for proxies of one namespace: (namespace or ``None`` for any, dnsName), as
:func:`dsim.cluster.sidecars.egress_hosts` gives them."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PortListener:
    """One egress listener with a port, for the proxies of one namespace."""

    port: int
    """Its port number."""
    protocol: str
    """Its protocol as Istio parses it (``""``: sniffed)."""
    services: frozenset[int]
    """The services its hosts import that have the port (``services`` rows)."""
    destinations: frozenset[int]
    """Destinations of the VirtualServices it imports that have the port and that no egress
    listener's hosts import: clusters only."""
    bind: str = ""
    """The IP it binds (``""``: none; the proxy's loopback if ``capture_none``)."""
    capture_none: bool = False
    """``captureMode: NONE``: its listener binds its port itself (``bind_to_port`` left true)."""
    egress: Egress = ()
    """Its hosts, as (namespace or ``None`` for any, dnsName) for proxies of the namespace: the
    VirtualServices it imports, for the services it builds (``egressListener.VirtualServices()``)."""

    @property
    def bound(self) -> bool:
        """Whether its listener sits on an address of its own (a bind, or the loopback under ``NONE``),
        one listener for all its services, rather than on the services' VIPs or the wildcard."""
        return bool(self.bind) or self.capture_none


@dataclasses.dataclass(frozen=True, kw_only=True)
class EgressLayout:
    """A proxy's egress listeners, where some have ports (:func:`modelled`)."""

    ports: tuple[PortListener, ...]
    """The listeners with a port, in the Sidecar's order."""
    catch_all: frozenset[int] | None
    """The services of the listener without a port (``None``: the Sidecar has none)."""
    catch_all_destinations: frozenset[int] = frozenset()
    """Destinations of the VirtualServices it imports that no egress listener's hosts import."""
    destination_ports: Mapping[int, frozenset[int]] = dataclasses.field(default_factory=dict)
    """Those of :attr:`catch_all_destinations` imported with some of their ports only (the ports
    the VirtualServices name; ``docs/istio-objects.md`` 4.2); the others have every port."""
    catch_all_egress: Egress = ()
    """The catch-all's hosts (as :attr:`PortListener.egress`)."""

    def owner(self, port: int) -> frozenset[int]:
        """The services of the egress listener that owns port ``port``'s route configurations:
        the listener on that port, else the catch-all (``GetEgressListenerForRDS``)."""
        listener = self.owning(port)
        return listener.services if listener is not None else self.catch_all or frozenset()

    def owning(self, port: int) -> PortListener | None:
        """The port listener owning port ``port``'s route configurations (``None``: the catch-all)."""
        return next((listener for listener in self.ports if listener.port == port), None)

    def egress_of(self, listener: PortListener | None) -> Egress:
        """The hosts of ``listener`` (``None``: the catch-all)."""
        return listener.egress if listener is not None else self.catch_all_egress

    def cluster_ports(self, service: int) -> frozenset[int] | None:
        """The ports ``service`` has clusters for (``None``: every port): the union over the
        listeners importing it (``appendSidecarServices`` merges them)."""
        found = frozenset(p.port for p in self.ports if service in p.services or service in p.destinations)
        if self.catch_all is None:
            return found
        if service in self.catch_all:
            return None
        if service in self.catch_all_destinations:
            trimmed = self.destination_ports.get(service)
            return None if trimmed is None else found | trimmed
        return found

    def services(self) -> list[int]:
        """Every service the proxy has a cluster for, ascending."""
        found = set(self.catch_all or ()) | set(self.catch_all_destinations)
        for listener in self.ports:
            found |= listener.services | listener.destinations
        return sorted(found)


UNSPECIFIED = frozenset({"0.0.0.0", "::"})
"""Binds dsim leaves to the catch-all reading: a listener on a wildcard takes Istio's wildcard rules
(SNI matches, reserved ports, the shared HTTP listener's key), not a bound listener's."""


def modelled(sidecar: Sidecar) -> bool:
    """Whether dsim builds the Sidecar's egress listeners port by port: some have a port; none is on
    a unix socket (port 0), speaks ``HTTP_PROXY`` (an egress HTTP proxy, which imports every port)
    or binds an unspecified address; the catch-all neither binds nor captures with ``NONE``."""
    egress = sidecar.spec.egress
    with_port = [listener for listener in egress if listener.port is not None]
    catch_all = [listener for listener in egress if listener.port is None]
    return (
        bool(with_port)
        and all(not listener.bind and listener.capture_mode != "NONE" for listener in catch_all)
        and all(
            listener.port.number > 0
            and canonical_protocol(listener.port.protocol) != "HTTP_PROXY"
            and listener.bind not in UNSPECIFIED
            for listener in with_port
            if listener.port is not None
        )
    )

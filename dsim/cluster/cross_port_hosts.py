"""The VirtualService hosts a route configuration ``"P"``, P a port other than 80, gives a virtual
host of their own (``docs/istio-objects.md`` 1.4, "Hosts on another host's port"), following Istio's
``BuildSidecarOutboundVirtualHosts``, ``selectVirtualServices`` (``httproute.go``),
``buildSidecarVirtualHostsForVirtualService`` and ``separateVSHostsAndServices`` (``route/route.go``).

On a port P other than 80 Istio walks only the VirtualServices with a host matching a service of the
egress listener that has port P, and looks their hosts up among those services alone. A
VirtualService whose hosts match (exactly, or as the service's most specific wildcard) a service
whose port P is HTTP or sniffed, and that has routes for P, builds that service's virtual host and,
for each of its *other* hosts (one naming no service, a service without port P, a service the proxy
does not see), a virtual host ``<host>:P``, its one domain the host, with the same routes. So a
VirtualService for ``reviews`` (port 9080) that also lists ``reviews.example.com`` puts
``reviews.example.com:9080`` into every ``"9080"`` that sees ``reviews``.

This module holds what does not depend on the proxy: per VirtualService and port, the services
that select it there and its hosts with the services that would find them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

from dsim.cluster.hostnames import route_host
from dsim.cluster.port80_hosts import PORT_80, RegistryPorts, VsPortHost, bound_to_mesh, owned_domain
from dsim.cluster.rule_index import is_wildcard
from dsim.cluster.vs_hosts import OTHER_WAY, VsHostMatcher, names_for_http
from dsim.scenario.istio import VirtualService


@dataclasses.dataclass(frozen=True)
class CrossPortHosts:
    """One VirtualService's other hosts on one port P other than 80."""

    selectors: frozenset[int]
    """The registry services with an HTTP or sniffed port P the VirtualService names exactly or by a
    wildcard: where a proxy sees one whose virtual host the VirtualService builds (it is in the
    service's HTTP chain), the VirtualService builds its other hosts' virtual hosts in ``"P"``."""
    hosts: tuple[VsPortHost, ...]
    """Its hosts, in order, each with the services with port P that find it; those no selector can
    leave free (every selector finds the host) are left out."""


def routes_may_take(vs: VirtualService, port: int) -> bool:
    """Whether some HTTP route of ``vs`` may take listener port ``port`` for some proxy: a match
    without a port or with that one (its source conditions are the proxy's, asked later)."""
    return any(
        route.delegate is None and (not route.match or any(m.port in (0, port) for m in route.match))
        for route in vs.spec.http
    )


class CrossPorts:
    """Per VirtualService bound to the mesh: port → :class:`CrossPortHosts`, for the ports other
    than 80 where it may build virtual hosts of its other hosts. As on port 80
    (:class:`dsim.cluster.port80_hosts.Port80Hosts`), a host that is another domain of a Service the
    VirtualService names by its host has that Service among its blockers; other hosts whose virtual
    host would repeat a domain of a service's virtual host of the port, or that are IPs, are left
    out and counted (:attr:`clashes`)."""

    def __init__(
        self,
        virtual_services: Sequence[VirtualService],
        registry: RegistryPorts,
        resolved: Callable[[str, str], str],
        domain_owner: Mapping[tuple[int, str], int],
    ) -> None:
        """``domain_owner``: :attr:`dsim.cluster.service_domain_hosts.ServiceDomainHosts.owner`."""
        # Hosts compared lower-cased on both sides, as selectVirtualServices and separateVSHostsAndServices do.
        matcher = VsHostMatcher([route_host(h) for h in registry.hosts], registry.registry)
        self._domain_owner = domain_owner
        self.clashes = 0
        """(VirtualService, port, host) left out: a domain another virtual host of ``"P"`` holds."""
        self.by_vs: list[dict[int, CrossPortHosts]] = []
        for v, vs in enumerate(virtual_services):
            found: dict[int, CrossPortHosts] = {}
            if bound_to_mesh(vs):
                hosts = [resolved(written, vs.namespace).lower() for written in vs.spec.hosts]
                named = [matcher.named(host) for host in hosts]
                for port, selectors in sorted(_selecting(named, registry.web_ports_of).items()):
                    if routes_may_take(vs, port):
                        kept = self._hosts(v, hosts, named, selectors, registry, port)
                        if kept:
                            found[port] = CrossPortHosts(selectors=selectors, hosts=kept)
            self.by_vs.append(found)

    def _hosts(
        self,
        vs: int,
        hosts: Sequence[str],
        named: Sequence[Mapping[int, int]],
        selectors: frozenset[int],
        registry: RegistryPorts,
        port: int,
    ) -> tuple[VsPortHost, ...]:
        with_port = registry.with_port(port)
        taken = registry.taken(port)
        kept: list[VsPortHost] = []
        for host, found in zip(hosts, named, strict=True):
            wildcard = is_wildcard(host)
            blockers = frozenset(s for s, how in found.items() if s in with_port and (wildcard or names_for_http(how)))
            if selectors <= blockers:  # whichever selector a proxy sees finds this host: never its own
                continue
            owner = owned_domain(host, vs, taken, self._domain_owner)
            if owner is None:
                self.clashes += 1
                continue
            if selectors <= blockers | owner:
                continue
            kept.append(VsPortHost(host=host, blockers=blockers | owner))
        return tuple(kept)

    @property
    def ports(self) -> frozenset[int]:
        """Every port some VirtualService may build other hosts' virtual hosts on."""
        return frozenset(port for found in self.by_vs for port in found)


def _selecting(
    named: Sequence[Mapping[int, int]], web_ports_of: Mapping[int, frozenset[int]]
) -> dict[int, frozenset[int]]:
    """Per port other than 80: the services the hosts name (not only the other way round) that serve
    it over HTTP or sniff it."""
    selecting: dict[int, set[int]] = {}
    for found in named:
        for service, how in found.items():
            if how == OTHER_WAY:
                continue
            for port in web_ports_of.get(service, ()):
                if port != PORT_80:
                    selecting.setdefault(port, set()).add(service)
    return {port: frozenset(services) for port, services in selecting.items()}

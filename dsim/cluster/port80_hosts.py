"""The VirtualService hosts route configuration ``"80"`` gives a virtual host of their own
(``docs/istio-objects.md`` 1.4, "Hosts without a port-80 service"), following Istio's
``BuildSidecarOutboundVirtualHosts`` and ``separateVSHostsAndServices`` (``httproute.go``,
``route/route.go``).

On listener port 80 Istio walks every VirtualService the proxy's egress listener has (on any
other port only those naming a service with that port: ``selectVirtualServices``), and looks each
host up among the services in scope *that have port 80*. A host found there is a service's host
(its virtual host is the service's); any other host, one naming a service without port 80, one
naming a service the proxy does not see, one naming no service at all, becomes a virtual host
``<host>:80`` whose only domain is the host, carrying the VirtualService's routes for port 80
(istio/istio#22621). This module holds what does not depend on the proxy: each VirtualService's
hosts, and per host the port-80 services whose presence in a proxy's scope makes it a service's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from dsim.cluster.headless import headless_rows, telemetry_names
from dsim.cluster.hostnames import route_host, short_names
from dsim.cluster.rule_index import is_wildcard
from dsim.cluster.service_aliases import ServiceAliases
from dsim.cluster.service_entries import registry_rows
from dsim.cluster.tables import service_fqdns
from dsim.cluster.vs_hosts import VsHostMatcher, names_for_http
from dsim.scenario.istio import ServiceEntry, VirtualService
from dsim.scenario.istio.rules import HTTP_PROTOCOLS, is_ip

HTTP_OR_SNIFFED = (*sorted(HTTP_PROTOCOLS), "auto")
"""Port protocols whose services get a virtual host in ``"P"`` (Istio's ``IsHTTPOrSniffed``; ``auto``: sniffed)."""

PORT_80 = 80
"""The one listener port on which Istio walks every VirtualService (``listenerPort != 80`` in
``BuildSidecarOutboundVirtualHosts``; the ``serviceByPort[80] = nil`` case of
``buildSidecarVirtualHostsForVirtualService``)."""


def bound_to_mesh(vs: VirtualService) -> bool:
    """Whether sidecars apply ``vs``: it has hosts and no gateways, or the ``mesh`` gateway among them."""
    return bool(vs.spec.hosts) and (not vs.spec.gateways or "mesh" in vs.spec.gateways)


@dataclasses.dataclass(frozen=True)
class VsPortHost:
    """One host of a VirtualService, as a route configuration ``"P"`` may hold it."""

    host: str
    """Resolved against the VirtualService's namespace, lower case (Istio lower-cases it)."""
    blockers: frozenset[int]
    """The registry services with port P the host finds (an exact host its own service; a wildcard
    one every service it overlaps, ``host.Name.Matches``): where the proxy sees one of them, the
    host is that service's and gets no virtual host of its own."""


class Port80Hosts:
    """Per VirtualService bound to the mesh, its hosts as ``"80"`` may hold them. A host that is
    another domain of a port-80 Service the VirtualService names by its host is kept, that Service
    one of its blockers (:mod:`dsim.cluster.service_domain_hosts`); other hosts whose virtual host
    would repeat a domain a port-80 service's virtual host holds are left out and counted
    (:attr:`clashes`)."""

    def __init__(
        self,
        virtual_services: Sequence[VirtualService],
        resolved: Callable[[str, str], str],
        service_hosts: Sequence[str],
        registry: Sequence[int],
        with_port_80: frozenset[int],
        taken: frozenset[str],
        domain_owner: Mapping[tuple[int, str], int],
    ) -> None:
        # Hosts compared lower-cased on both sides, as separateVSHostsAndServices compares them.
        matcher = VsHostMatcher([route_host(h) for h in service_hosts], registry)
        self.clashes = 0
        """Hosts left out: a domain another virtual host of ``"80"`` holds (Istio's ``dedupeDomains``
        keeps it in whichever virtual host it builds first)."""
        self.hosts: list[tuple[VsPortHost, ...]] = []
        for v, vs in enumerate(virtual_services):
            found: list[VsPortHost] = []
            for written in vs.spec.hosts if bound_to_mesh(vs) else ():
                host = resolved(written, vs.namespace).lower()
                owner = owned_domain(host, v, taken, domain_owner)
                if owner is None:
                    self.clashes += 1
                    continue
                named = matcher.named(host)
                wildcard = is_wildcard(host)
                blockers = frozenset(
                    s for s, how in named.items() if s in with_port_80 and (wildcard or names_for_http(how))
                )
                found.append(VsPortHost(host=host, blockers=blockers | owner))
            self.hosts.append(tuple(found))


def owned_domain(
    host: str, vs: int, taken: frozenset[str], domain_owner: Mapping[tuple[int, str], int]
) -> frozenset[int] | None:
    """For a host of VirtualService ``vs`` in ``"P"`` (``taken``: the domains beside their hosts of
    the services with HTTP or sniffed port P): nothing to add where it repeats no such domain, the
    Service whose domain it is where the VirtualService also names that Service by its host (the
    Service blocks it: :mod:`dsim.cluster.service_domain_hosts`), ``None`` (left out) otherwise."""
    if is_ip(host):
        return None
    if host not in taken:
        return frozenset()
    owner = domain_owner.get((vs, host))
    return None if owner is None else frozenset({owner})


def alternative_domains(names: Sequence[str], namespaces: Sequence[str], hosts: Sequence[str]) -> dict[str, int]:
    """Each Kubernetes Service's domains beside its host (``<name>.<namespace>``,
    ``<name>.<namespace>.svc``, the host with a trailing dot), to its position in the lists."""
    found: dict[str, int] = {}
    for s, (name, namespace, host) in enumerate(zip(names, namespaces, hosts, strict=True)):
        for domain in (f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{host}."):
            found.setdefault(domain.lower(), s)
    return found


def taken_domains(
    names: Sequence[str],
    namespaces: Sequence[str],
    hosts: Sequence[str],
    is_entry: Sequence[bool],
    headless: Sequence[bool],
    cluster_domain: str,
) -> frozenset[str]:
    """Domains beside its host that the virtual host of each given service (those with an HTTP or
    sniffed port 80) holds in ``"80"`` whichever namespace sees it (:func:`dsim.xds.routes.domains`):
    ``<name>.<namespace>``, ``<name>.<namespace>.svc`` and the FQDN with a dot for a Service; the
    host with a dot for a ServiceEntry host, and its short names where it lies inside
    ``svc.<cluster domain>`` (:func:`dsim.cluster.hostnames.short_names`); and for a headless
    Service (an entry row) a Service's and each of them, its host and its name with a ``*.`` prefix
    (:func:`dsim.xds.routes.entry_domains`). An IP host is left out by :class:`Port80Hosts` itself:
    a VIP is a domain too."""
    found: set[str] = set()
    for name, namespace, host, entry, passthrough in zip(names, namespaces, hosts, is_entry, headless, strict=True):
        mine = {f"{host}."}
        if not entry:
            mine.update({f"{name}.{namespace}", f"{name}.{namespace}.svc"})
        else:  # as seen from no namespace: the forms every other namespace's proxies hold
            mine.update(short_names(host, "", cluster_domain))
        if passthrough:
            # *.<name> too, which only its namespace's proxies hold: a host written so is left out for all.
            mine.update({f"*.{domain}" for domain in (host, name, *mine)})
        found.update(domain.lower() for domain in mine)
    return frozenset(found)


class RegistryPorts:
    """The registry services (the first of each host in each namespace) of a cluster's tables, by
    port: which have a port, which serve it over HTTP or sniff it, and the domains their virtual
    hosts of that port hold beside their hosts (``services`` and ``service_ports`` final)."""

    def __init__(
        self,
        services: pd.DataFrame,
        service_ports: pd.DataFrame,
        namespace_names: Sequence[str],
        cluster_domain: str,
        entries: Sequence[ServiceEntry] = (),
        aliases: ServiceAliases | None = None,
    ) -> None:
        entry_of = services["entry"].to_numpy()
        self.aliases = aliases
        self.names = telemetry_names(services["name"].astype(str).tolist(), entry_of, entries)
        self.namespaces = np.asarray(namespace_names, dtype=object)[services["namespace"].to_numpy()].tolist()
        self.is_entry = (entry_of >= 0).tolist()
        self.headless = headless_rows(entry_of, entries).tolist()
        """Per row: a headless Service's (an entry row, with a Service's domains and their ``*.`` forms)."""
        self.hosts = service_fqdns(services, np.asarray(namespace_names, dtype=object), cluster_domain)
        self.cluster_domain = cluster_domain
        self.registry = registry_rows(self.hosts, self.namespaces)
        in_registry = set(self.registry)
        web = np.isin(service_ports["protocol"].astype(str).to_numpy(), HTTP_OR_SNIFFED)
        self._with: dict[int, set[int]] = {}
        self._web: dict[int, set[int]] = {}
        self.ports_of: dict[int, frozenset[int]] = {}
        """Per registry service: its port numbers."""
        self.web_ports_of: dict[int, frozenset[int]] = {}
        """Per registry service: its HTTP or sniffed port numbers."""
        owners = service_ports["service"].tolist()
        for service, number, is_web in zip(owners, service_ports["port"].tolist(), web.tolist(), strict=True):
            if service not in in_registry:
                continue
            self._with.setdefault(number, set()).add(service)
            self.ports_of[service] = self.ports_of.get(service, frozenset()) | {number}
            if is_web:
                self._web.setdefault(number, set()).add(service)
                self.web_ports_of[service] = self.web_ports_of.get(service, frozenset()) | {number}
        self._taken: dict[int, frozenset[str]] = {}
        self._with_frozen: dict[int, frozenset[int]] = {}

    def with_port(self, port: int) -> frozenset[int]:
        """The registry services with port ``port`` (any protocol)."""
        if port not in self._with_frozen:
            self._with_frozen[port] = frozenset(self._with.get(port, ()))
        return self._with_frozen[port]

    def alternative_domains(self) -> dict[str, int]:
        """:func:`alternative_domains` of the registry's Kubernetes Services, to the service."""
        kube = [s for s in self.registry if not self.is_entry[s]]
        found = alternative_domains(
            [self.names[s] for s in kube], [self.namespaces[s] for s in kube], [self.hosts[s] for s in kube]
        )
        return {domain: kube[k] for domain, k in found.items()}

    def taken(self, port: int) -> frozenset[str]:
        """:func:`taken_domains` of the registry services with an HTTP or sniffed port ``port``."""
        if port not in self._taken:
            web = sorted(self._web.get(port, ()))
            self._taken[port] = taken_domains(
                [self.names[s] for s in web],
                [self.namespaces[s] for s in web],
                [self.hosts[s] for s in web],
                [self.is_entry[s] for s in web],
                [self.headless[s] for s in web],
                self.cluster_domain,
            ) | self._alias_names(web)
        return self._taken[port]

    def _alias_names(self, services: Sequence[int]) -> frozenset[str]:
        """The names the aliases of ``services`` add to their virtual hosts whichever namespace sees
        them (:func:`dsim.cluster.service_aliases.alias_domains` from no namespace; a headless
        Service's with their ``*.`` forms): a VirtualService host equal to one is another domain of
        the service's virtual host."""
        if self.aliases is None or not self.aliases.of_service:
            return frozenset()
        found = self.aliases
        return frozenset(d.lower() for s in services for d in found.with_prefixes(s, found.domains(s, "")))


def port80_hosts(
    virtual_services: Sequence[VirtualService],
    registry: RegistryPorts,
    resolved: Callable[[str, str], str],
    domain_owner: Mapping[tuple[int, str], int],
) -> Port80Hosts:
    """:class:`Port80Hosts` of a cluster's VirtualServices (``domain_owner``:
    :attr:`dsim.cluster.service_domain_hosts.ServiceDomainHosts.owner`)."""
    return Port80Hosts(
        virtual_services,
        resolved,
        registry.hosts,
        registry.registry,
        registry.with_port(PORT_80),
        registry.taken(PORT_80),
        domain_owner,
    )

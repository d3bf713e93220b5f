"""ExternalName Services as istiod reads them: aliases whose names join a mesh host's virtual hosts.

``ConvertService`` (Istio 1.30, ``pilot/pkg/serviceregistry/kube/conversion.go``) gives a Service of
``type: ExternalName`` the resolution ``Alias``; the sidecar builders skip such a service (no
listener, cluster or virtual host of its own), and ``resolveServiceAliases`` (``push_context.go``)
follows each alias's ``externalName`` through other aliases to a host that is none (a loop is
dropped, as Kubernetes DNS answers it with NXDOMAIN), then lists on every service of that host its
aliases, sorted by namespace, then host. ``generateVirtualHostDomains`` (``httproute.go``) then adds
each alias and the names ``GenerateAltVirtualHosts`` expands it to, for the proxy's namespace, to
the service's domains, after its own and before its addresses. A Sidecar keeps only the aliases
its egress hosts match (``matchingAliasService``, ``sidecar.go``): those of the service's namespace
where they import the service, else the ``*/`` ones. ``docs/istio-objects.md`` 3.13 says what dsim
builds and what it leaves out.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from dsim.cluster.headless import service_host
from dsim.cluster.hostnames import host_matches, short_names
from dsim.scenario.model import ExternalNameService

NO_TARGET = (
    "ExternalName Service naming no host of the mesh, or in a loop of ExternalName Services: no effect on "
    "any sidecar, as in Istio"
)
ENTRY_TLS = (
    "ExternalName Service naming a ServiceEntry host with a TLS or HTTPS port whose chains match by SNI (no "
    "address and no listener per endpoint, or a CIDR address): its names are not added to those SNI matches "
    "(Istio adds them where no VirtualService TLS match replaces them); the host's virtual hosts get them"
)
TAKEN_NAME = (
    "ExternalName Service one of whose names (its host, with a trailing dot, `<name>.<namespace>`, "
    "`<name>.<namespace>.svc`, `<name>`) is a ServiceEntry host: its names are not added to its target's "
    "virtual hosts (Istio keeps each name in the first virtual host built with it)"
)

ALIAS_DESTINATION = (
    "route destination naming an ExternalName Service: its cluster is named after that host, which Istio "
    "does where the ExternalName Service lacks the route's port on an HTTP route; on a TCP or TLS route, or "
    "where it has the port, Istio names the cluster of the host it aliases (GetDestinationCluster; dsim keeps "
    "no port of an ExternalName Service)"
)


class EntryFacts(NamedTuple):
    """What aliases need of a ServiceEntry in force (a headless Service's among them)."""

    headless: bool
    """A headless Service's: a Kubernetes ``Passthrough`` service, whose domains all get a ``*.`` form."""
    sni_matched: bool
    """Its TLS or HTTPS ports' chains match by SNI, where Istio adds alias names: on the wildcard
    listener (no address, no listener per endpoint) or on a CIDR address
    (``buildSidecarOutboundTLSFilterChainOpts``)."""


class Alias(NamedTuple):
    """One ExternalName Service, as a name of the service its ``externalName`` resolves to."""

    namespace: str
    host: str
    """``<name>.<namespace>.svc.<cluster domain>``."""


def alias_domains(alias: Alias, proxy_namespace: str, cluster_domain: str) -> list[str]:
    """The domains an alias adds to its service's virtual host for a proxy of ``proxy_namespace``:
    itself, with a trailing dot, then its short names (``generateVirtualHostDomains``)."""
    return [alias.host, f"{alias.host}.", *short_names(alias.host, proxy_namespace, cluster_domain)]


def kept_aliases(
    aliases: Sequence[Alias],
    service_host: str,
    service_namespace: str,
    egress: Sequence[tuple[str | None, str]] | None,
) -> tuple[Alias, ...]:
    """The aliases of a service a proxy's virtual host holds, under ``egress``, the hosts of the
    egress listener building it (``None``: no Sidecar, Istio's default scope keeps them all):
    those the hosts of the service's namespace match where they import the service, else those
    the ``*/`` hosts match (``selectServices``, ``matchingAliasService``)."""
    if egress is None:
        return tuple(aliases)
    own = [dns for namespace, dns in egress if namespace == service_namespace]
    if not any(host_matches(dns, service_host) for dns in own):
        own = [dns for namespace, dns in egress if namespace is None]
    return tuple(a for a in aliases if any(host_matches(dns, a.host) for dns in own))


@dataclasses.dataclass(frozen=True)
class ServiceAliases:
    """Per Kubernetes Service row with a ClusterIP, its aliases, in Istio's order."""

    of_service: Mapping[int, tuple[Alias, ...]]
    cluster_domain: str

    passthrough: frozenset[int] = frozenset()
    """The rows of headless Services among them, whose every domain comes again with a ``*.`` prefix."""

    def domains(self, service: int, proxy_namespace: str, kept: Sequence[Alias] | None = None) -> list[str]:
        """The names the service's aliases (``kept`` of them, where given) add to its virtual host's
        domains (:meth:`with_prefixes` has them all, for a headless Service)."""
        chosen = self.of_service.get(service, ()) if kept is None else kept
        return [d for alias in chosen for d in alias_domains(alias, proxy_namespace, self.cluster_domain)]

    def with_prefixes(self, service: int, names: Sequence[str]) -> tuple[str, ...]:
        """Every domain alias ``names`` give the service's virtual host: for a headless Service each
        again with a ``*.`` prefix (``generateVirtualHostDomains`` prefixes every domain of a
        Kubernetes ``Passthrough`` service, its aliases' too)."""
        return (*names, *(f"*.{d}" for d in names)) if service in self.passthrough else tuple(names)


def resolved_aliases(external: Mapping[str, str]) -> dict[str, str]:
    """Alias host → the host it finally names, followed through other aliases; every alias whose
    chain runs into a loop left out (Istio drops it). Each alias is walked once: a chain of n
    aliases costs n steps, not n² (a scenario may hold a long one)."""
    out: dict[str, str] = {}
    dropped: set[str] = set()
    for start in external:
        path: list[str] = []
        on_path: set[str] = set()
        node = start
        while node in external and node not in out and node not in dropped and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = external[node]
        if node in on_path or node in dropped:
            dropped.update(path)
        else:
            final = out.get(node, node)  # an alias resolved before, else a host that is no alias
            out.update(dict.fromkeys(path, final))
    return out


def service_aliases(
    aliases: Sequence[ExternalNameService],
    hosts: Sequence[str],
    entry_of: Sequence[int],
    entries: Sequence[EntryFacts],
    cluster_domain: str,
    notes: Counter[str],
) -> ServiceAliases:
    """The aliases of the ``services`` rows (final: ServiceEntry hosts in; ``hosts`` and ``entry_of``,
    the ``entry`` column, per row; ``entries`` what matters of each entry in force) that ``aliases``,
    the ExternalName Services istiod discovers, name: every row of the host an alias resolves to, a
    Service's, an entry's or a headless Service's (``resolveServiceAliases`` lists them on each
    service of the host). Those without effect or not modelled are counted in ``notes``."""
    external = {service_host(a, cluster_domain): a.external_name for a in aliases}
    namespace_of = {service_host(a, cluster_domain): a.namespace for a in aliases}
    resolved = resolved_aliases(external)
    rows_of: dict[str, list[int]] = {}
    entry_hosts: set[str] = set()
    for row, (host, entry) in enumerate(zip(hosts, entry_of, strict=True)):
        rows_of.setdefault(host, []).append(row)
        if entry >= 0:
            entry_hosts.add(host.lower())
    found: dict[int, list[Alias]] = {}
    for host in external:
        target = resolved.get(host)
        if target is None or target not in rows_of:
            notes[NO_TARGET] += 1
            continue
        alias = Alias(namespace_of[host], host)
        names_of = {*alias_domains(alias, alias.namespace, cluster_domain), *alias_domains(alias, "", cluster_domain)}
        if any(name.lower() in entry_hosts for name in names_of):
            notes[TAKEN_NAME] += 1
            continue
        if any(entry_of[row] >= 0 and entries[entry_of[row]].sni_matched for row in rows_of[target]):
            notes[ENTRY_TLS] += 1
        for row in rows_of[target]:
            found.setdefault(row, []).append(alias)
    passthrough = frozenset(row for row in found if entry_of[row] >= 0 and entries[entry_of[row]].headless)
    return ServiceAliases({row: tuple(sorted(found[row])) for row in sorted(found)}, cluster_domain, passthrough)

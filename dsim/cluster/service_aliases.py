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

from dsim.cluster.hostnames import host_matches, short_names
from dsim.scenario.model import ExternalNameService

NO_TARGET = (
    "ExternalName Service naming no host of the mesh, or in a loop of ExternalName Services: no effect on "
    "any sidecar, as in Istio"
)
ENTRY_TARGET = (
    "ExternalName Service naming a ServiceEntry host or a headless Service: its names are not added to that "
    "host's virtual hosts and TLS matches (Istio adds them)"
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

    def domains(self, service: int, proxy_namespace: str, kept: Sequence[Alias] | None = None) -> list[str]:
        """What the service's aliases (``kept`` of them, where given) add to its virtual host's domains."""
        chosen = self.of_service.get(service, ()) if kept is None else kept
        return [d for alias in chosen for d in alias_domains(alias, proxy_namespace, self.cluster_domain)]


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
    is_entry: Sequence[bool],
    cluster_domain: str,
    notes: Counter[str],
) -> ServiceAliases:
    """The aliases of the ``services`` rows (final: ServiceEntry hosts in; ``hosts`` and ``is_entry``
    per row) that ``aliases``, the ExternalName Services istiod discovers, name; those without effect
    or not modelled counted in ``notes``."""
    external = {f"{a.name}.{a.namespace}.svc.{cluster_domain}": a.external_name for a in aliases}
    namespace_of = {f"{a.name}.{a.namespace}.svc.{cluster_domain}": a.namespace for a in aliases}
    resolved = resolved_aliases(external)
    kube_rows: dict[str, int] = {}
    entry_hosts: set[str] = set()
    entry_targets: set[str] = set()
    for row, (host, entry) in enumerate(zip(hosts, is_entry, strict=True)):
        if entry:
            entry_hosts.add(host.lower())
            entry_targets.add(host)
        else:
            kube_rows.setdefault(host, row)
    found: dict[int, list[Alias]] = {}
    for host in external:
        target = resolved.get(host)
        if target is None or (target not in kube_rows and target not in entry_targets):
            notes[NO_TARGET] += 1
            continue
        if target in entry_targets:  # an entry's host (beside the Service's: its copy gets none either)
            notes[ENTRY_TARGET] += 1
        if target not in kube_rows:
            continue
        alias = Alias(namespace_of[host], host)
        names_of = {*alias_domains(alias, alias.namespace, cluster_domain), *alias_domains(alias, "", cluster_domain)}
        if any(name.lower() in entry_hosts for name in names_of):
            notes[TAKEN_NAME] += 1
            continue
        found.setdefault(kube_rows[target], []).append(alias)
    return ServiceAliases({row: tuple(sorted(found[row])) for row in sorted(found)}, cluster_domain)

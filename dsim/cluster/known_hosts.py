"""Short names another host of the route configuration holds as its own name, which a Service's or
a ServiceEntry host's virtual host then leaves out (``docs/istio-objects.md`` 1.3).

``dedupeDomains`` (Istio 1.30, ``httproute.go``) drops from a virtual host every short name
``GenerateAltVirtualHosts`` expanded that is the hostname of a service of the same route
configuration (its "known FQDNs"), whatever the order the virtual hosts are built in: a
ServiceEntry written for ``reviews.bookinfo`` keeps that name, and the Service ``reviews`` of
``bookinfo`` answers to its other names only. Without the drop Envoy would get the domain twice and
refuse the whole route configuration. Istio counts the services of each proxy's configuration;
dsim counts every host of the registry with an HTTP or sniffed port of that number, whether the
proxy sees it or not (the hosts that can collide so are ServiceEntry hosts, rare).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dsim.cluster.port80_hosts import HTTP_OR_SNIFFED
from dsim.cluster.service_entries import registry_rows
from dsim.cluster.tables import Cluster, service_fqdns


def entry_hosts_by_port(cluster: Cluster) -> dict[int, frozenset[str]]:
    """Per port number: the hosts (lower case) of the registry's ServiceEntry hosts with an HTTP or
    sniffed port of that number (kept on the cluster)."""
    return cluster.keep("entry_hosts_by_port", lambda: _entry_hosts_by_port(cluster))


def _entry_hosts_by_port(cluster: Cluster) -> dict[int, frozenset[str]]:
    services = cluster.services
    namespaces = np.asarray(cluster.namespaces["name"].tolist(), dtype=object)
    hosts = service_fqdns(services, namespaces, cluster.scenario.mesh.cluster_domain)
    registry = np.zeros(len(services), bool)
    registry[registry_rows(hosts, namespaces[services["namespace"].to_numpy()].tolist())] = True
    entry = services["entry"].to_numpy() >= 0
    ports = cluster.service_ports
    owner = ports["service"].to_numpy()
    web = np.isin(ports["protocol"].astype(str).to_numpy(), HTTP_OR_SNIFFED) & entry[owner] & registry[owner]
    found: dict[int, set[str]] = {}
    for service, number in zip(owner[web].tolist(), ports["port"].to_numpy()[web].tolist(), strict=True):
        found.setdefault(number, set()).add(hosts[service].lower())
    return {number: frozenset(names) for number, names in found.items()}


def taken_service_names(cluster: Cluster) -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    """(Kubernetes Service row, port) → the short names its virtual host in ``"<port>"`` leaves out
    because a ServiceEntry host of that port bears them (:func:`entry_hosts_by_port`): as seen from
    the Service's own namespace (``<name>``, ``<name>.<namespace>``, ``<name>.<namespace>.svc``, its
    host with a trailing dot) and from another (all but the first). Only pairs with some name left
    out are listed (kept on the cluster)."""
    return cluster.keep("taken_service_names", lambda: _taken_service_names(cluster))


def _taken_service_names(cluster: Cluster) -> dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]:
    by_port = entry_hosts_by_port(cluster)
    if not by_port:
        return {}
    services = cluster.services
    kubernetes = np.flatnonzero(services["entry"].to_numpy() < 0)
    namespaces = cluster.namespaces["name"].tolist()
    names = services["name"].astype(str).to_numpy()
    service_ns = services["namespace"].to_numpy()
    domain = cluster.scenario.mesh.cluster_domain
    rows: dict[str, list[int]] = {}  # each name a Service expands to in every namespace, to the Services
    named: dict[str, list[int]] = {}  # the shortest, which only the Service's own namespace holds
    for row in kubernetes.tolist():
        name, namespace = str(names[row]), namespaces[int(service_ns[row])]
        for expanded in (f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.{domain}."):
            rows.setdefault(expanded, []).append(row)
        named.setdefault(name, []).append(row)
    found: dict[tuple[int, int], tuple[list[str], list[str]]] = {}
    for port, hosts in by_port.items():
        for host in sorted(hosts):
            for row in named.get(host, ()):
                found.setdefault((row, port), ([], []))[0].append(host)
            for row in rows.get(host, ()):
                same, other = found.setdefault((row, port), ([], []))
                same.append(host)
                other.append(host)
    return {key: (_ordered(same), _ordered(other)) for key, (same, other) in found.items()}


def _ordered(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))

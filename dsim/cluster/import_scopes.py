"""The scope each workload's VirtualServices are imported by (``docs/istio-objects.md`` 1.4, 4.3
and 5.2): its Sidecar's egress hosts, else those of the Sidecar the scenario's ``visibility``
stands for, else Istio's default scope.

``visibility`` narrows the services a proxy without a Sidecar sees "as a Sidecar would scope";
the VirtualServices it imports follow the same stand-in Sidecar, so what it applies, the route
configuration ``"80"`` it walks and the edits that push it all follow it:

- ``all``: no Sidecar, the default scope (every VirtualService exported to the namespace);
- ``namespace``: a Sidecar importing ``./*`` (the VirtualServices of its own namespace);
- ``dependencies``: a Sidecar importing each service it calls by ``<namespace>/<host>`` (the
  VirtualServices, in a called service's namespace, with a host matching it).

Workloads of one namespace with the same Sidecar, or the same stand-in, share a scope. A proxy
applies to a service only the VirtualServices its scope imports (Istio builds a virtual host, and
a TCP or TLS chain, from its egress listener's ``VirtualServices()``): :func:`unimported_by_workload`
lists those it leaves out that would otherwise apply, which the object views read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from dsim.cluster.egress_ports import EgressLayout
from dsim.cluster.grouping import grouped
from dsim.cluster.object_views import export_set, visible_from
from dsim.cluster.sidecars import egress_hosts, listener_egress, route_egress
from dsim.cluster.tables import Cluster, of_workload, service_fqdns, sidecar_of_workload
from dsim.cluster.vs_imports import Egress, VirtualServiceImports
from dsim.scenario.istio import Sidecar, VirtualService


class ImportScopes(NamedTuple):
    """Workloads grouped by the scope that imports their VirtualServices."""

    of_workload: np.ndarray
    """Per workload row: its scope."""
    namespace: np.ndarray
    """Per scope: its namespace row."""
    sidecar: np.ndarray
    """Per scope: its Sidecar (a ``sidecars`` row; -1: none)."""
    stand_in: tuple[Egress | None, ...]
    """Per scope without a Sidecar: the egress hosts of the Sidecar ``visibility`` stands for
    (``None``: the default scope, which imports every VirtualService exported to it)."""

    def egress(
        self, sidecars: Sequence[Sidecar], namespace_names: Sequence[str], scope: int, port: int | None = None
    ) -> Egress | None:
        """The egress hosts ``scope`` imports VirtualServices by: its Sidecar's (one of
        ``sidecars``, the Sidecars in force) listener for route configuration ``"<port>"``
        (``None``: all its listeners), else its stand-in's."""
        sidecar = int(self.sidecar[scope])
        if sidecar < 0:
            return self.stand_in[scope]
        chosen = sidecars[sidecar]
        name = namespace_names[int(self.namespace[scope])]
        hosts = egress_hosts(chosen, name) if port is None else route_egress(chosen, name, port)
        return tuple(hosts)


def import_scopes(cluster: Cluster) -> ImportScopes:
    """The (cached) scopes of ``cluster``'s workloads, numbered in order of (namespace, Sidecar,
    stand-in)."""
    scenario = cluster.scenario
    return cluster.keep(
        "import_scopes", lambda: scopes_of(cluster.tables(), scenario.visibility, scenario.mesh.cluster_domain)
    )


def scopes_of(tables: Mapping[str, pd.DataFrame], visibility: str, cluster_domain: str) -> ImportScopes:
    """The scopes of the workloads of ``tables`` (a cluster's, or the builder's once
    ``sidecar_workloads`` is in), under the scenario's ``visibility``."""
    workload_ns = tables["workloads"]["namespace"].to_numpy(np.int64)
    sidecars = sidecar_of_workload(len(workload_ns), tables["sidecar_workloads"])
    stand_ins = _stand_ins(tables, visibility, cluster_domain, sidecars >= 0)
    keys: dict[tuple[int, int, Egress | None], int] = {}
    for key in sorted(
        set(zip(workload_ns.tolist(), sidecars.tolist(), stand_ins, strict=True)),
        key=lambda k: (k[0], k[1], k[2] is not None, k[2] or ()),
    ):
        keys[key] = len(keys)
    of_workload = np.array(
        [keys[k] for k in zip(workload_ns.tolist(), sidecars.tolist(), stand_ins, strict=True)], np.int64
    )
    ordered = list(keys)
    return ImportScopes(
        of_workload=of_workload,
        namespace=np.array([k[0] for k in ordered], np.int64),
        sidecar=np.array([k[1] for k in ordered], np.int64),
        stand_in=tuple(k[2] for k in ordered),
    )


def _stand_ins(
    tables: Mapping[str, pd.DataFrame], visibility: str, cluster_domain: str, own: np.ndarray
) -> list[Egress | None]:
    """Per workload: the egress hosts of the Sidecar ``visibility`` stands for (``None`` where a
    Sidecar of its own applies, ``own``, or under ``all``)."""
    names = tables["namespaces"]["name"].tolist()
    workload_ns = tables["workloads"]["namespace"].tolist()
    if visibility == "namespace":
        return [None if own[w] else ((names[n], "*"),) for w, n in enumerate(workload_ns)]
    if visibility != "dependencies":
        return [None] * len(workload_ns)
    services = tables["services"]
    hosts = service_fqdns(services, tables["namespaces"]["name"].to_numpy(), cluster_domain)
    service_ns = services["namespace"].tolist()
    called: list[set[tuple[str, str]]] = [set() for _ in workload_ns]
    deps = tables["dependencies"]
    for w, s in zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True):
        called[w].add((names[service_ns[s]], hosts[s]))
    return [None if own[w] else tuple(sorted(found)) for w, found in enumerate(called)]


def unimported_by_workload(
    tables: Mapping[str, pd.DataFrame],
    visibility: str,
    cluster_domain: str,
    sidecars: Sequence[Sidecar],
    virtual_services: Sequence[VirtualService],
    scoped: bool,
    layouts: Mapping[int, EgressLayout],
    notes: Counter[str],
) -> list[frozenset[int]]:
    """Per workload: the VirtualServices (``virtual_services`` rows) its proxies do not apply
    because their scope does not import them, though each names a service they see with a virtual
    host and is exported to their namespace (a VirtualService in another namespace than its host,
    say a client-side one, under a Sidecar importing only the host's namespace). ``tables``: the
    builder's, with ``virtual_service_hosts``, ``sidecar_workloads`` and (``scoped``: some
    Sidecar or exportTo applies) ``scope`` in; ``sidecars``: the Sidecars in force. A Sidecar's
    egress listeners are read as one import; where one of them (``layouts``: per workload, its
    Sidecar's listeners port by port) holds a service the VirtualService names and does not
    import it, the pair is counted in ``notes`` (Istio applies it there only where imported)."""
    scopes = scopes_of(tables, visibility, cluster_domain)
    count = len(scopes.namespace)
    claims = tables["virtual_service_hosts"]
    claimers: dict[int, list[int]] = {}
    for v, service in zip(claims["virtual_service"].tolist(), claims["service"].tolist(), strict=True):
        claimers.setdefault(service, []).append(v)
    narrowed = [s for s in range(count) if scopes.sidecar[s] >= 0 or scopes.stand_in[s] is not None]
    dropped = [frozenset[int]()] * count
    with_sidecar = tables["workloads"]["sidecar"].to_numpy(bool).tolist()

    def per_workload() -> list[frozenset[int]]:  # a workload without a sidecar applies nothing
        return [dropped[s] if with_sidecar[w] else frozenset() for w, s in enumerate(scopes.of_workload.tolist())]

    if not claimers or not narrowed:
        return per_workload()
    names = tables["namespaces"]["name"].tolist()
    representative = _representatives(tables, scopes)
    seen = _seen_by_scope(tables, visibility, scopes, scoped, representative)
    index = VirtualServiceImports(virtual_services, cluster_domain)
    exports = [export_set(vs.spec.export_to, vs.namespace) for vs in virtual_services]
    is_entry = tables["services"]["entry"].to_numpy() >= 0
    for s in narrowed:
        namespace = names[int(scopes.namespace[s])]
        applied = {v for c in seen[s].tolist() for v in claimers.get(c, ()) if visible_from(exports[v], namespace)}
        egress = scopes.egress(sidecars, names, s)
        if applied and egress is not None:
            dropped[s] = frozenset(v for v in applied if not index.imports(v, egress))
            layout = layouts.get(int(representative[s]))
            if layout is not None:
                sidecar = sidecars[int(scopes.sidecar[s])]
                kept = applied - dropped[s]
                uneven = _unevenly_imported(
                    sidecar, namespace, layout, kept, seen[s][is_entry[seen[s]]], claimers, index
                )
                if uneven:
                    notes[UNEVEN_IMPORT_NOTE] += uneven
    return per_workload()


UNEVEN_IMPORT_NOTE = (
    "VirtualService one of a Sidecar's listeners does not import though it holds a ServiceEntry host the "
    "VirtualService names: dsim applies it to that host's listeners too (Istio imports per egress listener; "
    "dsim does so for Services)"
)


def _unevenly_imported(
    sidecar: Sidecar,
    namespace: str,
    layout: EgressLayout,
    kept: set[int],
    seen: np.ndarray,
    claimers: Mapping[int, list[int]],
    index: VirtualServiceImports,
) -> int:
    """How many of ``kept`` (VirtualServices the Sidecar imports over all its listeners) some
    listener holding a service of ``seen`` they name (its port listener's services, or the
    catch-all's) does not import."""
    hosts_by_port = {
        listener.port.number if listener.port is not None else None: tuple(hosts)
        for listener, hosts in zip(sidecar.spec.egress, listener_egress(sidecar, namespace), strict=True)
    }
    held = [(hosts_by_port.get(p.port, ()), p.services) for p in layout.ports]
    if layout.catch_all is not None:
        held.append((hosts_by_port.get(None, ()), layout.catch_all))
    named: dict[int, set[int]] = {}
    for c in seen.tolist():
        for v in claimers.get(c, ()):
            if v in kept:
                named.setdefault(v, set()).add(c)
    return sum(
        any(services & named[v] and not index.imports(v, hosts) for hosts, services in held) for v in sorted(named)
    )


def _representatives(tables: Mapping[str, pd.DataFrame], scopes: ImportScopes) -> np.ndarray:
    """Per scope: its first workload with a sidecar (-1: none); all of a scope's workloads see
    the same and get the same listeners."""
    with_sidecar = np.flatnonzero(tables["workloads"]["sidecar"].to_numpy(bool))
    found, first = np.unique(scopes.of_workload[with_sidecar], return_index=True)
    representative = np.full(len(scopes.namespace), -1, np.int64)
    representative[found] = with_sidecar[first]
    return representative


def _seen_by_scope(
    tables: Mapping[str, pd.DataFrame], visibility: str, scopes: ImportScopes, scoped: bool, representative: np.ndarray
) -> list[np.ndarray]:
    """Per scope: the services its proxies see with a virtual host, its representative's (none
    where it has no sidecar)."""
    present = np.flatnonzero(representative >= 0)
    seen = services_seen(tables, visibility, scoped, representative[present])
    empty = np.empty(0, np.int64)
    by_scope = [empty] * len(scopes.namespace)
    for scope, services in zip(present.tolist(), seen, strict=True):
        by_scope[scope] = services
    return by_scope


def services_seen(
    tables: Mapping[str, pd.DataFrame], visibility: str, scoped: bool, workloads: np.ndarray
) -> list[np.ndarray]:
    """For each of ``workloads``: the services its proxies have a virtual host for, ascending: the
    ``scope`` table's (not ``clusters_only``) where some Sidecar or exportTo applies (``scoped``),
    else the ``visibility``'s (every service, its namespace's, or what it calls)."""
    services = tables["services"]
    if scoped:
        pairs = tables["scope"]
        with_host = ~pairs["clusters_only"].to_numpy(bool)
    elif visibility == "dependencies":
        pairs = tables["dependencies"]
        with_host = np.ones(len(pairs), bool)
    elif visibility == "namespace":
        by_namespace = grouped(
            services["namespace"].to_numpy(np.int64), np.arange(len(services)), len(tables["namespaces"])
        )
        namespace = tables["workloads"]["namespace"].to_numpy(np.int64)
        return [by_namespace[int(namespace[w])] for w in workloads.tolist()]
    else:
        every = np.arange(len(services))
        return [every] * len(workloads)
    if scoped:  # by scope group: its workloads see the same services
        group_of = of_workload(len(tables["workloads"]), tables["scope_groups"], "group")
        group = pairs["group"].to_numpy(np.int64)
        count = int(group_of.max()) + 1 if len(group_of) else 0
        by_group = grouped(group[with_host], pairs["service"].to_numpy(np.int64)[with_host], count)
        empty = np.empty(0, np.int64)
        return [by_group[g] if g >= 0 else empty for g in group_of[workloads].tolist()]
    # Only the asked workloads' rows.
    workload = pairs["workload"].to_numpy(np.int64)
    kept = with_host & np.isin(workload, workloads)
    by_workload = grouped(workload[kept], pairs["service"].to_numpy(np.int64)[kept], len(tables["workloads"]))
    return [by_workload[w] for w in workloads.tolist()]

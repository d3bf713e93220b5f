"""Which proxies depend on a VirtualService or DestinationRule (Istio's
``SidecarScope.DependsOnConfig``), so that an edit of one is a full push to those proxies only.

- A VirtualService is a dependency of every proxy whose scope imports it
  (:func:`virtual_service_reach`), whether or not it sees a service the VirtualService names:
  under a Sidecar, those its egress hosts import (``SelectVirtualServices``, over every egress
  listener); without one, those of the Sidecar the scenario's ``visibility`` stands for, and
  under ``all`` the default scope's: every VirtualService exported to the proxy's namespace, even
  one another shadows for the same host (:mod:`dsim.cluster.import_scopes`).
- A DestinationRule is a dependency of the namespaces whose lookup picks its entry for a service
  its host covers (``docs/istio-objects.md`` 2.2; a wildcard host covers many): the base view's
  namespaces where its entry is the base one, less those whose own view picks another; else the
  namespaces whose view picks it; per service, so a namespace that applies a wildcard rule to some
  services is not pushed for the others. *(Simplified:)* Istio also counts the entries its lookup
  lists and passes over (several entries of one host); dsim counts the one applied. Proxies a
  workloadSelector picks depend on their namespace's pick as well: the lookup's list holds both.
- A DestinationRule with a workloadSelector is a dependency of every proxy of its namespace, the
  ones its selector does not pick too (their lookup lists it before passing it over).
- A rule merged into several entries (``Cluster.rule_members``) is a dependency of each one's.

``None`` stands for every namespace (or every import scope).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from dsim.cluster import Cluster
from dsim.cluster.grouping import grouped
from dsim.cluster.import_scopes import ImportScopes, import_scopes
from dsim.cluster.object_views import export_set
from dsim.cluster.port80_hosts import bound_to_mesh
from dsim.cluster.vs_imports import VirtualServiceImports


class VirtualServiceReach(NamedTuple):
    """Who depends on one VirtualService bound to the mesh, or on a delegate one merges."""

    services: np.ndarray
    """The services its hosts name (its claims: their routes are what istiod regenerates)."""
    importers: np.ndarray | None
    """The import scopes (:func:`dsim.cluster.import_scopes.import_scopes`) that import it
    (``None``: every one)."""


def virtual_service_reach(cluster: Cluster) -> list[VirtualServiceReach | None]:
    """Per VirtualService: who depends on it (``None`` for one no sidecar applies: bound to
    gateways only, or a delegate no such root merges)."""
    claims = cluster.virtual_service_hosts  # every claim: a namespace's chain holds no other
    virtual_services = cluster.istio.virtual_services
    by_object = grouped(claims["virtual_service"].to_numpy(), claims["service"].to_numpy(), len(virtual_services))
    importers = _importers(cluster, import_scopes(cluster))
    reach = [
        VirtualServiceReach(group, imported) if bound_to_mesh(vs) else None
        for group, vs, imported in zip(by_object, virtual_services, importers, strict=True)
    ]
    return _with_delegates(reach, cluster.istio.delegations)


def _with_delegates(
    reach: list[VirtualServiceReach | None], delegations: Sequence[tuple[int, int]]
) -> list[VirtualServiceReach | None]:
    """``reach`` with each delegate's filled in: an edit of one is an edit of every root that
    merges it (Istio reports it under the root, docs/istio-objects.md 5.1), so it reaches the
    roots' services and importers."""
    roots: dict[int, list[VirtualServiceReach]] = {}
    for root, delegate in delegations:
        if (found := reach[root]) is not None:
            roots.setdefault(delegate, []).append(found)
    out = list(reach)
    for delegate, merging in roots.items():
        services = np.unique(np.concatenate([r.services for r in merging]))
        scoped = [r.importers for r in merging if r.importers is not None]
        importers = None if len(scoped) < len(merging) else np.unique(np.concatenate(scoped))
        out[delegate] = VirtualServiceReach(services, importers)
    return out


def _importers(cluster: Cluster, scopes: ImportScopes) -> list[np.ndarray | None]:
    """Per VirtualService bound to the mesh: the scopes that import it, ascending (``None``: every
    scope; identical sets share one array). A default scope imports those exported to its
    namespace; a Sidecar's (over all its egress listeners) or a stand-in's, those its egress hosts
    import (:class:`dsim.cluster.vs_imports.VirtualServiceImports`)."""
    virtual_services = cluster.istio.virtual_services
    domain = cluster.scenario.mesh.cluster_domain
    names = cluster.namespaces["name"].tolist()
    exports = [export_set(vs.spec.export_to, vs.namespace) for vs in virtual_services]
    bound = [v for v, vs in enumerate(virtual_services) if bound_to_mesh(vs)]
    index = VirtualServiceImports(virtual_services, domain)
    default_scope: dict[int, int] = {}  # namespace row -> its default scope
    by_egress: list[list[int]] = [[] for _ in virtual_services]
    for scope in range(len(scopes.namespace)):
        egress = scopes.egress(cluster.istio.sidecars, names, scope)
        if egress is None:
            default_scope[int(scopes.namespace[scope])] = scope
            continue
        for v in index.imported(names[int(scopes.namespace[scope])], egress):
            by_egress[v].append(scope)
    row_of = {name: i for i, name in enumerate(names)}
    every_default = sorted(default_scope.values())
    shared: dict[tuple[int, ...], np.ndarray] = {}
    out: list[np.ndarray | None] = [None] * len(virtual_services)
    for v in bound:
        if exports[v] is None:
            if len(by_egress[v]) + len(every_default) == len(scopes.namespace):
                continue  # every scope imports it
            found = [*every_default, *by_egress[v]]
        else:
            rows = (row_of[n] for n in exports[v] or () if n in row_of)
            found = [*(default_scope[r] for r in rows if r in default_scope), *by_egress[v]]
        key = tuple(sorted(found))
        out[v] = shared.setdefault(key, np.array(key, np.int64))
    return out


def destination_rule_reach(cluster: Cluster) -> list[list[tuple[list[int], np.ndarray | None]]]:
    """Per DestinationRule covering some service, in parts: the services an entry it is merged
    into (``Cluster.rule_members``) shapes in some namespace's view (a wildcard host's, many), each
    part those whose proxies depend on it through the same namespace rows (``None``: all): those
    that apply such an entry to the service, and every proxy of a selector entry's namespace (then
    its services are every one its host covers, which the namespace's lookup lists it for,
    shadowed or not)."""
    every = len(cluster.namespaces)
    base = dict(zip(cluster.base_rules["service"].tolist(), cluster.base_rules["rule"].tolist(), strict=True))
    views = cluster.object_views
    views = views[views["viewer"].to_numpy() < every]  # the namespaces' own views: no selector held
    overridden: dict[int, set[int]] = {}  # service -> namespaces whose own view picks another rule
    picked: dict[int, list[tuple[int, int]]] = {}  # entry -> (namespace, service) its own views pick
    for namespace, service, rule in zip(
        views["viewer"].tolist(), views["service"].tolist(), views["rule"].tolist(), strict=True
    ):
        if rule != base.get(service, -1):
            overridden.setdefault(service, set()).add(namespace)
        if rule >= 0:
            picked.setdefault(rule, []).append((namespace, service))
    shaped_by: dict[int, list[int]] = {}
    for service, entry in sorted(base.items()):
        shaped_by.setdefault(entry, []).append(service)
    covers = grouped(
        cluster.rule_hosts["rule"].to_numpy(), cluster.rule_hosts["service"].to_numpy(), len(cluster.destination_rules)
    )
    rows = {name: i for i, name in enumerate(cluster.namespaces["name"].tolist())}
    objects = cluster.istio.destination_rules
    entries_of: dict[int, list[int]] = {}
    members = cluster.rule_members
    for entry, r in zip(members["entry"].tolist(), members["rule"].tolist(), strict=True):
        entries_of.setdefault(r, []).append(entry)

    def reach_of(entry: int) -> dict[int, set[int] | None]:
        """Per service the entry shapes: the namespaces that apply it (``None``: all)."""
        if objects[entry].spec.workload_selector is not None:  # listed for every proxy of its namespace
            return {s: {rows[objects[entry].namespace]} for s in covers[entry].tolist()}
        out: dict[int, set[int] | None] = {}
        for service in shaped_by.get(entry, ()):
            others = overridden.get(service)
            out[service] = None if not others else set(range(every)) - others
        for namespace, service in picked.get(entry, ()):
            found = out.setdefault(service, set())
            if found is not None:
                found.add(namespace)
        return out

    found: list[list[tuple[list[int], np.ndarray | None]]] = []
    for r in range(len(objects)):
        if r not in entries_of:
            continue
        reached: dict[int, set[int] | None] = {}
        for entry in entries_of[r]:
            for service, applying in reach_of(entry).items():
                before = reached.get(service, set())
                reached[service] = None if before is None or applying is None else before | applying
        if not reached:  # shadowed wherever it is looked up: its edits reach no proxy
            reached = {s: set() for s in covers[r].tolist()}
        parts: dict[tuple[int, ...] | None, list[int]] = {}
        for service, namespaces in sorted(reached.items()):
            parts.setdefault(None if namespaces is None else tuple(sorted(namespaces)), []).append(service)
        found.append([(services, None if key is None else np.array(key, np.int64)) for key, services in parts.items()])
    return found

"""Which namespaces' proxies depend on a VirtualService or DestinationRule (Istio's
``SidecarScope.DependsOnConfig``), so that an edit of one is a full push to those proxies only.

- A VirtualService is a dependency of every namespace it is exported to (its default scope lists
  every VirtualService visible to it, even one another shadows for the same host).
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

``None`` stands for every namespace.
"""

from __future__ import annotations

import numpy as np

from dsim.cluster import Cluster
from dsim.cluster.object_views import export_set
from dsim.pushsim.visibility import grouped


def virtual_service_reach(cluster: Cluster) -> list[tuple[list[int], np.ndarray | None]]:
    """Per VirtualService that names some service (its claims, which it may build in some view's
    chain): those services, and the namespace rows it is exported to (``None``: all)."""
    claims = cluster.virtual_service_hosts  # every claim: a namespace's chain holds no other
    by_object = grouped(
        claims["virtual_service"].to_numpy(), claims["service"].to_numpy(), len(cluster.virtual_services)
    )
    rows = {name: i for i, name in enumerate(cluster.namespaces["name"].tolist())}
    out: list[tuple[list[int], np.ndarray | None]] = []
    for group, vs in zip(by_object, cluster.istio.virtual_services, strict=True):
        if len(group):
            exports = export_set(vs.spec.export_to, vs.namespace)
            namespaces = None if exports is None else np.array(sorted(rows[n] for n in exports if n in rows), np.int64)
            out.append((group.tolist(), namespaces))
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

"""Which namespaces' proxies depend on a VirtualService or DestinationRule (Istio's
``SidecarScope.DependsOnConfig``), so that an edit of one is a full push to those proxies only.

- A VirtualService is a dependency of every namespace it is exported to (its default scope lists
  every VirtualService visible to it, even one another shadows for the same host).
- A DestinationRule is a dependency of the namespaces whose lookup picks its entry for its host
  (``docs/istio-objects.md`` 2.2): the base view's namespaces if its entry is the base one, less
  those whose own view picks another; else the namespaces whose view picks it. Proxies a
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


def destination_rule_reach(cluster: Cluster) -> list[tuple[list[int], np.ndarray | None]]:
    """Per DestinationRule naming a service: ``[service]``, and the namespace rows whose proxies
    depend on it (``None``: all): those that apply an entry it is merged into
    (``Cluster.rule_members``), every proxy of a selector entry's namespace."""
    rules = cluster.destination_rules
    base = dict(
        zip(
            rules["service"].to_numpy()[rules["shapes"].to_numpy()].tolist(),
            np.flatnonzero(rules["shapes"].to_numpy()).tolist(),
            strict=True,
        )
    )
    every = len(cluster.namespaces)
    views = cluster.object_views
    views = views[views["viewer"].to_numpy() < every]  # the namespaces' own views: no selector held
    by_service: dict[int, list[tuple[int, int]]] = {}
    for namespace, service, rule in zip(
        views["viewer"].tolist(), views["service"].tolist(), views["rule"].tolist(), strict=True
    ):
        by_service.setdefault(service, []).append((namespace, rule))
    rows = {name: i for i, name in enumerate(cluster.namespaces["name"].tolist())}
    objects = cluster.istio.destination_rules
    entries_of: dict[int, list[int]] = {}
    members = cluster.rule_members
    for entry, r in zip(members["entry"].tolist(), members["rule"].tolist(), strict=True):
        entries_of.setdefault(r, []).append(entry)

    def applied(service: int, entry: int) -> np.ndarray | None:
        if objects[entry].spec.workload_selector is not None:  # listed for every proxy of its namespace
            return np.array([rows[objects[entry].namespace]], np.int64)
        views_of = by_service.get(service, [])
        if base.get(service) == entry:
            others = {n for n, rule in views_of if rule != entry}
            return None if not others else np.setdiff1d(np.arange(every), sorted(others))
        return np.array(sorted(n for n, rule in views_of if rule == entry), np.int64)

    out: list[tuple[list[int], np.ndarray | None]] = []
    for r, service in enumerate(rules["service"].tolist()):
        if service < 0:
            continue
        reached = [applied(service, entry) for entry in entries_of.get(r, [])]
        if any(found is None for found in reached):
            out.append(([service], None))
        else:
            found = [f for f in reached if f is not None]
            out.append(([service], np.unique(np.concatenate(found)) if found else np.empty(0, np.int64)))
    return out

"""The scope each workload's VirtualServices are imported by (``docs/istio-objects.md`` 1.4 and
5.2): its Sidecar's egress hosts, else those of the Sidecar the scenario's ``visibility`` stands
for, else Istio's default scope.

``visibility`` narrows the services a proxy without a Sidecar sees "as a Sidecar would scope";
the VirtualServices it imports follow the same stand-in Sidecar, so the route configuration
``"80"`` walks them and their edits push it:

- ``all``: no Sidecar, the default scope (every VirtualService exported to the namespace);
- ``namespace``: a Sidecar importing ``./*`` (the VirtualServices of its own namespace);
- ``dependencies``: a Sidecar importing each service it calls by ``<namespace>/<host>`` (the
  VirtualServices, in a called service's namespace, with a host matching it).

Workloads of one namespace with the same Sidecar, or the same stand-in, share a scope.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np

from dsim.cluster.object_views import export_set, visible_from
from dsim.cluster.sidecars import egress_hosts, route_egress
from dsim.cluster.tables import Cluster
from dsim.cluster.vs_imports import Egress, VirtualServiceImports


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

    def egress(self, cluster: Cluster, scope: int, port: int | None = None) -> Egress | None:
        """The egress hosts ``scope`` imports VirtualServices by: its Sidecar's listener for route
        configuration ``"<port>"`` (``None``: all its listeners), else its stand-in's."""
        sidecar = int(self.sidecar[scope])
        if sidecar < 0:
            return self.stand_in[scope]
        chosen = cluster.istio.sidecars[sidecar]
        name = str(cluster.namespaces["name"].iat[int(self.namespace[scope])])
        hosts = egress_hosts(chosen, name) if port is None else route_egress(chosen, name, port)
        return tuple(hosts)


def import_scopes(cluster: Cluster) -> ImportScopes:
    """The (cached) scopes of ``cluster``'s workloads, numbered in order of (namespace, Sidecar,
    stand-in)."""
    return cluster.keep("import_scopes", lambda: _scopes(cluster))


def _scopes(cluster: Cluster) -> ImportScopes:
    workload_ns = cluster.workloads["namespace"].to_numpy(np.int64)
    sidecars = cluster.workload_sidecars()
    stand_ins = _stand_ins(cluster)
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


def _stand_ins(cluster: Cluster) -> list[Egress | None]:
    """Per workload: the egress hosts of the Sidecar ``visibility`` stands for (``None`` where a
    Sidecar of its own applies, or under ``all``)."""
    mode = cluster.scenario.visibility
    own = cluster.workload_sidecars() >= 0
    names = cluster.namespaces["name"].tolist()
    workload_ns = cluster.workloads["namespace"].tolist()
    if mode == "namespace":
        return [None if own[w] else ((names[n], "*"),) for w, n in enumerate(workload_ns)]
    if mode != "dependencies":
        return [None] * len(workload_ns)
    hosts = cluster.service_hosts().tolist()
    service_ns = cluster.services["namespace"].tolist()
    called: list[set[tuple[str, str]]] = [set() for _ in workload_ns]
    deps = cluster.dependencies
    for w, s in zip(deps["workload"].tolist(), deps["service"].tolist(), strict=True):
        called[w].add((names[service_ns[s]], hosts[s]))
    return [None if own[w] else tuple(sorted(found)) for w, found in enumerate(called)]


STAND_IN_NOTE = (
    "VirtualService a proxy applies with a host it sees though the Sidecar its visibility stands for does not "
    "import it (one in another namespace than the host, e.g. a client-side one): dsim applies it; its edits "
    "push only its importers"
)


def stand_in_notes(cluster: Cluster) -> Counter[str]:
    """How many (stand-in scope, VirtualService) pairs dsim applies to a service the scope sees
    without the stand-in importing the VirtualService: the counterpart of the note a real
    Sidecar's scope counts (:mod:`dsim.cluster.sidecars`)."""
    scopes = import_scopes(cluster)
    standing = [s for s, egress in enumerate(scopes.stand_in) if egress is not None]
    if not standing:
        return Counter()
    names = cluster.namespaces["name"].tolist()
    virtual_services = cluster.istio.virtual_services
    exports = [export_set(vs.spec.export_to, vs.namespace) for vs in virtual_services]
    claims = cluster.virtual_service_hosts
    claimers: dict[int, list[int]] = {}
    for v, service in zip(claims["virtual_service"].tolist(), claims["service"].tolist(), strict=True):
        claimers.setdefault(service, []).append(v)
    seen = _seen_by_scope(cluster, scopes)
    index = VirtualServiceImports(virtual_services, cluster.scenario.mesh.cluster_domain)
    count = 0
    for s in standing:
        namespace = names[int(scopes.namespace[s])]
        applied = {v for c in seen[s] for v in claimers.get(c, ()) if visible_from(exports[v], namespace)}
        count += len(applied - set(index.imported(namespace, scopes.stand_in[s])))
    return Counter({STAND_IN_NOTE: count}) if count else Counter()


def _seen_by_scope(cluster: Cluster, scopes: ImportScopes) -> list[set[int]]:
    """Per scope: the services one of its workloads sees with a virtual host (the Sidecar scope's
    where the mesh is scoped, else the visibility's: its namespace's, or what it calls)."""
    count = len(scopes.namespace)
    seen: list[set[int]] = [set() for _ in range(count)]
    if cluster.istio.scoped:
        pairs = cluster.scope[~cluster.scope["clusters_only"].to_numpy(bool)]
    elif cluster.scenario.visibility == "dependencies":
        pairs = cluster.dependencies
    else:
        service_ns = cluster.services["namespace"].to_numpy()
        for s in range(count):
            seen[s] = set(np.flatnonzero(service_ns == scopes.namespace[s]).tolist())
        return seen
    of_workload = scopes.of_workload
    for w, service in zip(pairs["workload"].tolist(), pairs["service"].tolist(), strict=True):
        seen[int(of_workload[w])].add(service)
    return seen

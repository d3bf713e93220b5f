"""The virtual hosts ``<host>:P`` a route configuration ``"P"``, P a port other than 80, holds for
the other hosts of a VirtualService that builds a service's virtual host there
(``docs/istio-objects.md`` 1.4, "Hosts on another host's port"; :mod:`dsim.cluster.cross_port_hosts`
says which hosts and why).

A proxy's ``"P<suffix>"`` gets them from the VirtualServices its egress listener for port P has, in
its namespace's walk order (as for port 80: :mod:`dsim.xds.port80_vhosts`): of each VirtualService
that builds the virtual host of a service the proxy sees with HTTP or sniffed port P (the
VirtualService is in that service's HTTP chain) and has routes for P in that family copy, each host
the proxy sees no service of with port P, once (Istio drops a second virtual host of one name).
The protobuf path builds them (:meth:`CrossPortVirtualHosts.vhosts`) and the accounting prices the
same choice (:meth:`CrossPortVirtualHosts.priced`, :mod:`dsim.accounting.cross_port`).
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
from envoy.config.route.v3 import route_components_pb2 as rc

from dsim.cluster.cross_port_hosts import CrossPortHosts
from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.port80_hosts import VsPortHost
from dsim.cluster.tables import Cluster
from dsim.cluster.vs_imports import VirtualServiceImports
from dsim.designs.base import Design, ProxyFacts
from dsim.xds.mesh_objects import ObjectView, mesh_objects
from dsim.xds.port80_vhosts import host_vhost, host_vhost_size
from dsim.xds.routes import ROUTE_COUNTS

Chosen = tuple[tuple[int, VsPortHost], ...]
"""(VirtualService, one of its hosts), in the order their virtual hosts are built."""


class CrossPortVirtualHosts:
    """The ``<host>:P`` virtual hosts (P not 80) of one cluster, per (walk, view, port,
    family copy, what the proxy sees of the services that decide them)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        istio = cluster.istio
        self.by_vs: list[dict[int, CrossPortHosts]] = istio.cross_port_hosts.by_vs if istio.cross_port_hosts else []
        """Per VirtualService: port → its other hosts there (:class:`dsim.cluster.cross_port_hosts.CrossPorts`)."""
        self.ports = istio.cross_port_hosts.ports if istio.cross_port_hosts else frozenset()
        """The ports some VirtualService may build such virtual hosts on."""
        self.scopes = import_scopes(cluster)
        """Each workload's import scope (as for port 80)."""
        self._proxy_workload = cluster.proxies["workload"].to_numpy()
        self._namespace_names = cluster.namespaces["name"].tolist()
        with_hosts = [v for v, found in enumerate(self.by_vs) if found]
        self._imports = VirtualServiceImports(
            istio.virtual_services, cluster.scenario.mesh.cluster_domain, only=with_hosts
        )
        self._walk_of: dict[tuple[int, int], int] = {}
        self._walk_ids: dict[tuple[int, tuple[int, ...]], int] = {}  # a walk's deciding services depend on its port
        self.walks: list[tuple[int, ...]] = []
        """The distinct walks (:meth:`walk`)."""
        self.relevant: list[frozenset[int]] = []
        """Per walk: the services whose presence in a proxy's scope decides its virtual hosts (the
        walk's selectors and the services that find its hosts)."""
        self._members: list[frozenset[int]] = []
        self._chosen: dict[tuple[object, ...], tuple[Chosen, np.ndarray]] = {}
        self._affecting: dict[int, frozenset[int]] = {}
        objects = mesh_objects(cluster)
        self._conditioned = {v for v in with_hosts if objects.vs_facts[v].conditions}
        self._selected_by: dict[int, list[int]] = {}
        self._routed_to: dict[int, list[int]] = {}
        for v in with_hosts:
            for s in {s for entry in self.by_vs[v].values() for s in entry.selectors}:
                self._selected_by.setdefault(s, []).append(v)
            for s in objects.destinations(v):
                self._routed_to.setdefault(s, []).append(v)

    def __bool__(self) -> bool:
        return bool(self.ports)

    def walk(self, scope: int, port: int) -> int:
        """The number of the walk of the egress listener for ``port`` of a proxy of import scope
        ``scope``: the VirtualServices with other hosts on ``port`` it has, in walk order
        (:attr:`walks`). Scopes with the same walk share its number, and what is computed of it."""
        key = (scope, port)
        if key not in self._walk_of:
            names = self._namespace_names
            egress = self.scopes.egress(self.cluster.istio.sidecars, names, scope, port)
            imported = self._imports.imported(names[int(self.scopes.namespace[scope])], egress)
            walk = tuple(v for v in imported if port in self.by_vs[v])
            self._walk_of[key] = self._walk_ids.setdefault((port, walk), len(self.walks))
            if self._walk_of[key] == len(self.walks):
                self.walks.append(walk)
                self._members.append(frozenset(walk))
                self.relevant.append(self._deciding(walk, port))
        return self._walk_of[key]

    def _deciding(self, walk: tuple[int, ...], port: int) -> frozenset[int]:
        found: set[int] = set()
        for v in walk:
            entry = self.by_vs[v][port]
            found |= entry.selectors
            for host in entry.hosts:
                found |= host.blockers
        return frozenset(found)

    def chosen(
        self, walk: int, view: ObjectView, port: int, suffix: str, design: Design, proxy: ProxyFacts, seen: Set[int]
    ) -> Chosen:
        """The hosts ``"<port><suffix>"`` holds a virtual host of for a proxy whose walk on ``port``
        is ``walk`` (:meth:`walk`), applying ``view`` (:meth:`dsim.xds.mesh_objects.MeshObjects.routes_view`)
        and seeing the services ``seen``."""
        return self._chosen_and_priced(walk, view, port, suffix, design, proxy, seen)[0]

    def priced(
        self, walk: int, view: ObjectView, port: int, suffix: str, design: Design, proxy: ProxyFacts, seen: Set[int]
    ) -> np.ndarray:
        """What :meth:`chosen`'s virtual hosts add to their route configuration, as the accounting
        counts it: bytes (each a ``virtual_hosts`` entry, tag and length), virtual hosts, domains,
        and their routes' :data:`dsim.xds.routes.ROUTE_COUNTS`."""
        return self._chosen_and_priced(walk, view, port, suffix, design, proxy, seen)[1]

    def _chosen_and_priced(
        self, walk: int, view: ObjectView, port: int, suffix: str, design: Design, proxy: ProxyFacts, seen: Set[int]
    ) -> tuple[Chosen, np.ndarray]:
        mine = self.relevant[walk] & seen
        # A view that changes none of the walk's VirtualServices chooses and prices as the base one does.
        view = view if self._affected(view) & self._members[walk] else view.objects.base
        key = (walk, id(view), port, suffix, design.name, proxy, mine)
        if key not in self._chosen:
            objects = view.objects
            named: set[str] = set()
            found: list[tuple[int, VsPortHost]] = []
            values = np.zeros(len(ROUTE_COUNTS) + 3, np.int64)
            for v in self.walks[walk]:
                entry = self.by_vs[v][port]
                builds = any(
                    s in mine and v in objects.http_chain(s, view.vs_of_service.get(s, ())) for s in entry.selectors
                )
                if not builds:
                    continue
                routes_bytes, counts = objects.routes_sizes(v, port, suffix, design, proxy, view)
                if not routes_bytes:
                    continue
                for host in entry.hosts:
                    if not host.blockers & mine and host.host not in named:
                        named.add(host.host)
                        found.append((v, host))
                        size = host_vhost_size(host.host, port, routes_bytes)
                        values += np.array([size, 1, 1, *(counts[name] for name in ROUTE_COUNTS)], np.int64)
            self._chosen[key] = (tuple(found), values)
        return self._chosen[key]

    def _affected(self, view: ObjectView) -> frozenset[int]:
        """The VirtualServices ``view`` may choose or price otherwise than the base view: those with
        source conditions, those selected by a service whose chain ``view`` changes, and those
        routing to a service whose rule it changes."""
        base = view.objects.base
        if view is base:
            return frozenset()
        if id(view) not in self._affecting:
            chains, rules = view.vs_of_service, view.rule_of_service
            moved_chain = {
                s for s in chains.keys() | base.vs_of_service.keys() if chains.get(s) != base.vs_of_service.get(s)
            }
            moved_rule = {
                s for s in rules.keys() | base.rule_of_service.keys() if rules.get(s) != base.rule_of_service.get(s)
            }
            self._affecting[id(view)] = frozenset(
                self._conditioned
                | {v for s in moved_chain for v in self._selected_by.get(s, ())}
                | {v for s in moved_rule for v in self._routed_to.get(s, ())}
            )
        return self._affecting[id(view)]

    def vhosts(
        self,
        proxy_row: int,
        view: ObjectView,
        port: int,
        suffix: str,
        design: Design,
        proxy: ProxyFacts,
        seen: Set[int],
    ) -> list[rc.VirtualHost]:
        """The virtual hosts themselves, for the proxy ``proxy_row`` (a ``proxies`` row)."""
        walk = self.walk(int(self.scopes.of_workload[self._proxy_workload[proxy_row]]), port)
        return [
            host_vhost(host.host, port, view.routes(v, port, suffix, design, proxy))
            for v, host in self.chosen(walk, view, port, suffix, design, proxy, seen)
        ]


def cross_port_vhosts(cluster: Cluster) -> CrossPortVirtualHosts:
    """The (cached) :class:`CrossPortVirtualHosts` of ``cluster`` (kept on it: ``Cluster.keep``)."""
    return cluster.keep("cross_port_vhosts", lambda: CrossPortVirtualHosts(cluster))

"""The virtual hosts ``<host>:80`` route configuration ``"80"`` holds for VirtualService hosts no
port-80 service in the proxy's scope answers (``docs/istio-objects.md`` 1.4, "Hosts without a
port-80 service"; :mod:`dsim.cluster.port80_hosts` says which hosts and why).

A proxy's ``"80<suffix>"`` gets them from the VirtualServices its egress listener for port 80 has,
in its namespace's walk order (those exported to it; a Sidecar's, or the one its ``visibility``
stands for, imported ones only: :mod:`dsim.cluster.import_scopes`): of each VirtualService that
has routes for port 80 in that family copy, each host, once (Istio drops a second virtual host of
one name), unless the proxy sees one of the host's port-80 services.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from envoy.config.route.v3 import route_components_pb2 as rc

from dsim.cluster.import_scopes import import_scopes
from dsim.cluster.port80_hosts import PORT_80, VsPortHost
from dsim.cluster.tables import Cluster
from dsim.cluster.vs_imports import VirtualServiceImports
from dsim.designs.base import Design, ProxyFacts
from dsim.wire import tag_size, varint_size
from dsim.xds import routes
from dsim.xds.mesh_objects import ObjectView, mesh_objects

Candidate = tuple[int, VsPortHost]
"""(VirtualService, one of its hosts)."""
PricedHost = tuple[VsPortHost, int, dict[str, int]]
"""A host, the bytes its virtual host adds to its route configuration, its routes' counts."""


class PricedPart(NamedTuple):
    """Priced hosts, numbered (one number per distinct list: the accounting sums each once)."""

    number: int
    hosts: tuple[PricedHost, ...]


class PricedHosts(NamedTuple):
    """One key's priced hosts as parts the accounting shares between keys: its ``lead`` (the
    VirtualServices before the public ones in its walk), the public ones' ``tail`` (shared by every
    key with the same Sidecar import, family copy and routes), less the tail's hosts the lead names
    first (``dropped``)."""

    lead: PricedPart
    tail: PricedPart
    dropped: PricedPart

    @property
    def hosts(self) -> tuple[PricedHost, ...]:
        """Every priced host, in walk order."""
        gone = {host.host for host, _, _ in self.dropped.hosts}
        return (*self.lead.hosts, *(entry for entry in self.tail.hosts if entry[0].host not in gone))


class Port80VirtualHosts:
    """The ``<host>:80`` virtual hosts of one cluster, per (import scope, viewer, family copy)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        istio = cluster.istio
        self.hosts: list[tuple[VsPortHost, ...]] = istio.port80_hosts.hosts if istio.port80_hosts else []
        """Per VirtualService: its hosts as ``"80"`` may hold them (:class:`dsim.cluster.port80_hosts.Port80Hosts`)."""
        self.scopes = import_scopes(cluster)
        """Each workload's import scope (its namespace and Sidecar, or the Sidecar its ``visibility`` stands for)."""
        self._proxy_workload = cluster.proxies["workload"].to_numpy()
        self._namespace_names = cluster.namespaces["name"].tolist()
        objects = mesh_objects(cluster)
        self._vs_facts = objects.vs_facts
        self._with_hosts = [v for v, hosts in enumerate(self.hosts) if hosts]
        self._imports = VirtualServiceImports(
            istio.virtual_services, cluster.scenario.mesh.cluster_domain, only=self._with_hosts
        )
        self._walks: dict[int, tuple[int, ...]] = {}
        self._candidates: dict[tuple[object, ...], tuple[Candidate, ...]] = {}
        self._parts: dict[tuple[object, ...], PricedPart] = {}
        self._splits: dict[int, tuple[tuple[int, ...], int]] = {}
        self._tail_ids: dict[tuple[int, ...], int] = {}
        self._tails: list[tuple[int, ...]] = []
        self._tail_members: list[frozenset[int]] = []
        self._differing: dict[int, set[int]] = {}
        self._conditioned = {v for v, facts in enumerate(self._vs_facts) if facts.conditions}
        self._routed_to: dict[int, list[int]] = {}
        for v in self._with_hosts:
            for service in objects.destinations(v):
                self._routed_to.setdefault(service, []).append(v)

    def __bool__(self) -> bool:
        return bool(self._with_hosts)

    def view_of(self, viewer: int) -> ObjectView:
        """The view ``"80"``'s hosts of ``viewer``'s proxies take routes from
        (:meth:`dsim.xds.mesh_objects.MeshObjects.routes_view`)."""
        return mesh_objects(self.cluster).routes_view(viewer)

    def scope(self, proxy: int) -> int:
        """The import scope of a proxy (a ``proxies`` row)."""
        return int(self.scopes.of_workload[self._proxy_workload[proxy]])

    def walk(self, scope: int) -> tuple[int, ...]:
        """The VirtualServices the egress listener for port 80 of a proxy of import scope ``scope``
        has, in walk order (that of :func:`dsim.cluster.object_views.vs_chain`)."""
        if scope not in self._walks:
            names = self._namespace_names
            egress = self.scopes.egress(self.cluster.istio.sidecars, names, scope, PORT_80)
            self._walks[scope] = self._imports.imported(names[int(self.scopes.namespace[scope])], egress)
        return self._walks[scope]

    def candidates(
        self, scope: int, view: ObjectView, suffix: str, design: Design, proxy: ProxyFacts
    ) -> tuple[Candidate, ...]:
        """The hosts ``"80<suffix>"`` holds a virtual host of for a proxy of import scope ``scope``
        applying ``view``, before its scope is asked: in walk order, each host's first
        VirtualService of those with routes for port 80 in this family copy."""
        key = (scope, id(view), suffix, design.name, proxy)
        if key not in self._candidates:
            named: set[str] = set()
            found: list[Candidate] = []
            for v in self.walk(scope):
                if not view.objects.routes_sizes(v, PORT_80, suffix, design, proxy, view)[0]:  # no routes: 0 bytes
                    continue
                for host in self.hosts[v]:
                    if host.host not in named:
                        named.add(host.host)
                        found.append((v, host))
            self._candidates[key] = tuple(found)
        return self._candidates[key]

    def vhosts(
        self,
        scope: int,
        view: ObjectView,
        suffix: str,
        design: Design,
        proxy: ProxyFacts,
        seen: AbstractSet[int],
    ) -> list[rc.VirtualHost]:
        """The virtual hosts themselves, for a proxy that sees the services ``seen``."""
        return [
            host_vhost(host.host, PORT_80, view.routes(v, PORT_80, suffix, design, proxy))
            for v, host in self.candidates(scope, view, suffix, design, proxy)
            if not host.blockers & seen
        ]

    def priced(self, scope: int, view: ObjectView, suffix: str, design: Design, proxy: ProxyFacts) -> PricedHosts:
        """:meth:`candidates` as the accounting takes them: each host with the bytes its virtual host
        adds to ``"80<suffix>"`` (its ``virtual_hosts`` entry, tag and length) and its routes' counts.
        In parts (:class:`PricedHosts`), each distinct one numbered.

        Computed without walking every VirtualService per key: the public VirtualServices, last in
        every walk, are priced once per (Sidecar import, family copy) in the base view, and a view
        re-prices only those whose routes it may change (source conditions, its own rules of their
        destinations); only where one of those does change is the public part walked again."""
        lead, tail_id = self._split(scope)
        copy = (suffix, design, proxy)
        base = view.objects.base
        tail_view = base
        if view is not base and any(
            self._priced_vs(v, view, copy) != self._priced_vs(v, base, copy)
            for v in self._may_differ(view) & self._tail_members[tail_id]
        ):
            tail_view = view
        lead_part = self._part(
            ("lead", lead, id(view) if lead else None, copy), lambda: self._priced_walk(lead, view, copy)
        )
        tail_part = self._part(
            ("tail", tail_id, id(tail_view), copy), lambda: self._priced_walk(self._tails[tail_id], tail_view, copy)
        )
        named = {host.host for host, _, _ in lead_part.hosts}
        dropped = self._part(
            ("dropped", lead_part.number, tail_part.number),
            lambda: [entry for entry in tail_part.hosts if entry[0].host in named],
        )
        return PricedHosts(lead_part, tail_part, dropped)

    def _part(self, key: tuple[object, ...], priced: Callable[[], list[PricedHost]]) -> PricedPart:
        if key not in self._parts:
            self._parts[key] = PricedPart(len(self._parts), tuple(priced()))
        return self._parts[key]

    def _split(self, scope: int) -> tuple[tuple[int, ...], int]:
        """The walk's lead (what comes before its public VirtualServices) and its tail's number."""
        if scope not in self._splits:
            walk = self.walk(scope)
            split = next((i for i, v in enumerate(walk) if self._vs_facts[v].exports is None), len(walk))
            tail = walk[split:]
            tail_id = self._tail_ids.setdefault(tail, len(self._tails))
            if tail_id == len(self._tails):
                self._tails.append(tail)
                self._tail_members.append(frozenset(tail))
            self._splits[scope] = (walk[:split], tail_id)
        return self._splits[scope]

    def _may_differ(self, view: ObjectView) -> set[int]:
        """The VirtualServices whose routes ``view`` may build otherwise than the base view: those with
        source conditions, and those routing to a service whose rule ``view`` changes."""
        if id(view) not in self._differing:
            base = view.objects.base.rule_of_service
            mine = view.rule_of_service
            changed = {s for s in base.keys() | mine.keys() if base.get(s) != mine.get(s)}
            self._differing[id(view)] = self._conditioned | {v for s in changed for v in self._routed_to.get(s, ())}
        return self._differing[id(view)]

    def _priced_vs(self, v: int, view: ObjectView, copy: tuple[str, Design, ProxyFacts]) -> tuple[int, dict[str, int]]:
        suffix, design, proxy = copy
        return view.objects.routes_sizes(v, PORT_80, suffix, design, proxy, view)

    def _priced_walk(
        self, walk: tuple[int, ...], view: ObjectView, copy: tuple[str, Design, ProxyFacts]
    ) -> list[PricedHost]:
        """The hosts of ``walk``'s VirtualServices with routes for port 80, the first of each, priced."""
        named: set[str] = set()
        found: list[PricedHost] = []
        for v in walk:
            routes_bytes, counts = self._priced_vs(v, view, copy)
            if not routes_bytes:
                continue
            for host in self.hosts[v]:
                if host.host not in named:
                    named.add(host.host)
                    found.append((host, host_vhost_size(host.host, PORT_80, routes_bytes), counts))
        return found


def host_vhost(host: str, port: int, found: Sequence[rc.Route]) -> rc.VirtualHost:
    """The virtual host ``<host>:<port>`` Istio builds for a VirtualService host of no service in
    ``"<port>"``: its one domain the host (``SidecarIgnorePort``), the VirtualService's routes."""
    return routes.virtual_host(f"{host}:{port}", [host], found)


@functools.lru_cache(maxsize=65536)
def _bare_size(host: str, port: int) -> int:
    return host_vhost(host, port, ()).ByteSize()


def host_vhost_size(host: str, port: int, routes_bytes: int) -> int:
    """The bytes :func:`host_vhost` adds to its route configuration (its ``virtual_hosts`` entry,
    tag and length), its routes adding ``routes_bytes`` (as :meth:`MeshObjects.routes_sizes` counts them)."""
    body = _bare_size(host, port) + routes_bytes
    return tag_size(routes.VHOST_FIELD) + int(varint_size(body)) + body


def port80_vhosts(cluster: Cluster) -> Port80VirtualHosts:
    """The (cached) :class:`Port80VirtualHosts` of ``cluster`` (kept on it: ``Cluster.keep``)."""
    return cluster.keep("port80_vhosts", lambda: Port80VirtualHosts(cluster))

"""What a cluster's VirtualServices and DestinationRules build, per service: the routes of a
virtual host, the rule and policy of a cluster, as the proxies of one viewer see them (a view:
:mod:`dsim.cluster.object_views`). Both the protobuf path (:mod:`dsim.xds.generate`)
and the vectorized accounting (:mod:`dsim.accounting.outbound`) ask this one place, so the two
agree by construction on which routes and policies exist; each then builds or prices them.

Routes depend on the VirtualService, the listener port, the route configuration's family suffix,
the design's answer for each destination's family copy (``docs/istio-objects.md`` 1.11), the
matches that hold for the viewer (its source) and what its destinations' rules give a route (their
hash policy, 1.8): they are built once per such key and shared by every proxy and every view that
asks (istiod caches routes the same way). Many views apply other rules (a namespace's own
``*.local`` rule) to services whose routes they build alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.route.v3 import route_components_pb2 as rc

from dsim.cluster import Cluster
from dsim.cluster.egress_ports import Egress
from dsim.cluster.hostnames import resolve_host
from dsim.cluster.labels import labels_by_workload
from dsim.cluster.object_views import VsFacts, export_set, views_by_viewer, vs_chain
from dsim.cluster.rule_index import merged_spec
from dsim.cluster.service_entries import registry_services
from dsim.cluster.sources import BASE_SOURCE, Source, conditions
from dsim.cluster.vs_hosts import http_chain, l4_chain
from dsim.cluster.vs_imports import VirtualServiceImports
from dsim.designs.base import Design, ProxyFacts, ServiceFacts
from dsim.memo import instance_cache
from dsim.scenario.istio.destination_rule import DestinationRuleSpec
from dsim.scenario.istio.rules import SERVED_AS_TCP, TLS_PROTOCOLS
from dsim.scenario.istio.virtual_service import Destination, VirtualService
from dsim.wire import tag_size, varint_size
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.names import cluster_name
from dsim.xds.policy import ClusterPolicy, destination_hash, effective_policy, hash_policy
from dsim.xds.routes import vhost_objects
from dsim.xds.vs_routes import (
    DestinationCluster,
    Target,
    config_path,
    http_routes,
    takes_port,
    tcp_chain,
    tcp_route,
    tls_chains,
)

ROUTES_FIELD = 3  # VirtualHost.routes


def _viewer_labels(cluster: Cluster) -> dict[int, frozenset[tuple[str, str]]]:
    """The pod labels of each viewer past the namespaces (its first workload's: they hold the
    same selectors). A namespace's own viewer holds none that a selector or source condition asks for."""
    selected = cluster.rule_viewers
    first: dict[int, int] = {}
    for w, v in zip(selected["workload"].tolist(), selected["viewer"].tolist(), strict=True):
        first.setdefault(v, w)
    if not first:
        return {}
    wl = cluster.workload_labels
    labels = labels_by_workload(wl[wl["workload"].isin(set(first.values()))])
    return {v: frozenset(labels.get(w, {}).items()) for v, w in first.items()}


class MeshObjects:
    """The VirtualServices and DestinationRules of one cluster; :meth:`view` gives a viewer's."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.defaults = MeshDefaults.of(cluster.scenario.mesh)
        """The mesh's settings every cluster and route is built with."""
        hosts = cluster.service_hosts().tolist()
        self.service_of_host = registry_services(hosts)
        self.families = [tuple(f.split(",")) for f in cluster.services["ip_families"].astype(str).tolist()]
        ports = cluster.service_ports
        counts = np.bincount(ports["service"].to_numpy(), minlength=len(cluster.services))
        first: dict[int, int] = {}
        for service, number in zip(ports["service"].tolist(), ports["port"].tolist(), strict=True):
            first.setdefault(service, number)
        self.only_port = {s: first[s] for s in np.flatnonzero(counts == 1).tolist()}
        claims = cluster.virtual_service_hosts
        self._claimers: dict[int, list[int]] = {}
        self._how: dict[int, dict[int, int]] = {}  # service -> VirtualService -> how it names it
        for v, service, how in sorted(
            zip(claims["virtual_service"].tolist(), claims["service"].tolist(), claims["how"].tolist(), strict=True)
        ):
            self._claimers.setdefault(service, []).append(v)
            self._how.setdefault(service, {})[v] = how
        # What a VirtualService's place in a namespace's walk depends on (dsim.cluster.object_views).
        self._vs_facts = [
            VsFacts(
                namespace=vs.namespace,
                exports=export_set(vs.spec.export_to, vs.namespace),
                claims=(),
                destinations=frozenset(),
                conditions=conditions(vs),
            )
            for vs in cluster.istio.virtual_services
        ]
        self._namespace_names = cluster.namespaces["name"].tolist()
        base_vs = {s: chain for s in self._claimers if (chain := self.chain(None, s))}
        self._members: dict[int, list[int]] = {}
        members = cluster.rule_members
        for entry, r in zip(members["entry"].tolist(), members["rule"].tolist(), strict=True):
            self._members.setdefault(entry, []).append(r)
        base = cluster.base_rules
        base_rule: dict[int, int] = dict(zip(base["service"].tolist(), base["rule"].tolist(), strict=True))
        views = cluster.object_views
        self._viewer_namespace = cluster.viewer_namespaces().tolist()
        self._viewer_labels = _viewer_labels(cluster)
        unimported: dict[int, set[int]] = {}
        left_out = cluster.viewer_unimported
        for viewer, v in zip(left_out["viewer"].tolist(), left_out["virtual_service"].tolist(), strict=True):
            unimported.setdefault(viewer, set()).add(v)
        self._unimported = {viewer: frozenset(found) for viewer, found in unimported.items()}
        self._exceptions = views_by_viewer(
            list(
                zip(
                    views["viewer"].tolist(),
                    views["service"].tolist(),
                    views["virtual_service"].tolist(),
                    views["rule"].tolist(),
                    strict=True,
                )
            )
        )
        self.domain = cluster.scenario.mesh.cluster_domain
        ports = cluster.service_ports
        special = ports[ports["istio_protocol"].isin(SERVED_AS_TCP)]
        self.port_protocols = dict(
            zip(
                zip(special["service"].tolist(), special["port"].tolist(), strict=True),
                special["istio_protocol"].astype(str).tolist(),
                strict=True,
            )
        )
        """(service, port) to its protocol, for the ports whose protocol changes their TCP chains (a
        Service's TLS, HTTPS or Mongo port, which dsim serves as TCP; a ServiceEntry's of those
        protocols): on a TLS or HTTPS port Istio builds no ``tcp[]`` route
        (``buildSidecarOutboundTCPFilterChainOpts``), and ``tls[]`` routes nowhere else
        (``buildSidecarOutboundTLSFilterChainOpts``); on a Mongo one its TCP chains proxy through a
        ``mongo_proxy`` (``buildNetworkFiltersStack``)."""
        self.policy_list: list[ClusterPolicy] = []
        self._policy_ids: dict[ClusterPolicy, int] = {}
        self.hash_list: list[rc.RouteAction.HashPolicy] = []
        self._hash_ids: dict[bytes, int] = {}
        self._destinations = [self._destinations_of(vs) for vs in cluster.istio.virtual_services]
        self._built: dict[tuple[object, ...], object] = {}
        self.keep_route_messages = False
        """Whether :meth:`routes_sizes` keeps the messages it sizes: set while the protobuf path
        (:func:`dsim.xds.generate.proxy_config`), which sizes routes before it builds their virtual
        hosts, runs; the accounting wants sizes alone."""
        self.base = ObjectView(self, base_vs, base_rule, BASE_SOURCE)
        self._views: dict[int, ObjectView] = {}
        self._sourced: dict[int, ObjectView] = {}
        self._listener_views: dict[tuple[int, Egress], ObjectView] = {}
        self._imports: VirtualServiceImports | None = None

    def _destinations_of(self, vs: VirtualService) -> tuple[int, ...]:
        """The services a VirtualService's routes send to (those of the mesh)."""
        spec = vs.spec
        found = {
            self.service_of_host.get(resolve_host(d.destination.host, vs.namespace, self.domain), -1)
            for routes in (spec.http, spec.tcp, spec.tls)
            for route in routes
            for d in route.route
        }
        return tuple(sorted(found - {-1}))

    @property
    def vs_facts(self) -> list[VsFacts]:
        """Per VirtualService: what its place in a namespace's walk and its routes' sources depend on
        (its namespace, exportTo and source conditions; no claims)."""
        return self._vs_facts

    def destinations(self, vs: int) -> tuple[int, ...]:
        """The services VirtualService ``vs``'s routes send to (those of the mesh)."""
        return self._destinations[vs]

    def _built_key(self, kind: str, vs: tuple[int, ...], view: ObjectView, *rest: object) -> tuple[object, ...]:
        """The key of what VirtualServices ``vs`` build in ``view``: what they build depends on a view
        only through which of their matches' source conditions hold for it and the rules of their
        destinations (the hash policy a route carries, 1.8), so views alike in both share it."""
        rules = tuple(self.rule_content(view.rule_of_service.get(d, -1)) for v in vs for d in self._destinations[v])
        holding = tuple(view.source.signature(self._vs_facts[v].conditions) for v in vs)
        return (kind, vs, holding, rules, *rest)

    def chain(self, viewer: int | None, service: int) -> tuple[int, ...]:
        """The VirtualServices naming ``service`` that proxies of ``viewer`` (``None``: the base
        view) walk, in order (:func:`dsim.cluster.object_views.vs_chain`): their namespace's, but
        those their import scope leaves out."""
        if viewer is None:
            return vs_chain(self._vs_facts, self._claimers.get(service, ()), None)
        name = self._namespace_names[self._viewer_namespace[viewer]]
        left_out = self._unimported.get(viewer, frozenset())
        return vs_chain(self._vs_facts, self._claimers.get(service, ()), name, left_out)

    def http_chain(self, service: int, chain: tuple[int, ...]) -> tuple[int, ...]:
        """Of ``service``'s chain, the VirtualServices whose HTTP routes may build its virtual host
        (:func:`dsim.cluster.vs_hosts.http_chain`: those naming it exactly, else the first of the
        most specific wildcard)."""
        return http_chain(chain, self._how.get(service, {}))

    def l4_chain(self, service: int, chain: tuple[int, ...] | None) -> tuple[int, ...] | None:
        """Of ``service``'s chain (``None``: no VirtualService names it), the VirtualServices whose TCP
        and TLS routes apply to it (:func:`dsim.cluster.vs_hosts.l4_chain`: not those naming it only
        but for case)."""
        return None if chain is None else l4_chain(chain, self._how.get(service, {}))

    def view(self, viewer: int | None = None) -> ObjectView:
        """What proxies of ``viewer`` (:meth:`dsim.cluster.Cluster.workload_viewers`: a
        ``namespaces`` row, or one a DestinationRule's workloadSelector, a match's sourceLabels or
        the VirtualServices an import scope leaves out make; ``None``: the base view) apply."""
        if viewer is None or not self._exceptions.get(viewer):
            return self.base
        overrides = self._exceptions[viewer]
        if viewer not in self._views:
            vs_of = dict(self.base.vs_of_service)
            rule_of = dict(self.base.rule_of_service)
            for service, (_, rule) in overrides.items():
                chain = self.chain(viewer, service)
                if chain:
                    vs_of[service] = chain
                else:
                    vs_of.pop(service, None)
                if rule >= 0:
                    rule_of[service] = rule
                else:
                    rule_of.pop(service, None)
            self._views[viewer] = ObjectView(self, vs_of, rule_of, self.source(viewer))
        return self._views[viewer]

    def routes_view(self, viewer: int) -> ObjectView:
        """The view VirtualServices' routes for ``viewer``'s proxies come from where no (viewer,
        service) view says: its view of the services (:meth:`view`), with its own source where that
        is the base view but a VirtualService's source conditions hold otherwise for it (a
        VirtualService's hosts without a service of theirs have no (viewer, service) view to make
        the difference)."""
        view = self.view(viewer)
        if view is not self.base:
            return view
        if viewer not in self._sourced:
            source = self.source(viewer)
            same = all(
                source.signature(facts.conditions) == BASE_SOURCE.signature(facts.conditions)
                for facts in self._vs_facts
                if facts.conditions
            )
            self._sourced[viewer] = view if same else ObjectView(self, view.vs_of_service, view.rule_of_service, source)
        return self._sourced[viewer]

    def listener_view(self, viewer: int, egress: Egress) -> ObjectView:
        """What ``viewer``'s proxies apply to the services one of their Sidecar's egress listeners
        builds (``egress``: its hosts): the viewer's chains less the VirtualServices that listener
        does not import (Istio builds a listener's chains and virtual hosts from
        ``egressListener.VirtualServices()``, per listener; the viewer's chains hold what any of
        them imports), with the viewer's own source."""
        key = (viewer, egress)
        if key not in self._listener_views:
            if self._imports is None:
                self._imports = VirtualServiceImports(self.cluster.istio.virtual_services, self.domain)
            imports = self._imports
            view = self.view(viewer)
            chains: dict[int, tuple[int, ...]] = {}
            for service, chain in view.vs_of_service.items():
                kept = tuple(v for v in chain if imports.imports(v, egress))
                if kept:
                    chains[service] = kept
            self._listener_views[key] = ObjectView(self, chains, view.rule_of_service, self.routes_view(viewer).source)
        return self._listener_views[key]

    def source(self, viewer: int) -> Source:
        """What the routes of ``viewer``'s proxies depend on (:mod:`dsim.cluster.sources`)."""
        name = self._namespace_names[self._viewer_namespace[viewer]]
        return Source(namespace=name, labels=self._viewer_labels.get(viewer, frozenset()))

    def signature(self, viewer: int | None, chain: tuple[int, ...]) -> tuple[tuple[bool, ...], ...]:
        """Which source conditions of the VirtualServices of ``chain`` hold for ``viewer``'s proxies."""
        source = BASE_SOURCE if viewer is None else self.source(viewer)
        return tuple(source.signature(self._vs_facts[vs].conditions) for vs in chain)

    def view_groups(self) -> list[tuple[np.ndarray, list[int]]]:
        """Viewers whose views differ from the base, grouped by views that price alike: (the services
        their view changes, the viewers), by first viewer."""
        sharing: dict[tuple[tuple[int, tuple[int, ...], object, tuple[tuple[bool, ...], ...]], ...], list[int]] = {}
        for viewer, overrides in sorted(self._exceptions.items()):
            # Keyed by whole chains: two namespaces may walk the same first VirtualService and differ after it.
            key = tuple(
                (s, chain, self.rule_content(rule), self.signature(viewer, chain))
                for s, (_, rule) in sorted(overrides.items())
                for chain in (self.chain(viewer, s),)
            )
            sharing.setdefault(key, []).append(viewer)
        return [
            (np.array([service for service, _, _, _ in changed], dtype=np.int64), viewers)
            for changed, viewers in sharing.items()
        ]

    def policy_id(self, policy: ClusterPolicy) -> int:
        """A number for each distinct policy (its index in :attr:`policy_list`)."""
        if policy not in self._policy_ids:
            self._policy_ids[policy] = len(self.policy_list)
            self.policy_list.append(policy)
        return self._policy_ids[policy]

    def hash_key(self, found: rc.RouteAction.HashPolicy) -> int:
        """A number for each distinct hash policy (its index in :attr:`hash_list`)."""
        key = found.SerializeToString(deterministic=True)
        if key not in self._hash_ids:
            self._hash_ids[key] = len(self.hash_list)
            self.hash_list.append(found)
        return self._hash_ids[key]

    def rule_path(self, rule: int) -> str:
        """The ``istio.config`` path of rule ``rule`` (``""``: -1, none)."""
        if rule < 0:
            return ""
        found = self.cluster.istio.destination_rules[rule]
        return config_path("destination-rule", found.namespace, found.name)

    @instance_cache
    def rule_content(self, rule: int) -> object:
        """What every byte and count a rule entry gives its clusters and routes depends on: its
        merged spec less the fields none of them carries (host, exportTo, selector), and the length
        of its ``istio.config`` path (-1: no entry), and whether it has a selector (which TLS
        credentials a sidecar takes: :func:`dsim.xds.policy.sidecar_builds_tls`). Namespaces each
        holding their own ``*.local`` rule of one spec and name length build alike
        (:meth:`view_groups` prices them once)."""
        if rule < 0:
            return -1
        full = self.spec(rule)
        spec = dataclasses.replace(full, host="", export_to=(), workload_selector=None)
        # Whether it has a selector decides whether a sidecar takes its TLS credentials.
        return len(self.rule_path(rule).encode()), repr(spec), full.workload_selector is not None

    @instance_cache
    def spec(self, rule: int) -> DestinationRuleSpec:
        """The merged spec of the entry ``rule`` heads (its rules as Istio merges them)."""
        found = self.cluster.istio.destination_rules
        return merged_spec([found[r].spec for r in self._members.get(rule, [rule])])

    @instance_cache
    def policy(self, rule: int, subset: str, port: int) -> ClusterPolicy | None:
        """The traffic policy rule entry ``rule`` gives a cluster of ``port`` and ``subset``."""
        policy = effective_policy(self.spec(rule), subset, port)
        return None if policy == ClusterPolicy() else policy

    @instance_cache
    def inbound_rule(self, rule: int, port: int) -> tuple[str, ClusterPolicy | None]:
        """Rule entry ``rule``'s path and connection pool for an inbound cluster of service port
        ``port`` (:meth:`ObjectView.inbound_rule`)."""
        spec = self.spec(rule)
        if spec.traffic_policy is None:
            return "", None
        pool = effective_policy(spec, "", port).connection_pool
        return self.rule_path(rule), None if pool is None else ClusterPolicy(connection_pool=pool)

    @instance_cache
    def destination_hash(self, rule: int, subset: str, port: int | None) -> rc.RouteAction.HashPolicy | None:
        """The hash policy rule entry ``rule`` gives a route to its service (``subset``, the route's own ``port``)."""
        return hash_policy(destination_hash(self.spec(rule), subset, port))

    def _cluster_of(
        self, namespace: str, suffix: str, design: Design, proxy: ProxyFacts, view: ObjectView, *, http: bool = False
    ) -> DestinationCluster:
        """Each destination's cluster. A destination without a port takes the listener's port on an
        HTTP route (Istio looks it up among the services that have the listener's port, each cut to
        that one port: ``BuildSidecarOutboundVirtualHosts``, ``GetDestinationCluster``), and the
        service's only port, else the listener's, on a TCP or TLS route (the whole service)."""

        def cluster_of(destination: Destination, port: int) -> Target | None:
            host = resolve_host(destination.host, namespace, self.domain)
            service = self.service_of_host.get(host)
            number = destination.port.number if destination.port is not None else None
            if service is None:
                # A host outside the mesh names a cluster anyway; its family is unknown, so it
                # counts as IPv4 (the primary configuration's) (inferred).
                prefix: str | None = "outbound" if suffix == "" else None
                number = number or port
            else:
                facts = ServiceFacts(families=self.families[service], vips={})  # type: ignore[arg-type]
                copies = design.outbound_copies(_with_vips(facts), proxy)
                prefix = next((c.cluster_prefix for c in copies if c.route_suffix == suffix), None)
                number = number or (port if http else self.only_port.get(service, port))
            if prefix is None:
                return None
            name = cluster_name(prefix, number, destination.subset or "", host)
            explicit = destination.port.number if destination.port is not None else None
            found = view.destination_hash(service, destination.subset or "", explicit) if service is not None else None
            return Target(name, f"{host}:{number}", found)

        return cluster_of

    def routes(
        self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, view: ObjectView
    ) -> tuple[rc.Route, ...]:
        """The routes VirtualService ``vs`` gives a virtual host in route configuration ``<port><suffix>``
        (its destinations' hash policies from ``view``'s rules). Shared: copy before changing one."""
        key = self._built_key("routes", (vs,), view, port, suffix, design, proxy)
        if key not in self._built:
            self._built[key] = self._http_routes(vs, port, suffix, design, proxy, view)
        return self._built[key]  # type: ignore[return-value]

    def _http_routes(
        self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, view: ObjectView
    ) -> tuple[rc.Route, ...]:
        obj = self.cluster.istio.virtual_services[vs]
        cluster_of = self._cluster_of(obj.namespace, suffix, design, proxy, view, http=True)
        return tuple(http_routes(obj, port, cluster_of, view.source, self.defaults.http_retry))

    def routes_sizes(
        self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, view: ObjectView
    ) -> tuple[int, dict[str, int]]:
        """Bytes those routes add to their virtual host (each a ``routes`` entry, tag and length), and
        their count and what they hold (:func:`dsim.xds.routes.vhost_objects`: Envoy objects, not bytes)."""
        key = self._built_key("sizes", (vs,), view, port, suffix, design, proxy)
        if key not in self._built:
            # The accounting wants their sizes alone: messages kept for every VirtualService, family
            # copy and design would hold ~7 KB a route (bench/size_prices.py), so they are built for
            # the count and let go unless the protobuf path keeps them.
            if self.keep_route_messages:
                found = self.routes(vs, port, suffix, design, proxy, view)
            else:
                built = self._built.get(("routes", *key[1:]))
                found = built if built is not None else self._http_routes(vs, port, suffix, design, proxy, view)  # type: ignore[assignment]
            total = 0
            for route in found:
                size = route.ByteSize()
                total += tag_size(ROUTES_FIELD) + int(varint_size(size)) + size
            self._built[key] = (total, vhost_objects([rc.VirtualHost(routes=found)]))
        return self._built[key]  # type: ignore[return-value]

    def takes_port(self, vs: int, port: int, source: Source) -> bool:
        """Whether VirtualService ``vs`` has an HTTP route for listener port ``port`` for proxies of
        ``source`` (:func:`takes_port`; sources for which the same matches hold share the answer)."""
        key = ("takes", vs, source.signature(self._vs_facts[vs].conditions), port)
        if key not in self._built:
            self._built[key] = takes_port(self.cluster.istio.virtual_services[vs], port, source)
        return self._built[key]  # type: ignore[return-value]

    def tcp_chain(
        self,
        chain: tuple[int, ...],
        port: int,
        suffix: str,
        design: Design,
        proxy: ProxyFacts,
        view: ObjectView,
        *,
        mongo: bool = False,
    ) -> lc.FilterChain | None:
        """The chain the first TCP route that takes ``port`` among the VirtualServices of ``chain``, in
        order, gives the copy ``suffix`` of a TCP (Mongo: ``mongo``) or sniffed listener on ``port``
        (``None``: the default chain). Shared: copy before changing it."""
        key = self._built_key("tcp", chain, view, port, suffix, design, proxy, mongo)
        if key not in self._built:
            self._built[key] = None
            for vs in chain:
                obj = self.cluster.istio.virtual_services[vs]
                if tcp_route(obj, port, view.source) is not None:
                    cluster_of = self._cluster_of(obj.namespace, suffix, design, proxy, view)
                    self._built[key] = tcp_chain(obj, port, cluster_of, view.source, mongo=mongo)
                    break
        return self._built[key]

    def tls_chains(
        self, chain: tuple[int, ...], port: int, suffix: str, design: Design, proxy: ProxyFacts, view: ObjectView
    ) -> tuple[lc.FilterChain, ...]:
        """The SNI chains the TLS routes of the VirtualServices of ``chain`` give the copy ``suffix`` of
        a TLS listener on ``port`` (empty: the default chain). Shared: copy before changing one."""
        key = self._built_key("tls", chain, view, port, suffix, design, proxy)
        if key not in self._built:
            found = [self.cluster.istio.virtual_services[vs] for vs in chain]
            of = [(obj, self._cluster_of(obj.namespace, suffix, design, proxy, view)) for obj in found]
            self._built[key] = tls_chains(of, port, view.source)
        return self._built[key]  # type: ignore[return-value]


class ObjectView:
    """The VirtualService and DestinationRule entry proxies of one viewer apply, per service
    (:mod:`dsim.cluster.object_views`), with the routes and policies they build."""

    def __init__(
        self,
        objects: MeshObjects,
        vs_of_service: dict[int, tuple[int, ...]],
        rule_of_service: dict[int, int],
        source: Source,
    ) -> None:
        self.objects = objects
        self.vs_of_service = vs_of_service
        self.rule_of_service = rule_of_service
        self.source = source
        """Whose routes these are (:mod:`dsim.cluster.sources`): which matches they keep."""

    @property
    def cluster(self) -> Cluster:
        return self.objects.cluster

    @property
    def defaults(self) -> MeshDefaults:
        return self.objects.defaults

    @property
    def policy_list(self) -> list[ClusterPolicy]:
        return self.objects.policy_list

    @property
    def hash_list(self) -> list[rc.RouteAction.HashPolicy]:
        return self.objects.hash_list

    def policy_id(self, policy: ClusterPolicy) -> int:
        return self.objects.policy_id(policy)

    def rule(self, service: int) -> str:
        """The ``istio.config`` path of the rule shaping ``service``'s clusters (``""``: none)."""
        return self.objects.rule_path(self.rule_of_service.get(service, -1))

    def policy(self, service: int, subset: str, port: int) -> ClusterPolicy | None:
        """The traffic policy of ``service``'s cluster of ``port`` and ``subset`` (``None``: no rule)."""
        rule = self.rule_of_service.get(service)
        return None if rule is None else self.objects.policy(rule, subset, port)

    def inbound_rule(self, service: int, port: int) -> tuple[str, ClusterPolicy | None]:
        """What the rule shaping ``service`` gives its pods' inbound cluster of service port ``port``
        where the rule has a traffic policy at its top (``buildInboundCluster``): its ``istio.config``
        path and its connection pool, the only part of a policy an inbound cluster takes
        (``applyTrafficPolicy``; the port's own settings, if any, replace the top's). ``("", None)``:
        no such rule."""
        rule = self.rule_of_service.get(service)
        return ("", None) if rule is None else self.objects.inbound_rule(rule, port)

    def destination_hash(self, service: int, subset: str, port: int | None) -> rc.RouteAction.HashPolicy | None:
        """The hash policy a route to ``service`` (``subset``, the route's own ``port`` or ``None``)
        gets from the rule shaping it (``None``: no rule, or no consistent hash)."""
        rule = self.rule_of_service.get(service)
        return None if rule is None else self.objects.destination_hash(rule, subset, port)

    def hash_id(self, service: int, port: int) -> int:
        """The hash policy of ``service``'s default route on ``port``, as an index into
        :attr:`hash_list` (-1: none); equal policies share one."""
        found = self.destination_hash(service, "", port)
        return -1 if found is None else self.objects.hash_key(found)

    def routes(self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts) -> tuple[rc.Route, ...]:
        """The routes VirtualService ``vs`` gives a virtual host in route configuration ``<port><suffix>``."""
        return self.objects.routes(vs, port, suffix, design, proxy, self)

    def listener_protocol(self, service: int, port: int, protocol: str | None = None) -> str:
        """The protocol ``service``'s listener on ``port`` is built with, where it changes the TCP
        chains (``TLS``, ``HTTPS``, ``Mongo``; ``""``: any other): ``protocol``, that of the egress
        listener building it (a Sidecar's port listener builds with its own port's protocol, whatever
        the service's: ``listenPort`` in ``buildSidecarOutboundListeners``), or, where ``None`` (the
        catch-all builds the service's own port), the service port's."""
        if protocol is None:
            return self.objects.port_protocols.get((service, port), "")
        return protocol if protocol in SERVED_AS_TCP else ""

    def tcp_chain(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, *, protocol: str | None = None
    ) -> lc.FilterChain | None:
        """The chain ``service``'s VirtualServices' TCP routes give its listener copy ``suffix`` on
        ``port`` (``None``: no VirtualService, a TLS listener (:meth:`listener_protocol`), or none of
        their TCP routes takes the port)."""
        chain = self.objects.l4_chain(service, self.vs_of_service.get(service))
        built = self.listener_protocol(service, port, protocol)
        if chain is None or built in TLS_PROTOCOLS:
            return None
        return self.objects.tcp_chain(chain, port, suffix, design, proxy, self, mongo=built == "Mongo")

    def tls_chains(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, *, protocol: str | None = None
    ) -> tuple[lc.FilterChain, ...]:
        """The SNI chains ``service``'s VirtualServices' TLS routes give its listener copy ``suffix``
        on ``port`` (empty: not a TLS listener (:meth:`listener_protocol`), no VirtualService, or none
        of their TLS routes takes the port: the default chain)."""
        chain = self.objects.l4_chain(service, self.vs_of_service.get(service))
        if chain is None or self.listener_protocol(service, port, protocol) not in TLS_PROTOCOLS:
            return ()
        return self.objects.tls_chains(chain, port, suffix, design, proxy, self)

    def real_services(self, services: np.ndarray) -> np.ndarray:
        """The ``services`` rows the given ones stand for (themselves: :class:`StackedView` has stand-ins)."""
        return services

    def routing_vs(self, service: int, port: int) -> int | None:
        """The VirtualService that builds ``service``'s virtual host on ``port``: the first of its
        chain one of whose HTTP routes takes the port (``None``: the default virtual host)."""
        chain = self.objects.http_chain(service, self.vs_of_service.get(service, ()))
        return next((vs for vs in chain if self.objects.takes_port(vs, port, self.source)), None)

    def domain_hosts(self, service: int, port: int) -> tuple[str, ...]:
        """The hosts of the VirtualService building ``service``'s virtual host on ``port``
        (:meth:`routing_vs`) that are the service's other domains: each a virtual host of its own
        beside the service's, which no longer holds them (:mod:`dsim.cluster.service_domain_hosts`)."""
        pairs = self.objects.cluster.istio.service_domain_hosts
        if not pairs:
            return ()
        vs = self.routing_vs(service, port)
        return () if vs is None else pairs.get((vs, service), ())

    def routed(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts
    ) -> tuple[int, dict[str, int]] | None:
        """Bytes and counts (:meth:`routes_bytes`, :meth:`routes_counts`) of the routes ``service``'s
        VirtualService gives its virtual host in ``<port><suffix>`` (``None``: the default virtual host,
        :meth:`routing_vs`; bytes 0: the family copy kept none of them, so no virtual host)."""
        vs = self.routing_vs(service, port)
        if vs is None:
            return None
        return self.objects.routes_sizes(vs, port, suffix, design, proxy, self)


class StackedView(ObjectView):
    """Several views at once, for pricing them in one pass: stand-in service ``k`` is service
    ``real[k]`` as ``views[group[k]]`` sees it. Rule lookups work on the stand-ins directly (a rule
    entry's policies do not depend on the view); routes and TCP chains are asked of the view itself
    (their destinations' hash policies do)."""

    def __init__(self, views: Sequence[ObjectView], group: np.ndarray, real: np.ndarray) -> None:
        pairs = list(enumerate(zip(group.tolist(), real.tolist(), strict=True)))
        super().__init__(
            views[0].objects,
            {k: vs for k, (g, s) in pairs if (vs := views[g].vs_of_service.get(s)) is not None},
            {k: rule for k, (g, s) in pairs if (rule := views[g].rule_of_service.get(s)) is not None},
            BASE_SOURCE,  # routes and chains are asked of each stand-in's own view
        )
        self.views = views
        self.group = group
        self.real = real

    def routed(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts
    ) -> tuple[int, dict[str, int]] | None:
        return self.views[self.group[service]].routed(int(self.real[service]), port, suffix, design, proxy)

    def real_services(self, services: np.ndarray) -> np.ndarray:
        return self.real[services]

    def routing_vs(self, service: int, port: int) -> int | None:
        return self.views[self.group[service]].routing_vs(int(self.real[service]), port)

    def domain_hosts(self, service: int, port: int) -> tuple[str, ...]:
        return self.views[self.group[service]].domain_hosts(int(self.real[service]), port)

    def listener_protocol(self, service: int, port: int, protocol: str | None = None) -> str:
        return self.views[self.group[service]].listener_protocol(int(self.real[service]), port, protocol)

    def tcp_chain(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, *, protocol: str | None = None
    ) -> lc.FilterChain | None:
        real = int(self.real[service])
        return self.views[self.group[service]].tcp_chain(real, port, suffix, design, proxy, protocol=protocol)

    def tls_chains(
        self, service: int, port: int, suffix: str, design: Design, proxy: ProxyFacts, *, protocol: str | None = None
    ) -> tuple[lc.FilterChain, ...]:
        real = int(self.real[service])
        return self.views[self.group[service]].tls_chains(real, port, suffix, design, proxy, protocol=protocol)

    def routes(self, vs: int, port: int, suffix: str, design: Design, proxy: ProxyFacts) -> tuple[rc.Route, ...]:
        raise TypeError("a stacked view has no routes of its own: ask routed() for a stand-in service")


def _with_vips(facts: ServiceFacts) -> ServiceFacts:
    # Designs read VIPs to name listeners; a destination's cluster prefix does not depend on them.
    return ServiceFacts(families=facts.families, vips=dict.fromkeys(facts.families, ""))


def mesh_objects(cluster: Cluster) -> MeshObjects:
    """The (cached) :class:`MeshObjects` of ``cluster`` (kept on it: :meth:`dsim.cluster.tables.Cluster.keep`)."""
    return cluster.keep("mesh_objects", lambda: MeshObjects(cluster))

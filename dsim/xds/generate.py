"""Everything istiod pushes to one sidecar under one design, as real Envoy messages.

The structure (which objects exist, their names and non-dual-stack fields) is shared code;
the design is asked only its dual-stack questions (:mod:`dsim.designs.base`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2

from dsim.cluster.alias_scopes import alias_scopes
from dsim.cluster.case_twins import gives_way
from dsim.cluster.egress_ports import PortListener
from dsim.cluster.known_hosts import taken_service_names
from dsim.cluster.passthrough_tls import every_endpoint_meshed
from dsim.designs.base import Bind, Design, OutboundCopy
from dsim.scenario.istio.rules import GRPC_WEB
from dsim.xds import clusters, endpoints, listeners, routes
from dsim.xds.access_logs import AccessLogging, add_access_logs
from dsim.xds.common import tracing
from dsim.xds.cross_port_vhosts import cross_port_vhosts
from dsim.xds.failover import LocalityRule, ProxyLocality, localised, locality_rule
from dsim.xds.mesh_objects import ObjectView, mesh_objects
from dsim.xds.names import cluster_name, sni
from dsim.xds.outbound_plan import OutboundPlan
from dsim.xds.policy import ClusterPolicy, passthrough
from dsim.xds.port80_vhosts import PORT_80, host_vhost, port80_vhosts
from dsim.xds.service_entries import (
    EntryConfig,
    WildcardChain,
    entry_config,
    entry_index,
    kept_parts,
    wildcard_listeners,
)
from dsim.xds.view import ClusterIndex, PortView, ProxyView, ServiceView, port_kind
from dsim.xds.vocabulary import XDS_TYPES as XDS_TYPES  # still imported from here by the calibration harness

# Proxies that see a service get the same cluster and endpoint set for it: build each once
# (istiod caches CDS and EDS across proxies the same way). The messages are shared, so callers
# copy before they change one.
_outbound_cluster = functools.lru_cache(maxsize=1 << 16)(clusters.outbound)
_load_assignment = functools.lru_cache(maxsize=1 << 16)(endpoints.load_assignment)


@functools.lru_cache(maxsize=1 << 16)
def _localised(locality: ProxyLocality, rule: LocalityRule, *args: Any) -> endpoint_pb2.ClusterLoadAssignment:
    """:func:`endpoints.load_assignment` (of ``args``) as a proxy in ``locality`` gets it under
    ``rule`` (istiod caches an endpoint set per cluster and the proxy's locality alike)."""
    return localised(_load_assignment(*args), locality, rule)


def clear_caches() -> None:
    """Forget every cached cluster and endpoint set (for measurements that must start cold)."""
    _outbound_cluster.cache_clear()
    _load_assignment.cache_clear()
    _localised.cache_clear()


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ProxyConfig:
    """One sidecar's resources under one design.

    Clusters and endpoint sets are shared with other proxies' configs (built once, as istiod
    caches them): copy a message (``CopyFrom``) before changing it.
    """

    design: str
    proxy: ProxyView
    listeners: tuple[listener_pb2.Listener, ...]
    clusters: tuple[cluster_pb2.Cluster, ...]
    routes: tuple[route_pb2.RouteConfiguration, ...]
    endpoints: tuple[endpoint_pb2.ClusterLoadAssignment, ...]

    def resources(self, xds_type: str) -> tuple[Any, ...]:
        return tuple(getattr(self, xds_type))


def proxy_config(index: ClusterIndex, proxy: int, design: Design) -> ProxyConfig:
    """The config istiod would push to ``proxy`` (a row of ``cluster.proxies``) under ``design``."""
    objects = mesh_objects(index.cluster)
    # Routes sized here are built into virtual hosts next: keep them meanwhile, not for the accounting.
    objects.keep_route_messages = True
    try:
        return _proxy_config(index, proxy, design)
    finally:
        objects.keep_route_messages = False


def _proxy_config(index: ClusterIndex, proxy: int, design: Design) -> ProxyConfig:
    view = index.proxy(proxy)
    mesh = index.cluster.scenario.mesh
    defaults = mesh_objects(index.cluster).defaults
    allow_any = view.allow_any
    unknown = listeners.PASSTHROUGH if allow_any else listeners.BLACKHOLE
    trace = tracing(view.canonical_service, view.canonical_revision, mesh.trust_domain, view.namespace)
    out_listeners: list[listener_pb2.Listener] = []
    out_clusters: list[cluster_pb2.Cluster] = []
    out_routes: list[route_pb2.RouteConfiguration] = []
    out_endpoints: list[endpoint_pb2.ClusterLoadAssignment] = []
    # The shared "P" route configurations (port, route suffix) an HTTP listener opens, each with
    # whether the first port to open it is gRPC-Web (its listener's connection manager is built for
    # that port alone: a later one finds the listener built), and the virtual hosts of HTTP and
    # sniffed ports P (they ride along where an HTTP port opens "P").
    opened: dict[tuple[int, str], bool] = {}
    shared_vhosts: dict[tuple[int, str], list[rc.VirtualHost]] = {}
    plan = OutboundPlan(view.egress)
    objects = mesh_objects(index.cluster).view(view.viewer)
    entries = entry_index(index)
    meshed = every_endpoint_meshed(index.cluster)
    taken_names = taken_service_names(index.cluster)
    aliases = alias_scopes(index.cluster)
    workload = int(index.cluster.proxies["workload"].iloc[view.proxy])
    wildcard: list[WildcardChain] = []
    # The names of the listeners on addresses, as they are built: Services' (which come first in the
    # registry) and ServiceEntry hosts' own; a later host's listener of a name taken is not built.
    address_listeners: set[str] = set()
    # Bound egress port listeners by (address, port), and the "P" route configurations their HTTP ones name.
    bound_listeners: dict[tuple[str, int], listener_pb2.Listener] = {}
    bound_routes: set[tuple[int, str]] = set()

    def chains_of(listener: PortListener | None) -> ObjectView:
        """The VirtualServices applied where an egress listener builds (``None``: the catch-all):
        those it imports, where the Sidecar's listeners are built port by port; else the proxy's."""
        if view.egress is None:
            return objects
        return mesh_objects(index.cluster).listener_view(view.viewer, view.egress.egress_of(listener))

    unmatched = port80_vhosts(index.cluster)
    crossing = cross_port_vhosts(index.cluster)
    seen_services = frozenset(svc.index for svc in view.outbound)
    twins = index.cluster.istio.case_twins

    def looked_up_among(port: int) -> frozenset[int]:
        """The services a VirtualService's hosts are looked up among in ``"<port>"``: those of the
        egress listener owning the port (``servicesByName``; the host lookup and, off port 80, which
        VirtualServices are walked, ``selectVirtualServices``), every one the proxy sees without
        port listeners."""
        return seen_services if view.egress is None else view.egress.owner(port)

    def other_hosts(port: int, suffix: str) -> list[rc.VirtualHost]:
        """The virtual hosts ``"<port><suffix>"`` holds for VirtualService hosts no service of the
        listener owning the port answers (docs/istio-objects.md 1.4): on port 80, and off it the
        other hosts of VirtualServices that build a service's virtual host there."""
        if port == PORT_80:
            if not unmatched:
                return []
            scope = unmatched.scope(proxy)
            return unmatched.vhosts(
                scope, unmatched.view_of(view.viewer), suffix, design, view.facts, looked_up_among(port)
            )
        if port not in crossing.ports:
            return []
        chains = (
            mesh_objects(index.cluster).routes_view(view.viewer)
            if view.egress is None
            else chains_of(plan.owning(port))
        )
        return crossing.vhosts(proxy, chains, port, suffix, design, view.facts, looked_up_among(port))

    def vhosts(svc: ServiceView, port: int, suffix: str, domains: list[str], target: str) -> list[rc.VirtualHost]:
        """The service's virtual host: its VirtualService's routes (none left for this family copy: no
        virtual host), or the default one where it has no VirtualService or its VirtualService has no
        HTTP route for this port (``buildSidecarVirtualHostsForVirtualService`` then builds nothing).
        The VirtualServices are those of the egress listener owning the port's route configurations.
        After it, one virtual host per host of that VirtualService that is another of the service's
        domains, which the service's then no longer holds (docs/istio-objects.md 1.4)."""
        owner = chains_of(plan.owning(port))
        vs = owner.routing_vs(svc.index, port)
        if vs is None:
            hashed = owner.destination_hash(svc.index, "", port)
            return [routes.service_vhost(svc.host, port, domains, target, hashed, mesh=defaults)]
        found = owner.routes(vs, port, suffix, design, view.facts)
        if not found:
            return []
        own = owner.domain_hosts(svc.index, port)
        kept = [domain for domain in domains if domain.lower() not in own]  # dedupeDomains ignores case
        return [routes.virtual_host(f"{svc.host}:{port}", kept, found), *(host_vhost(h, port, found) for h in own)]

    def add_clusters(svc: ServiceView, copy: OutboundCopy, port: PortView) -> None:
        """The service port's clusters (one per subset) and their endpoint sets."""
        rule = objects.rule(svc.index)
        entry = objects.rule_of_service.get(svc.index, -1)
        for subset in ("", *index.subsets(svc.index, entry)):
            name = cluster_name(copy.cluster_prefix, port.port, subset, svc.host)
            policy = objects.policy(svc.index, subset, port.port)
            out_clusters.append(
                _outbound_cluster(
                    name,
                    host=svc.host,
                    service=svc.name,
                    namespace=svc.namespace,
                    port=port.port,
                    protocol=port.protocol,
                    subset=subset,
                    identities=svc.identities,
                    sni=sni(port.port, subset, svc.host),
                    # A passthrough cluster's mTLS is all or nothing over its endpoints (3.5).
                    mtls=mesh.mtls != "DISABLE"
                    and (policy is None or not policy.passthrough_tls or bool(meshed[svc.index])),
                    rule=rule,
                    policy=policy,
                    mesh=defaults,
                    prefer_close=svc.prefer_close,
                )
            )
            if passthrough(policy):  # an ORIGINAL_DST cluster: no endpoint set
                continue
            rows = index.endpoints(svc.index, subset, entry)
            args = (name, rows, port.target_port, copy.endpoint_families, copy.endpoint_additional)
            localising = locality_rule(policy, defaults, svc.prefer_close)
            if localising is not None:
                out_endpoints.append(_localised(view.locality, localising, *args))
            else:
                out_endpoints.append(_load_assignment(*args))

    def service_listener(
        svc: ServiceView,
        copy: OutboundCopy,
        bind: Bind,
        port: PortView,
        kind: str,
        by: PortListener | None,
        *,
        bound: bool,
    ) -> listener_pb2.Listener:
        """The service port's TCP, TLS-routed or sniffed listener on ``bind`` (a sniffed one's route
        configuration joins the routes), its chains from the VirtualServices of the egress listener
        building it (``by``; ``None``: the catch-all)."""
        target = cluster_name(copy.cluster_prefix, port.port, "", svc.host)
        suffix = copy.route_suffix
        builds = chains_of(by)
        protocol = None if by is None else by.protocol  # a port listener's own protocol decides, not the service's
        routed = builds.tcp_chain(svc.index, port.port, suffix, design, view.facts, protocol=protocol)
        sni_chains = builds.tls_chains(svc.index, port.port, suffix, design, view.facts, protocol=protocol)
        if sni_chains:
            return listeners.outbound_tls_routed(bind, port.port, sni_chains, unknown, bound=bound)
        if kind == "tcp":
            mongo = builds.listener_protocol(svc.index, port.port, protocol) == "Mongo"
            return listeners.outbound_tcp(bind, port.port, target, routed, bound=bound, mongo=mongo)
        # A sniffed port gets its own route configuration holding only its service (domains "*"),
        # where the listener owning the port imports it and the port is HTTP or sniffed.
        route_name = f"{svc.host}:{port.port}{suffix}"
        sniffed = None
        if port.kind in ("http", "auto") and plan.has_vhost(svc.index, port.port):
            # Only the service's own virtual host answers "<host>:P" (getVirtualHostsForSniffedServicePort).
            sniffed = next(iter(vhosts(svc, port.port, suffix, ["*"], target)), None)
        elif port.kind in ("http", "auto"):
            # The listener owning the port does not hold the service: Istio answers this route
            # configuration from that listener, where a VirtualService's host for the service is one
            # of no service, and keeps its virtual host with domains "*" (getVirtualHostsForSniffedServicePort).
            named = f"{svc.host}:{port.port}"
            riding = next((v for v in other_hosts(port.port, suffix) if v.name == named), None)
            if riding is not None:
                sniffed = rc.VirtualHost()
                sniffed.CopyFrom(riding)
                sniffed.ClearField("domains")
                sniffed.domains.append("*")
        out_routes.append(routes.route_configuration(route_name, [sniffed] if sniffed else []))
        return listeners.outbound_auto(bind, port.port, route_name, target, trace, routed, bound=bound)

    def add_bound(
        svc: ServiceView,
        copies: tuple[OutboundCopy, ...],
        copy: OutboundCopy,
        port: PortView,
        kind: str,
        by: PortListener,
    ) -> None:
        """The service port under a bound egress port listener (docs/istio-objects.md 4.2): one
        listener on the bind for all the listener's services (``listenerKey{bind, port}``), the first
        service's; a later one adds only TCP chains matching something new (``mergeTCPFilterChains``).
        A bind names one address: of the service's copies, the one of its family builds it (else the
        first); the loopback of ``captureMode: NONE`` is the design's, per copy."""
        if by.bind:
            family = "IPv6" if ":" in by.bind else "IPv4"
            if copy is not next((c for c in copies if c.endpoint_families[0] == family), copies[0]):
                return
            bind = Bind(address=by.bind)
        else:
            bind = design.loopback_bind(view.facts, copy.route_suffix)
        key = (bind.address, port.port)
        built = bound_listeners.get(key)
        if kind == "http":
            if built is None:
                route_name = f"{port.port}{copy.route_suffix}"
                bound_listeners[key] = listeners.outbound_http_bound(
                    bind, port.port, route_name, trace, bound=by.capture_none, grpc_web=by.protocol == GRPC_WEB
                )
                bound_routes.add((port.port, copy.route_suffix))
            return
        if built is not None and kind == "auto":  # Auto over Auto: the first service's listener stands
            return
        made = service_listener(svc, copy, bind, port, kind, by, bound=by.capture_none)
        if built is None:
            bound_listeners[key] = made
        else:
            listeners.merge_tcp(built, made, unknown)

    def entry_of(svc: ServiceView) -> EntryConfig:
        """What a ServiceEntry host adds to this proxy, on the ports its egress plan keeps."""
        ports = plan.entry_ports(svc.index)
        return entry_config(
            index,
            svc.index,
            design,
            view.facts,
            trace,
            objects,
            ports,
            allow_any=allow_any,
            locality=view.locality,
            own_address=view.address,
            by_port_listener=plan.port_listener_ports(svc.index),
            proxy_namespace=view.namespace,
            aliases=functools.partial(aliases.for_workload, workload, svc.index),
        )

    # Destinations only a VirtualService brings into a Sidecar's scope: clusters, nothing else.
    for svc in view.destinations:
        if entries.is_entry(svc.index):
            built = entry_of(svc)
            out_clusters.extend(built.clusters)
            out_endpoints.extend(built.endpoints)
            continue
        for copy in design.outbound_copies(svc.facts, view.facts):
            for port in plan.cluster_ports(svc):
                add_clusters(svc, copy, port)

    for svc in view.outbound:
        if entries.is_entry(svc.index):  # a ServiceEntry host (docs/istio-objects.md section 3)
            built = entry_of(svc)
            out_clusters.extend(built.clusters)
            out_endpoints.extend(built.endpoints)
            own_listeners, own_routes = kept_parts(built, address_listeners)
            out_listeners.extend(own_listeners)
            out_routes.extend(own_routes)
            for port_number, suffix, _ in built.http:
                opened.setdefault((port_number, suffix), (port_number, suffix) in built.grpc_web)
            for port_number, suffix, entry_vhost in (*built.http, *built.riding):
                if entry_vhost is None or gives_way(twins, svc.index, port_number, seen_services):
                    continue
                if plan.has_vhost(svc.index, port_number):
                    shared_vhosts.setdefault((port_number, suffix), []).append(entry_vhost)
            wildcard.extend(built.wildcard)
            continue
        copies = design.outbound_copies(svc.facts, view.facts)
        for copy in copies:
            for port in plan.cluster_ports(svc):
                add_clusters(svc, copy, port)
            for port, kind, by in plan.listener_ports(svc):
                if by is not None and by.bound:
                    add_bound(svc, copies, copy, port, kind, by)
                elif kind == "http":  # the shared "P" listener
                    # A Sidecar's port listener builds with its own port's protocol, whatever the service's.
                    protocol = port.istio_protocol if by is None else by.protocol
                    opened.setdefault((port.port, copy.route_suffix), protocol == GRPC_WEB)
                else:
                    built_listener = service_listener(svc, copy, copy.bind, port, kind, by, bound=False)
                    address_listeners.add(built_listener.name)
                    out_listeners.append(built_listener)
            for port in svc.ports:  # a virtual host in "P" (riding along, for a sniffed port)
                if port.kind not in ("http", "auto") or not plan.has_vhost(svc.index, port.port):
                    continue
                if gives_way(twins, svc.index, port.port, seen_services):  # a later twin's stands (case_twins)
                    continue
                target = cluster_name(copy.cluster_prefix, port.port, "", svc.host)
                named = aliases.for_workload(workload, svc.index, port.port)  # its ExternalName Services'
                domains = routes.domains(
                    svc.host, svc.name, svc.namespace, view.namespace, copy.domain_vips, aliases=named
                )
                if (taken := taken_names.get((svc.index, port.port))) is not None:  # dsim.cluster.known_hosts
                    dropped = taken[0] if svc.namespace == view.namespace else taken[1]
                    domains = [d for d in domains if d not in dropped]
                shared = vhosts(svc, port.port, copy.route_suffix, domains, target)
                if shared:
                    shared_vhosts.setdefault((port.port, copy.route_suffix), []).extend(shared)

    out_listeners.extend(bound_listeners.values())
    # "P" holds the virtual hosts of every HTTP or sniffed port P where an HTTP listener opens it
    # (docs/istio-objects.md 1.2): the shared wildcard one, or a bound one.
    http_listeners: dict[tuple[int, str], listener_pb2.Listener] = {}
    for port_number, suffix in sorted(opened.keys() | bound_routes):
        route_name = f"{port_number}{suffix}"
        if (port_number, suffix) in opened:
            bind = design.http_bind(view.facts, suffix)
            shared = listeners.outbound_http(
                bind, port_number, route_name, trace, unknown, grpc_web=opened[(port_number, suffix)]
            )
            http_listeners[(port_number, suffix)] = shared
            out_listeners.append(shared)
        held = shared_vhosts.get((port_number, suffix), [])
        held = held + other_hosts(port_number, suffix)  # VirtualService hosts no service answers (1.4)
        ordered = sorted(held, key=lambda v: v.name)
        out_routes.append(routes.route_configuration(route_name, [*ordered, routes.catch_all(allow_any)]))

    # Address-less ServiceEntry TCP/TLS ports: wildcard listeners, or chains of the HTTP one (3.4).
    out_listeners.extend(wildcard_listeners(design, view.facts, wildcard, http_listeners, unknown))

    logging = AccessLogging.of(mesh)
    for listener in out_listeners:
        add_access_logs(listener, logging)
    virtual = [
        listeners.virtual_outbound(named.name, named.bind, unknown) for named in design.virtual_outbound(view.facts)
    ]
    own_ports = [(p, port_kind(p.protocol)) for p in view.inbound]
    virtual.extend(
        listeners.virtual_inbound(spec, own_ports, mesh.mtls, trace, mesh.trust_domain)
        for spec in design.virtual_inbound(view.facts)
    )
    for listener in virtual:
        add_access_logs(listener, logging, virtual=True)
    out_listeners.extend(virtual)

    # A DestinationRule's workloadSelector counts outbound only: inbound clusters take the namespace's rules.
    own_rules = mesh_objects(index.cluster).view(view.namespace_index)
    inbound_rules = [own_rules.inbound_rule(p.service, p.service_port) for p in view.inbound]
    # A Sidecar's inbound connection pool replaces the rule's (InboundConnectionPoolForPort); the path stays.
    inbound_rules = [
        rule if p.pool is None else (rule[0], ClusterPolicy(connection_pool=p.pool))
        for p, rule in zip(view.inbound, inbound_rules, strict=True)
    ]
    for inbound in design.inbound_clusters(view.facts):
        out_clusters.extend(
            clusters.inbound(
                inbound,
                p.target_port,
                p.endpoint,
                p.protocol,
                p.services,
                *rule,
                mesh=defaults,
                port_override=p.port_override,
            )
            for p, rule in zip(view.inbound, inbound_rules, strict=True)
        )
    out_clusters.extend([clusters.blackhole(mesh=defaults), clusters.passthrough(mesh=defaults)])
    out_clusters.extend(
        clusters.inbound_passthrough(spec, mesh=defaults) for spec in design.passthrough_clusters(view.facts)
    )

    return ProxyConfig(
        design=design.name,
        proxy=view,
        listeners=tuple(out_listeners),
        clusters=tuple(out_clusters),
        routes=tuple(out_routes),
        endpoints=tuple(out_endpoints),
    )

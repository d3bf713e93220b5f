"""What a ServiceEntry host gives a sidecar, as real Envoy messages (``docs/istio-objects.md`` section 3).

One function, :func:`entry_config`, builds everything one ServiceEntry host (a ``services`` row
with ``entry >= 0``) adds to a proxy of given families under a design: its clusters by resolution
(3.2: ``STATIC`` → ``EDS``, ``DNS`` → ``STRICT_DNS``, ``DNS_ROUND_ROBIN`` → ``LOGICAL_DNS``, both
with an inline assignment, ``NONE`` → ``ORIGINAL_DST``), its endpoint sets (3.3: the entry's
``endpoints``, the pods its ``workloadSelector`` selects, or the host itself for DNS), its listeners
(3.4: one per address for TCP, TLS and sniffed ports; a virtual host in the shared ``"P"`` route
configuration for HTTP ports and for sniffed ports without an address, which open it; a chain of
the wildcard ``0.0.0.0_P`` listener for a TCP, TLS or sniffed port without an address, which joins
an HTTP port's listener there) and its mTLS by location (3.5). The protobuf path
(:mod:`dsim.xds.generate`) assembles these pieces per proxy; the vectorized accounting
(:mod:`dsim.accounting.entries`) prices the very same pieces once per proxy family class, so the two
agree by construction.

A DestinationRule covering the host shapes its clusters as it shapes a Service's (3.8): its
policies, a cluster per subset over the endpoints whose labels the subset's hold, the hash of its
routes. A VirtualService naming it gives its virtual hosts their routes, its TCP and sniffed
listeners their TCP route's chain and its TLS ones their TLS routes' SNI chains (3.9). What dsim
leaves out, counted in the run's notes: CIDR addresses, the dynamic forward proxy for wildcard
hosts, the c-ares resolver settings and ``dns_jitter`` of DNS clusters.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2 as ec
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from google.protobuf import duration_pb2, wrappers_pb2

from dsim.cluster.default_exports import kubernetes_service_exports, written_service_exports
from dsim.cluster.hostnames import route_host, short_names
from dsim.cluster.known_hosts import entry_hosts_by_port
from dsim.cluster.labels import canonical_revision, canonical_service, endpoint_revision, selects
from dsim.cluster.passthrough_tls import every_endpoint_meshed
from dsim.cluster.service_entries import entry_addresses, listens_per_endpoint, registry_rows
from dsim.designs.base import Bind, Design, EntryCopy, EntryFacts, OutboundCopy, ProxyFacts
from dsim.memo import instance_cache
from dsim.scenario.istio import ServiceEntry
from dsim.scenario.istio.destination_rule import LoadBalancerSettings, Subset
from dsim.scenario.istio.rules import GRPC_WEB, HTTP_PROTOCOLS, TLS_PROTOCOLS
from dsim.scenario.istio.service_entry import WorkloadEntry
from dsim.scenario.model import IpFamily
from dsim.wire import UINT32_MAX
from dsim.xds import clusters, endpoints, listeners, routes
from dsim.xds.common import metadata, outbound_chain, socket_address, tcp_filters
from dsim.xds.failover import ProxyLocality, localised, locality_rule
from dsim.xds.listeners import Tracing
from dsim.xds.mesh_objects import ObjectView
from dsim.xds.names import cluster_name, listener_name, sni, spiffe_id
from dsim.xds.policy import mesh_context_alone, passthrough
from dsim.xds.view import CLUSTER_ID, ClusterIndex, PortView

CLUSTER_TYPE = {
    "STATIC": cluster_pb2.Cluster.EDS,
    "DNS": cluster_pb2.Cluster.STRICT_DNS,
    "DNS_ROUND_ROBIN": cluster_pb2.Cluster.LOGICAL_DNS,
    "NONE": cluster_pb2.Cluster.ORIGINAL_DST,
}
DNS_REFRESH_S = 60  # meshConfig.dnsRefreshRate's default
SERVER_FIRST_PROTOCOLS = ("Mongo", "MySQL")
"""Protocols whose ports share no listener with another protocol (``isConflictWithWellKnownPort``)."""
SNIFFED = "auto"
"""The protocol of the shared HTTP listener of a port on the wildcard (Istio's ``Unsupported``)."""


def server_first_conflict(incoming: str, held: str) -> bool:
    """Whether a port of protocol ``incoming`` may not join a listener of protocol ``held``."""
    return incoming != held and (incoming in SERVER_FIRST_PROTOCOLS or held in SERVER_FIRST_PROTOCOLS)


_CLUSTER_PROTOCOL = {p: p for p in (*HTTP_PROTOCOLS, "auto")}


def entry_port_kind(protocol: str) -> str:
    """How a ServiceEntry port is served: ``http`` (the shared ``"P"`` routes), ``tls`` (SNI
    chains), ``auto`` (sniffed: VIP listener with both chains), ``udp`` (nothing) or ``tcp``."""
    if protocol in HTTP_PROTOCOLS:
        return "http"
    if protocol in TLS_PROTOCOLS:
        return "tls"
    if protocol in ("auto", "UDP"):
        return "auto" if protocol == "auto" else "udp"
    return "tcp"


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryView:
    """One ServiceEntry host as the builders need it."""

    service: int
    host: str
    namespace: str
    entry: ServiceEntry
    facts: EntryFacts
    ports: tuple[PortView, ...]
    identities: tuple[str, ...]
    """SANs its mTLS clusters verify: ``subjectAltNames``, then its selected pods' identities."""
    selected: bool
    """Its endpoints are the pods of a ``workloadSelector``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class WildcardChain:
    """A chain of the wildcard listener of ``(port, route suffix)`` (an address-less TCP/TLS port)."""

    port: int
    suffix: str
    tls: bool
    """Matched by SNI (a host's own, or its VirtualService's TLS routes'; the first chain of equal
    server names wins); else the plain TCP chain (the first entry's wins)."""
    chain: lc.FilterChain
    protocol: str = "TCP"
    """Its port's protocol: a Mongo or MySQL port shares no listener with another protocol."""

    @property
    def server_names(self) -> tuple[str, ...]:
        return tuple(self.chain.filter_chain_match.server_names)


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryConfig:
    """Everything one ServiceEntry host adds to one proxy (but the shared listeners and routes)."""

    clusters: tuple[cluster_pb2.Cluster, ...] = ()
    endpoints: tuple[endpoint_pb2.ClusterLoadAssignment, ...] = ()
    listeners: tuple[listener_pb2.Listener, ...] = ()
    """Its own listeners for TCP and TLS ports (one per address)."""
    auto_listeners: tuple[listener_pb2.Listener, ...] = ()
    """Its own listeners for sniffed ports (they carry the proxy's tracing)."""
    auto_routes: tuple[str, ...] = ()
    """The route configuration each of ``auto_listeners`` names."""
    routes: tuple[route_pb2.RouteConfiguration, ...] = ()
    """``"<host>:<port>"`` route configurations of its sniffed ports."""
    http: tuple[tuple[int, str, rc.VirtualHost | None], ...] = ()
    """(port, route suffix, virtual host) it adds to the shared ``"<port><suffix>"`` configuration,
    which its HTTP port opens (``None``: its VirtualService left this family copy no route)."""
    riding: tuple[tuple[int, str, rc.VirtualHost], ...] = ()
    """The same for its sniffed ports: added only where an HTTP port opens that configuration."""
    wildcard: tuple[WildcardChain, ...] = ()
    grpc_web: frozenset[tuple[int, str]] = frozenset()
    """The (port, route suffix) of :attr:`http` whose port is gRPC-Web: where it is the first to open
    ``"<port><suffix>"``, the listener's connection manager carries a ``grpc_web`` filter."""


class EntryIndex:
    """The ServiceEntry hosts of one cluster, by ``services`` row."""

    def __init__(self, index: ClusterIndex) -> None:
        self.index = index
        cluster = index.cluster
        self.entry_of = cluster.services["entry"].to_numpy()
        self.services = [int(s) for s in (self.entry_of >= 0).nonzero()[0]]
        # A host already in the registry in the entry's namespace: the first one serves it there.
        namespaces = np.asarray(index.namespace_names, dtype=object)[cluster.services["namespace"].to_numpy()]
        registry = set(registry_rows(index.hosts, namespaces.tolist()))
        self.shadowed = {s for s in self.services if s not in registry}
        entries = cluster.istio.service_entries
        self.per_endpoint = [
            s for s in self.services if s not in self.shadowed and listens_per_endpoint(entries[int(self.entry_of[s])])
        ]
        """The hosts with per-endpoint listeners (:func:`listens_per_endpoint`), in service order."""

    def is_entry(self, service: int) -> bool:
        return bool(self.entry_of[service] >= 0)

    @instance_cache
    def alternative_names(
        self, service: int, port: int, proxy_namespace: str
    ) -> tuple[tuple[str, ...], frozenset[str]]:
        """The names ``GenerateAltVirtualHosts`` expands host ``service`` to for a proxy of
        ``proxy_namespace`` (docs/istio-objects.md 1.3): the host with a trailing dot, then its short
        names inside ``svc.<cluster domain>`` (:func:`dsim.cluster.hostnames.short_names`); and those
        its virtual host in ``"<port>"`` leaves out: the ones equal to another entry host of the
        route configuration (:mod:`dsim.cluster.known_hosts`), and ``*``, the short name of a
        wildcard host in its own namespace, which Envoy refuses beside the catch-all virtual host
        (Istio sends it and the proxy rejects the route configuration; counted in the notes)."""
        host = route_host(self.view(service).host)
        domain = self.index.cluster.scenario.mesh.cluster_domain
        known = entry_hosts_by_port(self.index.cluster).get(port, frozenset())
        names = (f"{host}.", *short_names(host, proxy_namespace, domain))
        return names, frozenset(a for a in names if a == "*" or a.lower() in known)

    @functools.cached_property
    def address_services(self) -> tuple[int, ...]:
        """The Kubernetes Services whose ClusterIP some entry lists among its addresses, by row
        (docs/istio-objects.md 3.4): they come first in the registry, so their listener on that
        address and their virtual host's domain of it stand, and the entry's give way. A Service
        exported to no namespace (``~``) is not in istiod's index, and holds nothing."""
        listed = {text for s in self.services if s not in self.shadowed for _, text in self.view(s).facts.addresses}
        if not listed:
            return ()
        index = self.index
        candidates = [
            index.service(service)
            for service, (vip4, vip6) in enumerate(zip(index.vip4, index.vip6, strict=True))
            if not self.is_entry(service) and (vip4 in listed or vip6 in listed)
        ]
        scenario = index.cluster.scenario
        written = written_service_exports(scenario) if candidates else {}
        return tuple(
            svc.index
            for svc in candidates
            if kubernetes_service_exports(scenario, written, svc.name, svc.namespace) != frozenset()
        )

    @instance_cache
    def service_listener_names(self, design: Design, proxy: ProxyFacts) -> dict[str, int]:
        """Listener name → the Service of :attr:`address_services` whose TCP or sniffed port builds it
        on a ``proxy``-family sidecar under ``design`` (on its copy's bind, as the catch-all builds
        it): an entry's own listener of that name is not built where the proxy sees the Service."""
        names: dict[str, int] = {}
        for service in self.address_services:
            view = self.index.service(service)
            for copy in design.outbound_copies(view.facts, proxy):
                for port in view.ports:
                    if port.kind != "http":
                        names.setdefault(listener_name(copy.bind.address, port.port), service)
        return names

    @instance_cache
    def address_domain_owners(self, design: Design, proxy: ProxyFacts) -> dict[tuple[int, str, str], int]:
        """(port, route suffix, address) → the host whose virtual host in ``"<port><suffix>"`` keeps
        that address as a domain, where hosts share an address (several hosts of one entry, entries
        written with the same address, or a Service's ClusterIP an entry lists): the first in the
        registry's order, Services before entries, for every proxy and view alike. ``dedupeDomains``
        keeps a domain in the first virtual host of the route configuration holding it: a
        VirtualService's before the default ones, which ``BuildSidecarVirtualHostWrapper`` walks in
        Go map order, a new draw at every push; dsim does not follow the VirtualService's
        precedence, which would make the owner depend on the viewer (docs/istio-objects.md 1.3)."""
        owners: dict[tuple[int, str, str], int] = {}

        def hold(service: int, web: Sequence[int], copies: Sequence[OutboundCopy | EntryCopy]) -> None:
            for copy in copies if web else ():
                for port in web:
                    for address in copy.domain_vips:
                        owners.setdefault((port, copy.route_suffix, address.lower()), service)

        for service in self.address_services:
            kubernetes = self.index.service(service)
            web = [p.port for p in kubernetes.ports if p.kind in ("http", "auto")]
            hold(service, web, design.outbound_copies(kubernetes.facts, proxy))
        for service in self.services:
            if service not in self.shadowed:
                view = self.view(service)
                web = [p.port for p in view.ports if entry_port_kind(p.protocol) in ("http", "auto")]
                hold(service, web, design.entry_copies(view.facts, proxy))
        return owners

    @instance_cache
    def view(self, service: int) -> EntryView:
        index = self.index
        entry = index.cluster.istio.service_entries[int(self.entry_of[service])]
        families = tuple(index.columns["ip_families"][service].split(","))
        base = index.service(service)
        trust = index.cluster.scenario.mesh.trust_domain
        # The sorted union of the entry's names and its endpoints' accounts, selected pods' and listed
        # ones' (addServiceAccounts over the endpoint shards; convertWorkloadEntryToWorkloadInstance).
        accounts = {index.columns["service_account"][w] for w in index.workloads_of_service.get(service, [])}
        accounts.update(e.service_account for e in entry.spec.endpoints if e.service_account)
        identities = {*entry.spec.subject_alt_names, *(spiffe_id(trust, entry.namespace, sa) for sa in accounts)}
        return EntryView(
            service=service,
            host=base.host,
            namespace=entry.namespace,
            entry=entry,
            facts=EntryFacts(families=families, addresses=entry_addresses(entry)),
            ports=base.ports,
            identities=tuple(sorted(identities)),
            selected=entry.spec.workload_selector is not None,
        )


def per_endpoint_pods(index: ClusterIndex) -> frozenset[int]:
    """The pods some host's per-endpoint listeners bind (:func:`per_endpoint_binds`): each one's
    own proxy gets a config of its own, without its listeners."""
    return frozenset(
        pod
        for service in entry_index(index).per_endpoint
        for workload in index.endpoint_workloads_of_service.get(service, [])
        for pod in index.pods_of_workload.get(workload, [])
    )


def entry_index(index: ClusterIndex) -> EntryIndex:
    """The (cached) :class:`EntryIndex` of ``index``'s cluster (kept on it: ``Cluster.keep``)."""
    return index.cluster.keep("entry_index", lambda: EntryIndex(index))


def _family(address: str) -> IpFamily | None:
    try:
        return "IPv4" if ipaddress.ip_address(address).version == 4 else "IPv6"
    except ValueError:
        return None  # a hostname


def _inline_endpoints(view: EntryView, copy: EntryCopy, labels: Mapping[str, str]) -> list[tuple[str, WorkloadEntry]]:
    """The entry's own endpoints this copy carries whose labels hold ``labels`` (a subset's; the
    host itself, for DNS without endpoints, has none), each with its workload name: ``<entry>-<index>``
    (the endpoint's place in the entry, before any filter), the entry's own name for the host itself.
    ``convertServiceEntryToInstances`` names the endpoint so, and ``WorkloadNameFromWorkloadEntry``
    reads only that name's own labels and annotations, which it has none of: the endpoint's labels,
    ``service.istio.io/workload-name`` included, never rename it."""
    spec = view.entry.spec
    name = view.entry.name
    listed = [(f"{name}-{i}", e) for i, e in enumerate(spec.endpoints)]
    if not listed and spec.resolution in ("DNS", "DNS_ROUND_ROBIN"):
        listed = [(name, WorkloadEntry(address=view.host))]
    if copy.endpoint_split:
        listed = [(w, e) for w, e in listed if _family(e.address) in (None, *copy.endpoint_families)]
    return [(w, e) for w, e in listed if selects(labels, e.labels)]


def per_endpoint_binds(
    index: ClusterIndex, view: EntryView, copy: EntryCopy, own_address: str
) -> tuple[Bind, ...] | None:
    """Where the host listens per endpoint (:func:`listens_per_endpoint`), the binds of its
    listeners for TCP, TLS and sniffed ports in this copy (``None``: it does not). Istio treats
    such a host as it treats a headless Service (``buildSidecarOutboundListeners``): one listener
    per endpoint, bound to the endpoint's addresses (the first, the others additional), and none
    where it has no endpoint, since it has a selector. The endpoints are those of the host's EDS
    set in this design (one per pod with additional addresses, or one per address); the one whose
    first address is the proxy's own (``own_address``) is skipped, as its traffic never leaves the
    pod."""
    if not listens_per_endpoint(view.entry):
        return None
    rows = index.endpoints(view.service, "", -1)
    # A headless Service's slices are one per family, and its pods' two addresses are merged into
    # one endpoint only for a Service with two cluster IPs, which it never has (3.11).
    merged = copy.endpoint_additional and not view.entry.headless
    found: dict[str, Bind] = {}  # by first address: a pod listed twice (a push-model clone) is one listener
    for row in range(len(rows.locality)):
        addresses = [a for a in (rows.address(row, f) for f in copy.endpoint_families) if a]
        for one in [addresses] if merged and addresses else [[a] for a in addresses]:
            if one[0] != own_address:
                found.setdefault(one[0], Bind(address=one[0], additional=tuple(one[1:])))
    return tuple(found.values())


def entry_endpoints_meshed(index: ClusterIndex, view: EntryView) -> bool:
    """Whether a passthrough cluster of the host gets Istio mTLS (where auto mTLS would give it):
    only where the host has an endpoint and every one of them runs a sidecar, from every family and
    whatever its health (``BestEffortInferServiceMTLSMode`` over ``ServiceEndpointsByPort``; an
    endpoint whose ``tlsMode`` is ``disabled`` turns the whole cluster plain). A selected pod has
    ``istio`` with a sidecar (:func:`dsim.cluster.passthrough_tls.every_endpoint_meshed`); a listed
    endpoint as :func:`_inline_assignment` reads it; a DNS host standing for itself is ``disabled``."""
    if view.selected:
        return bool(every_endpoint_meshed(index.cluster)[view.service])
    listed = view.entry.spec.endpoints
    modes = [e.labels.get(TLS_MODE_LABEL, "istio" if e.service_account else "disabled") for e in listed]
    return bool(modes) and "disabled" not in modes


def _subset(objects: ObjectView, service: int, subset: str) -> Subset:
    """Subset ``subset`` of the rule shaping ``service`` in ``objects``."""
    spec = objects.objects.spec(objects.rule_of_service[service])
    return next(s for s in spec.subsets if s.name == subset)


def _subset_labels(objects: ObjectView, service: int, subset: str) -> Mapping[str, str]:
    """The labels subset ``subset`` selects by (``""``, the default cluster: none, every endpoint)."""
    return _subset(objects, service, subset).labels if subset else {}


def _own_passthrough(objects: ObjectView, service: int, subset: str) -> bool:
    """Whether the subset's own traffic policy (top level) asks for a PASSTHROUGH load balancer."""
    own = _subset(objects, service, subset).traffic_policy
    lb = own.load_balancer if own is not None else None
    return lb is not None and lb.simple == "PASSTHROUGH"


TLS_MODE_LABEL = "security.istio.io/tlsMode"


def _inline_assignment(
    name: str, view: EntryView, port: PortView, listed: Sequence[tuple[str, WorkloadEntry]]
) -> endpoint_pb2.ClusterLoadAssignment:
    """The entry's endpoints (with their workload names, :func:`_inline_endpoints`) by locality, each
    at its port override or the port's target port. Metadata as for a workload entry: ``tlsMode`` from
    its label, else ``istio`` for an endpoint with a service account (``getTLSModeFromWorkloadEntry``),
    written whatever its value but empty or ``disabled`` (``AppendLbEndpointMetadata``: only ``istio``
    matches the cluster's mTLS socket, but the metadata carries any); ``istio.workload`` as
    ``AppendLbEndpointMetadata`` writes it: the workload name, the entry's namespace, the canonical
    name from the labels (else the workload name), the canonical revision (left out when ``latest``)."""
    groups: dict[str, list[ec.LbEndpoint]] = {}
    for workload_name, endpoint in listed:
        filters: dict[str, dict[str, str]] = {}
        tls_mode = endpoint.labels.get(TLS_MODE_LABEL, "istio" if endpoint.service_account else "")
        if tls_mode not in ("", "disabled"):
            filters["envoy.transport_socket_match"] = {"tlsMode": tls_mode}
        workload = ";".join(
            (
                workload_name,
                view.namespace,
                canonical_service(endpoint.labels, workload_name),
                endpoint_revision(canonical_revision(endpoint.labels)),
                CLUSTER_ID,
            )
        )
        filters["istio"] = {"workload": workload}
        number = endpoint.ports.get(port.name, port.target_port)
        groups.setdefault(endpoint.locality, []).append(
            ec.LbEndpoint(
                endpoint=ec.Endpoint(address=socket_address(endpoint.address, number)),
                health_status=health_check_pb2.HEALTHY,
                metadata=metadata(filters),
                load_balancing_weight=wrappers_pb2.UInt32Value(value=endpoint.weight or 1),
            )
        )
    cla = endpoint_pb2.ClusterLoadAssignment(cluster_name=name)
    for locality in sorted(groups):
        group = cla.endpoints.add(lb_endpoints=groups[locality])
        group.locality.SetInParent()
        parts = [*locality.split("/"), "", "", ""][:3]
        group.locality.region, group.locality.zone, group.locality.sub_zone = parts
        # istiod's sum stops at the largest uint32 (addUint32, with a warning) rather than wrap.
        weight = sum(e.load_balancing_weight.value for e in groups[locality])
        group.load_balancing_weight.value = min(weight, UINT32_MAX)
    return cla


def _cluster(
    index: ClusterIndex,
    view: EntryView,
    port: PortView,
    copy: EntryCopy,
    mtls: bool,
    objects: ObjectView,
    subset: str,
    locality: ProxyLocality | None,
) -> tuple[cluster_pb2.Cluster | None, endpoint_pb2.ClusterLoadAssignment | None]:
    """One cluster of the host's port (``subset``: a subset's, of the DestinationRule ``objects``
    gives it) and its EDS endpoint set; ``(None, None)`` where Istio builds no such cluster: a DNS
    cluster without endpoints (``buildCluster``), as a subset no endpoint's labels hold makes one.
    Its endpoints, inline or EDS, are prioritised or weighted for a proxy in ``locality`` where the
    policy fails over or distributes (``None``: left as they are, as where the policy does neither)."""
    spec = view.entry.spec
    name = cluster_name(copy.cluster_prefix, port.port, subset, view.host)
    kind = CLUSTER_TYPE[spec.resolution]
    policy = objects.policy(view.service, subset, port.port)
    if kind == cluster_pb2.Cluster.ORIGINAL_DST and policy is not None and policy.load_balancer is not None:
        # applyLoadBalancer leaves an ORIGINAL_DST cluster CLUSTER_PROVIDED whatever the rule asks,
        # after it has applied the locality setting (locality_weighted_lb_config stays).
        setting = policy.load_balancer.locality_lb_setting
        kept = LoadBalancerSettings(locality_lb_setting=setting) if setting is not None else None
        policy = dataclasses.replace(policy, load_balancer=kept)
    elif subset and _own_passthrough(objects, view.service, subset):
        # buildSubsetCluster reads the subset's own load balancer (not the rule's) to build it ORIGINAL_DST
        # from the start; a rule-wide PASSTHROUGH turns it ORIGINAL_DST only later, as the default cluster.
        kind = cluster_pb2.Cluster.ORIGINAL_DST
    internal = spec.location == "MESH_INTERNAL"
    # A NONE host is Passthrough whatever its rule; else the policy the inference reads decides (3.5).
    through = spec.resolution == "NONE" or (policy is not None and policy.passthrough_tls)
    cluster = clusters.outbound(
        name,
        host=view.host,
        service=view.entry.name if view.entry.headless else view.host,
        namespace=view.namespace,
        port=port.port,
        protocol=_CLUSTER_PROTOCOL.get(port.protocol, "TCP"),
        subset=subset,
        identities=view.identities,
        sni=sni(port.port, subset, view.host),
        mtls=mtls and internal and (not through or entry_endpoints_meshed(index, view)),
        rule=objects.rule(view.service),
        policy=policy,
        entry=not view.entry.headless,
        mesh=objects.defaults,
    )
    if not internal:
        cluster.metadata.filter_metadata["istio"]["external"] = True
    if kind == cluster_pb2.Cluster.ORIGINAL_DST:
        cluster.ClearField("eds_cluster_config")
        cluster.type = kind
        cluster.lb_policy = cluster_pb2.Cluster.CLUSTER_PROVIDED
        mesh_context_alone(cluster)
        override = view.entry.passthrough_target_ports.get(port.port)
        if override:
            cluster.original_dst_lb_config.upstream_port_override.value = override
        return cluster, None
    if view.selected:
        rows = index.endpoints(view.service, subset, objects.rule_of_service.get(view.service, -1))
        assignment = endpoints.load_assignment(
            name, rows, port.target_port, copy.endpoint_families, copy.endpoint_additional
        )
    else:
        labels = _subset_labels(objects, view.service, subset)
        assignment = _inline_assignment(name, view, port, _inline_endpoints(view, copy, labels))
    dns = kind != cluster_pb2.Cluster.EDS
    if dns and not assignment.endpoints:
        return None, None
    rule = locality_rule(policy, objects.defaults)
    if locality is not None and rule is not None:
        assignment = localised(assignment, locality, rule)
    if passthrough(policy):  # the default cluster of a PASSTHROUGH rule: applyLoadBalancer dropped its endpoints
        if dns:
            _dns_settings(cluster, copy)
        return cluster, None
    if not dns:
        return cluster, assignment
    cluster.ClearField("eds_cluster_config")
    cluster.type = kind
    _dns_settings(cluster, copy)
    cluster.load_assignment.CopyFrom(assignment)
    return cluster, None


def _vhost(
    objects: ObjectView,
    design: Design,
    proxy: ProxyFacts,
    view: EntryView,
    port: int,
    suffix: str,
    domains: list[str],
    *,
    target: str,
) -> rc.VirtualHost | None:
    """The host's virtual host on ``port`` in route configuration ``<port><suffix>``: its
    VirtualService's routes (``None``: that family copy kept none of them), else the default route,
    as a Service's (docs/istio-objects.md 1.2 and 1.4)."""
    vs = objects.routing_vs(view.service, port)
    host = route_host(view.host)
    if vs is None:
        # Istio looks the hash's DestinationRule up by the lower-cased host (hashForService), and
        # rules are indexed by their host as written: a host with a capital letter finds its own none.
        hashed = objects.destination_hash(view.service, "", port) if host == view.host else None
        return routes.service_vhost(host, port, domains, target, hashed, mesh=objects.defaults)
    found = objects.routes(vs, port, suffix, design, proxy)
    return routes.virtual_host(f"{host}:{port}", domains, found) if found else None


def _dns_settings(cluster: cluster_pb2.Cluster, copy: EntryCopy) -> None:
    """What ``buildCluster`` gives a STRICT_DNS or LOGICAL_DNS cluster."""
    cluster.dns_lookup_family = cluster_pb2.Cluster.DnsLookupFamily.Value(copy.dns_lookup_family)
    cluster.respect_dns_ttl = True
    cluster.dns_refresh_rate.CopyFrom(duration_pb2.Duration(seconds=DNS_REFRESH_S))


def wildcard_listener(
    bind: Bind, port: int, sni: Sequence[lc.FilterChain], tcp: lc.FilterChain | None, unknown: str
) -> listener_pb2.Listener:
    """The wildcard listener of an address-less TCP/TLS port no HTTP port shares: its SNI chains
    (with the TLS inspector) and its TCP chain, laid out as ``buildListenerFromEntry`` lays them out
    (the TCP chain the default one beside SNI chains; SNI chains alone fall through to ``unknown``)."""
    listener = listeners.outbound_tcp(bind, port, "")
    del listener.filter_chains[:]
    if sni:
        listener.listener_filters.append(listeners.tls_inspector())
    listeners.lay_out(listener, [*sni, *([tcp] if tcp is not None else [])], unknown)
    return listener


def entry_config(
    index: ClusterIndex,
    service: int,
    design: Design,
    proxy: ProxyFacts,
    trace: Tracing,
    objects: ObjectView,
    only: frozenset[int] | None = None,
    *,
    allow_any: bool,
    locality: ProxyLocality | None = None,
    own_address: str = "",
    by_port_listener: frozenset[int] = frozenset(),
    proxy_namespace: str = "",
    aliases: Callable[[int], Sequence[str]] | None = None,
) -> EntryConfig:
    """What ServiceEntry host ``service`` adds to a ``proxy``-family sidecar under ``design``, its
    clusters shaped by the DestinationRule ``objects`` (the proxy's view) gives it: its policies,
    a cluster per subset, the hash of its routes; its routes and chains those of the VirtualServices
    the view walks for it (``only``: for those port numbers alone; ``None``: every port;
    ``allow_any``: the proxy's outbound traffic policy, where a TLS-routed listener falls through;
    ``locality``: the proxy's, by which endpoint sets that fail over or distribute are localised;
    ``own_address``: the proxy's first IP, whose per-endpoint listener it does not get;
    ``by_port_listener``: the ports a Sidecar's port listener builds, where it gets none;
    ``proxy_namespace``: the proxy's, whence short names resolve; ``aliases``: per port, the names
    its ExternalName Services add to its virtual host for the proxy, none where not given: the
    accounting adds them per scope)."""
    entries = entry_index(index)
    if service in entries.shadowed:
        return EntryConfig()
    view = entries.view(service)
    subsets = index.subsets(service, objects.rule_of_service.get(service, -1))
    mesh = index.cluster.scenario.mesh
    unknown = listeners.PASSTHROUGH if allow_any else listeners.BLACKHOLE
    out: dict[str, list[object]] = {
        k: []
        for k in (
            "clusters",
            "endpoints",
            "listeners",
            "auto",
            "auto_routes",
            "routes",
            "http",
            "riding",
            "wild",
            "grpc_web",
        )
    }
    for copy in design.entry_copies(view.facts, proxy):
        per_endpoint = per_endpoint_binds(index, view, copy, own_address)
        for port in view.ports:
            kind = entry_port_kind(port.protocol)
            if kind == "udp" or (only is not None and port.port not in only):
                continue
            for subset in ("", *subsets):
                cluster, assignment = _cluster(
                    index, view, port, copy, mesh.mtls != "DISABLE", objects, subset, locality
                )
                if cluster is not None:
                    out["clusters"].append(cluster)
                if assignment is not None:
                    out["endpoints"].append(assignment)
            target = cluster_name(copy.cluster_prefix, port.port, "", view.host)
            suffix = copy.route_suffix
            # The default route names the host as the route builder spells it: a cluster of that
            # name exists only where the host is lower-case (routes.route_host).
            routed_target = cluster_name(copy.cluster_prefix, port.port, "", route_host(view.host))
            vhost = functools.partial(_vhost, objects, design, proxy, view, port.port, suffix, target=routed_target)
            # A TCP, TLS or sniffed port listens on the entry's addresses, else on each endpoint's
            # (per_endpoint_binds; only where the catch-all builds it: a Sidecar's port listener
            # takes the ordinary path), else on the wildcard.
            endpointwise = None if port.port in by_port_listener else per_endpoint
            binds = copy.binds if endpointwise is None else endpointwise
            on_wildcard = endpointwise is None and not copy.binds
            if kind in ("http", "auto"):
                owners = entries.address_domain_owners(design, proxy)
                kept = [a for a in copy.domain_vips if owners.get((port.port, suffix, a.lower()), service) == service]
                names, dropped = entries.alternative_names(service, port.port, proxy_namespace)
                domains = routes.entry_domains(
                    route_host(view.host),
                    kept,
                    names,
                    dropped,
                    passthrough=view.entry.headless,
                    aliases=() if aliases is None else aliases(port.port),
                )
                shared = vhost(domains)
                # An HTTP port opens "P" even where its VirtualService left this copy no virtual host,
                # as a Service's does, and so does a sniffed port on the wildcard: its listener's HTTP
                # chain asks for "P" (buildSidecarOutboundHTTPListenerOpts names the route after the
                # port on the wildcard bind). A sniffed port on addresses, the entry's or its
                # endpoints', only rides where one opens it.
                opens = kind == "http" or on_wildcard
                if opens or shared is not None:
                    out["http" if opens else "riding"].append((port.port, suffix, shared))
                if opens and port.protocol == GRPC_WEB:
                    out["grpc_web"].append((port.port, suffix))
            if kind == "http":
                continue
            # A VirtualService's TCP route replaces the default chain of a TCP or sniffed port, its
            # TLS routes that of a TLS port (1.10).
            routed = objects.tcp_chain(service, port.port, suffix, design, proxy)
            sni = objects.tls_chains(service, port.port, suffix, design, proxy) if kind == "tls" else ()
            mongo = port.protocol == "Mongo"  # its TCP chains proxy through a mongo_proxy
            if on_wildcard:
                if sni:
                    out["wild"].extend(
                        WildcardChain(port=port.port, suffix=suffix, tls=True, chain=c, protocol=port.protocol)
                        for c in sni
                    )
                    continue
                chain = routed
                if chain is None:  # no VirtualService TCP route: the default chain
                    chain = outbound_chain(filters=tcp_filters(target, inbound=False, mongo=mongo))
                if kind == "tls":
                    chain.filter_chain_match.server_names.append(view.host)
                out["wild"].append(
                    WildcardChain(port=port.port, suffix=suffix, tls=kind == "tls", chain=chain, protocol=port.protocol)
                )
            elif kind == "auto":
                route_name = f"{view.host}:{port.port}{suffix}"
                for bind in binds:
                    out["auto"].append(listeners.outbound_auto(bind, port.port, route_name, target, trace, routed))
                    out["auto_routes"].append(route_name)
                if binds:  # a route configuration no listener names is never asked for
                    sniffed = vhost(["*"]) if routes.sniffed_host_answers(view.host) else None
                    out["routes"].append(routes.route_configuration(route_name, [sniffed] if sniffed else []))
            elif sni:
                out["listeners"].extend(listeners.outbound_tls_routed(bind, port.port, sni, unknown) for bind in binds)
            else:
                # A TLS port on an address gets no SNI match: the address tells the host apart
                # (buildSidecarOutboundTLSFilterChainOpts matches SNI only without one).
                out["listeners"].extend(
                    listeners.outbound_tcp(bind, port.port, target, routed, mongo=mongo) for bind in binds
                )
    return EntryConfig(
        clusters=tuple(out["clusters"]),
        endpoints=tuple(out["endpoints"]),
        listeners=tuple(out["listeners"]),
        auto_listeners=tuple(out["auto"]),
        auto_routes=tuple(out["auto_routes"]),  # type: ignore[arg-type]
        routes=tuple(out["routes"]),
        http=tuple(out["http"]),  # type: ignore[arg-type]
        riding=tuple(out["riding"]),  # type: ignore[arg-type]
        wildcard=tuple(out["wild"]),  # type: ignore[arg-type]
        grpc_web=frozenset(out["grpc_web"]),  # type: ignore[arg-type]
    )


def own_listeners(built: EntryConfig) -> list[tuple[listener_pb2.Listener, str]]:
    """A host's own listeners, each with the route configuration it names (``""``: none)."""
    return [
        *((listener, "") for listener in built.listeners),
        *zip(built.auto_listeners, built.auto_routes, strict=True),
    ]


def kept_parts(
    built: EntryConfig, taken: set[str]
) -> tuple[list[listener_pb2.Listener], list[route_pb2.RouteConfiguration]]:
    """A host's own listeners but those whose name (address and port) an earlier host's listener
    took, and the route configurations its kept listeners name; adds the kept names to ``taken``.
    Hosts sharing an address share its listener in Istio, and the later ones' filter chains, which
    match the same traffic, are dropped (``mergeTCPFilterChains``); the first host in scenario order
    keeps it *(inferred: Istio's order is by creation time)*. Envoy never asks for a route
    configuration no listener names."""
    kept = [(listener, route) for listener, route in own_listeners(built) if listener.name not in taken]
    taken.update(listener.name for listener, _ in kept)
    named = {route for _, route in kept}
    return [listener for listener, _ in kept], [r for r in built.routes if r.name in named]


def wildcard_listeners(
    design: Design,
    proxy: ProxyFacts,
    chains: Sequence[WildcardChain],
    http_listeners: Mapping[tuple[int, str], listener_pb2.Listener],
    unknown: str,
) -> list[listener_pb2.Listener]:
    """The wildcard listeners of a proxy's address-less TCP/TLS ServiceEntry ports, from their chains
    in service order: per (port, route suffix) the first TLS chain of each set of server names (a
    later one matching the same names is dropped, as ``mergeTCPFilterChains`` drops a conflicting
    chain) and the first TCP chain. Where an HTTP port holds that wildcard listener
    (``http_listeners``, changed in place), the chains join it instead (``TCPOverAuto``: the shared
    HTTP listener is sniffed). A chain whose port's protocol differs from the listener's, where
    either is Mongo or MySQL, is dropped (``isConflictWithWellKnownPort``: the listener's is the
    first chain's, the shared HTTP one's sniffed)."""
    grouped: dict[tuple[int, str], list[WildcardChain]] = {}
    taken: set[tuple[int, str, tuple[str, ...] | None]] = set()  # (port, suffix, server names; None: TCP)
    held: dict[tuple[int, str], str] = {}  # the listener's protocol
    for chain in chains:
        key = (chain.port, chain.suffix)
        match = (*key, chain.server_names if chain.tls else None)
        protocol = SNIFFED if key in http_listeners else held.setdefault(key, chain.protocol)
        if server_first_conflict(chain.protocol, protocol) or match in taken:
            continue
        taken.add(match)
        grouped.setdefault(key, []).append(chain)
    out = []
    for (port, suffix), group in sorted(grouped.items()):
        sni = [c.chain for c in group if c.tls]
        tcp = next((c.chain for c in group if not c.tls), None)
        if (port, suffix) in http_listeners:
            listeners.merge_into_http(http_listeners[(port, suffix)], [*sni, *([tcp] if tcp else [])], unknown)
        else:
            out.append(wildcard_listener(design.http_bind(proxy, suffix), port, sni, tcp, unknown))
    return out

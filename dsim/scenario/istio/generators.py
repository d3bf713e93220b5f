"""Istio objects for a mesh at scale, drawn from :mod:`generator_params`.

Pure functions of plain inputs (service names, namespaces, ports; a call graph by namespace) and
a seeded :class:`numpy.random.Generator`: the same inputs and seed give the same objects. Every
object they build passes the same validation as a pasted one.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import numpy as np

from dsim.errors import ScenarioError, quote
from dsim.randomness import generator
from dsim.scenario.convert import join
from dsim.scenario.istio.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    ConsistentHash,
    DestinationRule,
    DestinationRuleSpec,
    HttpSettings,
    LoadBalancerSettings,
    OutlierDetection,
    Subset,
    TcpSettings,
    TrafficPolicy,
)
from dsim.scenario.istio.generator_params import (
    DestinationRuleGen,
    IstioObjectsGen,
    ServiceEntryGen,
    SidecarGen,
    VirtualServiceGen,
    locality_setting,
)
from dsim.scenario.istio.reader import Milliseconds
from dsim.scenario.istio.route_actions import HeaderOperations, Headers, Percentage
from dsim.scenario.istio.route_policies import CorsPolicy, FaultAbort, FaultDelay, HTTPFaultInjection
from dsim.scenario.istio.rules import HTTP_PROTOCOLS, TLS_PROTOCOLS, canonical_protocol, sidecar_host_problem
from dsim.scenario.istio.service_entry import (
    RESOLUTIONS,
    Resolution,
    ServiceEntry,
    ServiceEntrySpec,
    ServicePort,
    WorkloadEntry,
)
from dsim.scenario.istio.sidecar import IstioEgressListener, OutboundTrafficPolicy, Sidecar, SidecarSpec
from dsim.scenario.istio.virtual_service import (
    Destination,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    HTTPRouteDestination,
    RouteDestination,
    StringMatch,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
    VirtualServiceSpec,
)

# Generated addresses come from blocks no cluster uses for pods or services: ServiceEntry VIPs
# from 240.0.0.0/8 (reserved) and 2001:db8:5e::/48 (documentation), endpoints from 100.64.0.0/10
# (shared address space) and 2001:db8:e9::/48.
_VIP_BASES = {"IPv4": int(ipaddress.IPv4Address("240.0.0.0")), "IPv6": int(ipaddress.IPv6Address("2001:db8:5e::"))}
_ENDPOINT_BASES = {
    "IPv4": int(ipaddress.IPv4Address("100.64.0.0")),
    "IPv6": int(ipaddress.IPv6Address("2001:db8:e9::")),
}
_FAMILY_SETS = {"ipv4": ("IPv4",), "ipv6": ("IPv6",), "dual": ("IPv4", "IPv6")}
_ENTRY_PORTS = {"http": (80, "HTTP", "http"), "tls": (443, "TLS", "tls"), "tcp": (5432, "TCP", "tcp")}
_SUBSET_LABEL = "version"
_Exported = TypeVar("_Exported", DestinationRule, VirtualService)
_RESOLUTION_OF: dict[str, Resolution] = dict(
    zip(("none", "static", "dns", "dns_round_robin"), RESOLUTIONS, strict=True)
)


def _address(base: int, family: str, offset: int) -> str:
    cls = ipaddress.IPv4Address if family == "IPv4" else ipaddress.IPv6Address
    return str(cls(base + offset))


def _fqdn(name: str, namespace: str, cluster_domain: str) -> str:
    return f"{name}.{namespace}.svc.{cluster_domain}"


def _chosen(count: int, share: float, rng: np.random.Generator) -> list[int]:
    """Indices of ``round(share · count)`` services, drawn without replacement, in order."""
    chosen = rng.choice(count, size=round(share * count), replace=False) if count else np.empty(0, dtype=int)
    return sorted(int(i) for i in chosen)


def _draw(weights: Mapping[str, float], size: int, rng: np.random.Generator) -> list[str]:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return [keys[int(i)] for i in rng.choice(len(keys), size=size, p=p / p.sum())]


def subset_names(count: int) -> tuple[str, ...]:
    """The generated subsets of a service: ``v1``..``vN``."""
    return tuple(f"v{k + 1}" for k in range(count))


def generate_destination_rules(
    names: Sequence[str],
    namespaces: Sequence[str],
    params: DestinationRuleGen,
    rng: np.random.Generator,
    *,
    cluster_domain: str = "cluster.local",
) -> tuple[DestinationRule, ...]:
    """A DestinationRule for ``round(share · services)`` services, each with ``subsets`` version
    subsets and the policies the parameters ask for."""
    chosen = _chosen(len(names), params.share, rng)
    with_pool = rng.random(len(chosen)) < params.connection_pool
    with_outlier = rng.random(len(chosen)) < params.outlier_detection
    rules = []
    for k, i in enumerate(chosen):
        policy = _traffic_policy(params, bool(with_pool[k]), bool(with_outlier[k]))
        subsets = tuple(Subset(name=s, labels={_SUBSET_LABEL: s}) for s in subset_names(params.subsets))
        spec = DestinationRuleSpec(
            host=_fqdn(names[i], namespaces[i], cluster_domain), traffic_policy=policy, subsets=subsets
        )
        rules.append(DestinationRule(name=names[i], namespace=namespaces[i], spec=spec))
    return _made_private(rules, params.private, rng)


def _made_private(objects: Sequence[_Exported], share: float, rng: np.random.Generator) -> tuple[_Exported, ...]:
    """``objects`` with a ``share`` of them (drawn after everything else, so that a share of 0 draws
    nothing and leaves the rest of the stream as it was) exported to their own namespace only."""
    if share <= 0 or not objects:
        return tuple(objects)
    private = rng.random(len(objects)) < share
    return tuple(
        dataclasses.replace(obj, spec=dataclasses.replace(obj.spec, export_to=(".",))) if mine else obj
        for obj, mine in zip(objects, private.tolist(), strict=True)
    )


def _traffic_policy(params: DestinationRuleGen, pool: bool, outlier: bool) -> TrafficPolicy | None:
    policy = TrafficPolicy(
        connection_pool=ConnectionPoolSettings(
            tcp=TcpSettings(max_connections=100, connect_timeout=Milliseconds(30_000)),
            http=HttpSettings(http1_max_pending_requests=1024, http2_max_requests=1024, max_retries=3),
        )
        if pool
        else None,
        outlier_detection=OutlierDetection(
            consecutive_5xx_errors=5,
            interval=Milliseconds(10_000),
            base_ejection_time=Milliseconds(30_000),
            max_ejection_percent=50,
        )
        if outlier
        else None,
        tls=ClientTLSSettings(mode=params.tls_mode) if params.tls_mode else None,
        load_balancer=_load_balancer(params),
    )
    return None if policy == TrafficPolicy() else policy


def _load_balancer(params: DestinationRuleGen) -> LoadBalancerSettings | None:
    locality = locality_setting(params)
    if params.load_balancer is None:
        return None if locality is None else LoadBalancerSettings(locality_lb_setting=locality)
    if params.load_balancer == "consistent_hash":
        return LoadBalancerSettings(consistent_hash=ConsistentHash(use_source_ip=True), locality_lb_setting=locality)
    return LoadBalancerSettings(simple=params.load_balancer, locality_lb_setting=locality)


def generate_virtual_services(
    names: Sequence[str],
    namespaces: Sequence[str],
    params: VirtualServiceGen,
    rng: np.random.Generator,
    *,
    subsets: Mapping[int, Sequence[str]] | None = None,
    cluster_domain: str = "cluster.local",
) -> tuple[VirtualService, ...]:
    """A VirtualService for ``round(share · services)`` services, routing the service's own host.

    ``subsets`` maps a service's index to its subset names; a route's destinations are drawn
    from them (at most ``destinations``, weights summing to 100), else the route has the host alone.
    """
    subsets = subsets or {}
    services = []
    for i in _chosen(len(names), params.share, rng):
        hosts = _hosts(names[i], namespaces[i], cluster_domain)[: params.hosts]
        routes = tuple(
            _http_route(params, rng, names[i], hosts[0], subsets.get(i, ()), r, last=r == params.routes - 1)
            for r in range(params.routes)
        )
        # A TCP route with the default route's destinations: it shapes the service's TCP and sniffed ports.
        tcp = (
            TCPRoute(
                route=tuple(RouteDestination(destination=d.destination, weight=d.weight) for d in routes[-1].route)
            ),
        )
        spec = VirtualServiceSpec(hosts=hosts, http=routes, tcp=tcp if params.tcp else ())
        services.append(VirtualService(name=names[i], namespace=namespaces[i], spec=spec))
    return _made_private(services, params.private, rng)


def _hosts(name: str, namespace: str, cluster_domain: str) -> tuple[str, ...]:
    return (_fqdn(name, namespace, cluster_domain), f"{name}.{namespace}.svc", f"{name}.{namespace}", name)


def _http_route(
    params: VirtualServiceGen,
    rng: np.random.Generator,
    name: str,
    host: str,
    subsets: Sequence[str],
    index: int,
    *,
    last: bool,
) -> HTTPRoute:
    count = 0 if last else params.matches_per_route
    kinds = _draw(vars(params.match_kinds), count, rng) if count else []
    matches = tuple(_match(kind, name, index, k) for k, kind in enumerate(kinds))
    timeout, retries = _policies(params)
    headers = {f"x-dsim-{k}": f"r{index}" for k in range(params.request_headers)}
    removed = tuple(f"x-dsim-drop-{k}" for k in range(params.removed_headers))
    return HTTPRoute(
        name=f"r{index}",
        match=matches,
        route=_destinations(params, rng, host, subsets, index),
        timeout=timeout,
        retries=retries,
        headers=Headers(request=HeaderOperations(set=headers, remove=removed)) if headers or removed else None,
        fault=_FAULT if params.fault else None,
        cors_policy=_CORS if params.cors else None,
        mirror=Destination(host=host) if params.mirror else None,
        mirror_percentage=Percentage(value=1.0) if params.mirror else None,
    )


# The generator's fault and CORS policy (VirtualServiceGen.fault, .cors): one of each kind a team
# writes, fixed so they draw nothing from the seed.
_FAULT = HTTPFaultInjection(
    delay=FaultDelay(fixed_delay=Milliseconds(5), percentage=Percentage(value=1.0)),
    abort=FaultAbort(http_status=503, percentage=Percentage(value=0.1)),
)
_CORS = CorsPolicy(allow_origins=(StringMatch(exact="https://app.example.com"),), allow_methods=("GET", "POST"))


def _policies(params: VirtualServiceGen) -> tuple[Milliseconds | None, HTTPRetry | None]:
    """The timeout and retries every generated HTTP route carries."""
    timeout = Milliseconds(max(1, round(params.timeout_s * 1000))) if params.timeout_s is not None else None
    retries = HTTPRetry(attempts=params.retry_attempts, retry_on="5xx") if params.retry_attempts else None
    return timeout, retries


def _match(kind: str, name: str, route: int, index: int) -> HTTPMatchRequest:
    path = f"/{name}/r{route}/m{index}"
    if kind == "uri_exact":
        return HTTPMatchRequest(uri=StringMatch(exact=path))
    if kind == "uri_regex":
        return HTTPMatchRequest(uri=StringMatch(regex=f"{path}/[0-9]+"))
    if kind == "header":
        return HTTPMatchRequest(headers={"x-route": StringMatch(exact=f"r{route}-m{index}")})
    return HTTPMatchRequest(uri=StringMatch(prefix=path))


def _destinations(
    params: VirtualServiceGen, rng: np.random.Generator, host: str, subsets: Sequence[str], index: int
) -> tuple[HTTPRouteDestination, ...]:
    count = min(params.destinations, len(subsets))
    if count <= 1:
        subset = subsets[index % len(subsets)] if subsets else None
        return (HTTPRouteDestination(destination=Destination(host=host, subset=subset)),)
    picked = [subsets[(index + k) % len(subsets)] for k in range(count)]
    # Every destination at least 1, the rest shared at random: integers that add up to 100.
    weights = 1 + rng.multinomial(100 - count, rng.dirichlet(np.ones(count)))
    return tuple(
        HTTPRouteDestination(destination=Destination(host=host, subset=s), weight=int(w))
        for s, w in zip(picked, weights, strict=True)
    )


def generate_service_entries(
    namespaces: Sequence[str], params: ServiceEntryGen, rng: np.random.Generator
) -> tuple[ServiceEntry, ...]:
    """``count`` ServiceEntries, in the namespaces in turn, with drawn resolution, family and protocol."""
    if params.count == 0 or not namespaces:
        return ()
    resolutions = [_RESOLUTION_OF[key] for key in _draw(vars(params.resolution), params.count, rng)]
    families = _draw(vars(params.families), params.count, rng)
    protocols = _draw(vars(params.protocols), params.count, rng)
    entries = []
    for i in range(params.count):
        spec = _entry_spec(params, i, resolutions[i], _FAMILY_SETS[families[i]], protocols[i])
        entries.append(ServiceEntry(name=f"external-{i:06d}", namespace=namespaces[i % len(namespaces)], spec=spec))
    return tuple(entries)


ENTRY_ROUTES_STREAM = "istio.service_entry_routes"
"""The random stream of :func:`generate_entry_virtual_services` (its own: no other kind's draws move)."""


def generate_entry_virtual_services(
    entries: Sequence[ServiceEntry], share: float, params: VirtualServiceGen, rng: np.random.Generator
) -> tuple[VirtualService, ...]:
    """For ``round(share · entries)`` entries, a VirtualService per host of theirs, in the entry's
    namespace, routing the host to itself by its first port's kind: an HTTP route (``params``'
    timeout and retries), a TCP route, or a TLS route matching the host's SNI."""
    found = []
    for i in _chosen(len(entries), share, rng):
        entry = entries[i]
        protocol = canonical_protocol(entry.spec.ports[0].protocol) if entry.spec.ports else None
        for h, host in enumerate(entry.spec.hosts):
            to = (RouteDestination(destination=Destination(host=host)),)
            if protocol in HTTP_PROTOCOLS:
                timeout, retries = _policies(params)
                to_http = (HTTPRouteDestination(destination=Destination(host=host)),)
                http = HTTPRoute(route=to_http, timeout=timeout, retries=retries)
                spec = VirtualServiceSpec(hosts=(host,), http=(http,))
            elif protocol in TLS_PROTOCOLS:
                spec = VirtualServiceSpec(
                    hosts=(host,), tls=(TLSRoute(match=(TLSMatchAttributes(sni_hosts=(host,)),), route=to),)
                )
            else:
                spec = VirtualServiceSpec(hosts=(host,), tcp=(TCPRoute(route=to),))
            found.append(VirtualService(name=f"{entry.name}-h{h}", namespace=entry.namespace, spec=spec))
    return tuple(found)


def _entry_spec(
    params: ServiceEntryGen, i: int, resolution: Resolution, families: tuple[str, ...], protocol: str
) -> ServiceEntrySpec:
    number, protocol_name, port_name = _ENTRY_PORTS[protocol]
    hosts = tuple(f"h{h}.external-{i:06d}.example.com" for h in range(params.hosts_per_entry))
    per = params.addresses_per_entry
    addresses = tuple(_address(_VIP_BASES[family], family, 1 + i * per + k) for family in families for k in range(per))
    return ServiceEntrySpec(
        hosts=hosts,
        addresses=addresses,
        ports=(ServicePort(number=number, name=port_name, protocol=protocol_name),),
        resolution=resolution,
        endpoints=_entry_endpoints(params, i, resolution, families),
    )


def _entry_endpoints(
    params: ServiceEntryGen, i: int, resolution: str, families: tuple[str, ...]
) -> tuple[WorkloadEntry, ...]:
    per = params.endpoints_per_entry
    if resolution == "NONE":
        return ()
    if resolution == "DNS_ROUND_ROBIN":
        per = min(per, 1)
    if resolution in ("DNS", "DNS_ROUND_ROBIN"):
        return tuple(WorkloadEntry(address=f"e{k}.external-{i:06d}.example.net") for k in range(per))
    return tuple(
        WorkloadEntry(
            address=_address(_ENDPOINT_BASES[families[k % len(families)]], families[k % len(families)], 1 + i * per + k)
        )
        for k in range(per)
    )


def generate_sidecars(
    namespaces: Iterable[str],
    calls: Mapping[str, Iterable[str]],
    params: SidecarGen,
    *,
    source: str = "<call graph>",
    path: str = "calls",
) -> tuple[Sidecar, ...]:
    """A namespace-wide Sidecar per namespace whose egress hosts are what it calls.

    ``calls`` maps a namespace to what its workloads call: namespace names (``ns`` → ``ns/*``),
    hostnames (an FQDN → ``*/<host>``) or egress hosts already in Istio's form (``ns/host``). Its
    own namespace (``./*``) and ``extra_hosts`` are always added; hosts are sorted, each once.
    """
    if not params.per_namespace:
        return ()
    policy = OutboundTrafficPolicy(mode=params.outbound_traffic_policy) if params.outbound_traffic_policy else None
    sidecars = []
    for namespace in sorted(set(namespaces)):
        hosts = _egress_hosts(namespace, calls.get(namespace, ()), params, source, join(path, namespace))
        spec = SidecarSpec(egress=(IstioEgressListener(hosts=hosts),), outbound_traffic_policy=policy)
        sidecars.append(Sidecar(name="default", namespace=namespace, spec=spec))
    return tuple(sidecars)


def _egress_hosts(namespace: str, called: Iterable[str], params: SidecarGen, source: str, path: str) -> tuple[str, ...]:
    hosts = {"./*", *params.extra_hosts}
    for callee in called:
        host = callee if "/" in callee else f"*/{callee}" if "." in callee else f"{callee}/*"
        if host == f"{namespace}/*":
            continue  # its own namespace is ./*
        problem = sidecar_host_problem(host)
        if problem:
            raise ScenarioError(source, path, f"{problem} (from the call {quote(callee)})")
        hosts.add(host)
    return tuple(sorted(hosts))


class GeneratedObjects(NamedTuple):
    """Every generated Istio object of a mesh."""

    virtual_services: tuple[VirtualService, ...]
    destination_rules: tuple[DestinationRule, ...]
    service_entries: tuple[ServiceEntry, ...]
    sidecars: tuple[Sidecar, ...]


def generate_istio_objects(
    names: Sequence[str],
    namespaces: Sequence[str],
    calls: Mapping[str, Iterable[str]],
    params: IstioObjectsGen,
    seed: int,
    *,
    cluster_domain: str = "cluster.local",
) -> GeneratedObjects:
    """All four kinds for the services ``names`` (in ``namespaces``, index by index), each kind
    from its own random stream of ``seed`` (:func:`dsim.randomness.generator`), so changing one
    kind's parameters never changes another kind's objects. VirtualServices route over the
    generated DestinationRules' subsets; those of the generated ServiceEntries' hosts follow the
    services' ones."""
    rules = generate_destination_rules(
        names,
        namespaces,
        params.destination_rules,
        generator(seed, "istio.destination_rules"),
        cluster_domain=cluster_domain,
    )
    index = {(n, ns): i for i, (n, ns) in enumerate(zip(names, namespaces, strict=True))}
    subsets = {index[(r.name, r.namespace)]: tuple(s.name for s in r.spec.subsets) for r in rules}
    services = generate_virtual_services(
        names,
        namespaces,
        params.virtual_services,
        generator(seed, "istio.virtual_services"),
        subsets=subsets,
        cluster_domain=cluster_domain,
    )
    all_namespaces = sorted(set(namespaces))
    entries = generate_service_entries(all_namespaces, params.service_entries, generator(seed, "istio.service_entries"))
    routes = generate_entry_virtual_services(
        entries, params.service_entries.virtual_services, params.virtual_services, generator(seed, ENTRY_ROUTES_STREAM)
    )
    sidecars = generate_sidecars(all_namespaces, calls, params.sidecars)
    return GeneratedObjects((*services, *routes), rules, entries, sidecars)

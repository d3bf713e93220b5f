"""What Istio's objects add to a scenario's size, counted from the scenario alone: the Envoy routes
its VirtualServices make and the rows of the ``scope`` table its Sidecars and exportTo make
(:func:`dsim.cluster.sidecars.sidecar_tables`). Upper bounds where the cluster decides (which hosts
an egress host matches, how many subsets a route's destinations find)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import NamedTuple, Protocol

from dsim.cluster.rule_index import ROOT_NAMESPACE
from dsim.scenario.istio import VirtualService
from dsim.scenario.istio.generator_params import VirtualServiceGen
from dsim.scenario.istio.virtual_service import HTTPRoute
from dsim.scenario.model import Scenario
from dsim.sizing.amount import Amount, total

GENERATED_VS = "istio_objects.virtual_services"


@dataclasses.dataclass(frozen=True)
class RouteCounts:
    """Envoy routes from VirtualServices, and what each carries beyond its match."""

    routes: Amount
    """Envoy routes: one per match of an HTTP route (one for a route without a match)."""
    http_routes: Amount
    """HTTP routes the cluster holds, before their matches become Envoy routes (a route delegating
    to another VirtualService as the delegate's routes)."""
    destinations: Amount
    """Weighted destinations over those routes (one route's destinations once per match)."""
    headers: Amount
    """Headers set, added or removed over those routes and every copy of them in the configs (each
    host's virtual host, each other port's route configuration)."""
    actions: Amount
    """Faults, CORS policies and mirrors over the same copies."""
    seen: Amount
    """Envoy routes in the configs: a VirtualService host naming no service (``name.ns``, a
    generated VirtualService's second and later hosts) is a virtual host of its own, every route
    copied into it."""
    port_copies: Amount
    """Envoy routes copied once more into the route configuration of each other port of the service
    a host names (each of its HTTP ports' configurations holds the service's virtual host): every
    port of an explicit service, a synthetic service's mean HTTP, gRPC and sniffed ports."""


def _service_ports(s: Scenario) -> dict[tuple[str, str], int]:
    """Ports per explicit Service, by (name, namespace)."""
    return {(svc.name, svc.namespace): len(svc.ports) for svc in s.services}


def _named_service(host: str, namespace: str, domain: str) -> tuple[str, str]:
    """The (name, namespace) a VirtualService host of ``namespace`` names, as Kubernetes short
    names resolve: ``name``, ``name.ns``, ``name.ns.svc.<domain>``."""
    labels = host.lower().removesuffix(f".svc.{domain}").split(".")
    return (labels[0], namespace) if len(labels) == 1 else (labels[0], labels[1])


class _Merged(NamedTuple):
    """What each Envoy route made of one HTTP route holds (:func:`_merged_routes`)."""

    routes: float
    """Envoy routes."""
    destinations: int
    """Weighted destinations of each."""
    header_operations: int
    """Headers each sets, adds or removes (the route's and its destinations')."""
    actions: int
    """Faults, CORS policies and mirrors each carries."""


def _header_operations(route: HTTPRoute) -> int:
    owners = (route.headers, *(d.headers for d in route.route))
    changes = (part for headers in owners if headers is not None for part in (headers.request, headers.response))
    return sum(len(c.set) + len(c.add) + len(c.remove) for c in changes if c is not None)


def _actions(route: HTTPRoute) -> int:
    return (route.fault is not None) + (route.cors_policy is not None) + len(route.mirror_destinations())


def _merged_routes(vs: VirtualService, delegates: dict[tuple[str, str], VirtualService]) -> list[_Merged]:
    """What each HTTP route of ``vs`` makes: one Envoy route per match, and a route delegating to
    another VirtualService replaced by the delegate's routes, each match of theirs combined with
    each of its own and holding what both do (an upper bound: conflicting pairs are dropped, and a
    delegate route inherits only what it does not set)."""
    found = []
    for route in vs.spec.http:
        own = float(max(len(route.match), 1))
        if route.delegate is None:
            found.append(_Merged(own, len(route.route), _header_operations(route), _actions(route)))
            continue
        delegate = delegates.get((route.delegate.name, route.delegate.namespace or vs.namespace))
        for theirs in delegate.spec.http if delegate is not None else ():
            found.append(
                _Merged(
                    own * max(len(theirs.match), 1),
                    len(theirs.route),
                    _header_operations(route) + _header_operations(theirs),
                    _actions(route) + _actions(theirs),
                )
            )
    return found


def _generated_field(gen: VirtualServiceGen, knobs: tuple[str, ...]) -> str:
    """The generator knob of ``knobs`` that adds most per route, to name in a refusal."""
    return f"{GENERATED_VS}.{max(knobs, key=lambda k: int(getattr(gen, k)))}"


def _synthetic_route_ports(s: Scenario) -> float:
    """A synthetic service's mean ports whose route configurations hold its virtual host (HTTP,
    HTTP/2, gRPC, gRPC-Web, sniffed: all but TCP)."""
    syn = s.synthetic
    if not syn.services:
        return 1.0  # a host naming no explicit service names nothing: a virtual host of its own
    weights = syn.ports_per_service
    ports = sum(k * w for k, w in weights.items()) / max(sum(weights.values()), 1e-300)
    mix = syn.protocols
    shares = mix.http + mix.http2 + mix.grpc + mix.grpc_web + mix.auto
    return ports * shares / max(shares + mix.tcp, 1e-300)


def envoy_routes(s: Scenario, synthetic_services: Amount) -> RouteCounts:
    """The Envoy routes of the pasted VirtualServices and of the generated ones: a VirtualService of
    ``routes`` routes of ``matches_per_route`` matches is ``(routes - 1) * matches + 1`` routes (its
    last route has no match), on each of ``share`` of the synthetic services (the generators draw
    from them alone); the generated ServiceEntries' VirtualServices route each host once."""
    pasted_routes, pasted_destinations, pasted_seen, pasted_copies = 0.0, 0.0, 0.0, 0.0
    pasted_http, pasted_operations, pasted_actions = 0.0, 0.0, 0.0
    explicit_ports = _service_ports(s)
    synthetic_ports = _synthetic_route_ports(s)
    delegates = {(vs.name, vs.namespace): vs for vs in s.virtual_services if not vs.spec.hosts}
    for vs in s.virtual_services:
        named = [_named_service(host, vs.namespace, s.mesh.cluster_domain) for host in vs.spec.hosts]
        # A host naming no explicit service may name a synthetic one (or nothing: an upper bound);
        # each host's own ports beyond its first, so that one of fewer takes nothing from another's.
        copies = sum(max(explicit_ports.get(name, synthetic_ports) - 1.0, 0.0) for name in named)
        for made in _merged_routes(vs, delegates):
            pasted_http += 1  # the cluster holds a delegating route as the delegate's routes
            pasted_routes += made.routes
            pasted_destinations += made.routes * made.destinations
            pasted_seen += made.routes * len(vs.spec.hosts)
            pasted_copies += made.routes * copies
            # Each copy of a route, in each host's virtual host and each port's, holds what it does.
            kept = made.routes * (len(vs.spec.hosts) + copies)
            pasted_operations += kept * made.header_operations
            pasted_actions += kept * made.actions
    gen = s.istio_objects.virtual_services
    matched = Amount(float(max(gen.matches_per_route, 1)), f"{GENERATED_VS}.matches_per_route")
    per_vs = Amount(float(gen.routes - 1), f"{GENERATED_VS}.routes") * matched + Amount(1.0, f"{GENERATED_VS}.routes")
    chosen = synthetic_services * Amount(gen.share, f"{GENERATED_VS}.share")
    generated = Amount(float(round(chosen.value)), chosen.field) * per_vs
    entries = s.istio_objects.service_entries
    entry_routes = Amount(
        float(round(entries.count * entries.virtual_services) * entries.hosts_per_entry),
        "istio_objects.service_entries.count",
    )
    routes = Amount(pasted_routes, "virtual_services") + generated + entry_routes
    # A generated ServiceEntry's VirtualService holds an HTTP route per host, one Envoy route each.
    http_routes = (
        Amount(pasted_http, "virtual_services")
        + Amount(float(round(chosen.value)), chosen.field) * Amount(float(gen.routes), f"{GENERATED_VS}.routes")
        + entry_routes
    )
    destinations = Amount(pasted_destinations, "virtual_services") + generated * Amount(
        float(gen.destinations), f"{GENERATED_VS}.destinations"
    )
    hosts = Amount(float(gen.hosts), f"{GENERATED_VS}.hosts")
    seen = Amount(pasted_seen, "virtual_services") + generated * hosts + entry_routes
    # A generated VirtualService's first host is its service's; the others name none (port 80's alone).
    extra_ports = Amount(max(synthetic_ports - 1.0, 0.0), "synthetic.ports_per_service")
    port_copies = Amount(pasted_copies, "virtual_services") + generated * extra_ports
    held = generated * hosts + generated * extra_ports  # every copy of a generated route
    operations = Amount(float(gen.request_headers + gen.removed_headers), _generated_field(gen, _HEADER_KNOBS))
    actions = Amount(float(gen.fault + gen.cors + gen.mirror), _generated_field(gen, _ACTION_KNOBS))
    headers = Amount(pasted_operations, "virtual_services") + held * operations
    acting = Amount(pasted_actions, "virtual_services") + held * actions
    return RouteCounts(routes, http_routes, destinations, headers, acting, seen, port_copies)


_HEADER_KNOBS = ("request_headers", "removed_headers")
_ACTION_KNOBS = ("fault", "cors", "mirror")


class _Counted(Protocol):
    """What :class:`ScopeRows` reads of the scenario's other counts."""

    services: Amount
    edges: Amount


class ScopeRows:
    """Rows of the ``scope`` table: (group, service) for every group of workloads that see the same
    services — a namespace under one Sidecar, a namespace under none, or each workload under the
    ``dependencies`` visibility (docs/istio-objects.md 4.3). Zero when the cluster has no scope."""

    def __init__(self, s: Scenario, counted: _Counted) -> None:
        self.s = s
        self.services = counted.services
        self.edges = counted.edges
        syn = s.synthetic
        self.synthetic_namespaces = float(syn.namespaces) if syn.services else 0.0
        self.synthetic_per_namespace = syn.services / syn.namespaces if self.synthetic_namespaces else 0.0
        self.explicit_services = Counter(svc.namespace for svc in s.services)
        self.explicit_services.update(e.namespace for e in s.service_entries for _ in e.spec.hosts)
        self.namespaces = Amount(float(len(s.namespaces)), "namespaces") + Amount(
            self.synthetic_namespaces, "synthetic.namespaces"
        )
        self.average = self.services.value / max(self.namespaces.value, 1.0)
        """Services of a namespace, on average (what ``.`` imports where the namespace is unknown)."""

    def scoped(self) -> bool:
        """Whether the mesh as given will have a scope: a Sidecar, a service or entry not exported
        everywhere, or a host of several namespaces (the conditions of ``sidecar_tables``)."""
        s = self.s
        exports = [svc.export_to for svc in s.services] + [e.spec.export_to for e in s.service_entries]
        private = any(export and "*" not in export for export in exports)
        namespaces_of: dict[str, set[str]] = {}
        for entry in s.service_entries:
            for host in entry.spec.hosts:
                namespaces_of.setdefault(host, set()).add(entry.namespace)
        return (
            bool(s.sidecars)
            or s.istio_objects.sidecars.per_namespace
            or private
            or "*" not in s.mesh.default_service_export_to
            or any(len(found) > 1 for found in namespaces_of.values())
            # An entry for a Kubernetes Service's name (name.ns.svc.<domain>) shares its host.
            or any(".svc." in host for host in namespaces_of)
        )

    def public(self) -> Amount:
        """Services every namespace sees: all of them under a public mesh default, else those
        exported with ``*``."""
        s = self.s
        if "*" in s.mesh.default_service_export_to:
            return self.services
        named = [svc.export_to for svc in s.services] + [
            e.spec.export_to for e in s.service_entries for _ in e.spec.hosts
        ]
        return Amount(float(sum("*" in export for export in named)), "mesh.default_service_export_to")

    def in_namespace(self, namespace: str) -> float:
        """Services of one namespace: its explicit ones and hosts, and a synthetic namespace's share."""
        synthetic = self.synthetic_per_namespace if namespace.startswith("ns-") else 0.0
        return self.explicit_services[namespace] + synthetic

    def egress_rows(self, hosts: tuple[str, ...], namespace_services: float) -> float:
        """Services one group imports through ``ns/host`` egress hosts (every host of a namespace
        counted: an upper bound), at most every service."""
        seen = 0.0
        for host in hosts:
            ns = host.split("/", 1)[0]
            if ns == "*":
                return self.services.value
            seen += namespace_services if ns == "." else 0.0 if ns == "~" else self.in_namespace(ns)
        return min(seen, self.services.value)

    def rows(self) -> Amount:
        """The mesh's scope rows, and those of its run with minimal Sidecars (``what_if``) when it
        asks for one: both clusters may be held at once."""
        gen = self.s.istio_objects.sidecars
        given = self.given_rows() if self.scoped() else Amount(0.0, "namespaces")
        if self.s.what_if.sidecar_scoping and not gen.per_namespace:
            return given + self.generated_rows()
        return given

    def generated_rows(self) -> Amount:
        """Rows of a Sidecar per namespace (``istio_objects.sidecars``): each namespace's own
        services, the ones its workloads call elsewhere and the extra hosts, and the destinations
        of the VirtualServices they import."""
        extra = self.egress_rows(self.s.istio_objects.sidecars.extra_hosts, self.average)
        hosts = self.services + self.edges + self.namespaces * Amount(extra, "istio_objects.sidecars.extra_hosts")
        return hosts + self.destination_rows(self.namespaces)

    def destination_rows(self, groups: Amount) -> Amount:
        """Rows of ``groups`` Sidecar groups for the destinations of the VirtualServices a Sidecar
        imports that its egress hosts leave out (clusters alone: ``clusters_only``): at most every
        pasted VirtualService's destination hosts, per group. A generated VirtualService routes to
        its own service, which its host imports."""
        hosts = 0.0
        for vs in self.s.virtual_services:
            spec = vs.spec
            found = {d.destination.host for route in spec.http for d in route.route}
            found |= {d.destination.host for tcp in spec.tcp for d in tcp.route}
            found |= {d.destination.host for tls in spec.tls for d in tls.route}
            hosts += len(found)
        return groups * Amount(hosts, "virtual_services")

    def given_rows(self) -> Amount:
        s = self.s
        # Namespaces under no namespace-wide Sidecar see what the visibility gives them.
        wide = {sc.namespace for sc in s.sidecars if sc.spec.workload_selector is None}
        if ROOT_NAMESPACE in wide or s.istio_objects.sidecars.per_namespace:
            unscoped = Amount(0.0, "sidecars")
        elif s.visibility == "all":
            # Each namespace sees the public services; a service exported to its own or named
            # namespaces, a few of them (counted once: the namespaces named are few).
            uncovered = Amount(max(self.namespaces.value - len(wide), 0.0), self.namespaces.field)
            unscoped = uncovered * self.public() + self.services
        elif s.visibility == "namespace":
            unscoped = self.services
        else:
            unscoped = self.edges
        sidecars = []
        for i, sidecar in enumerate(s.sidecars):
            hosts = tuple(h for listener in sidecar.spec.egress for h in listener.hosts)
            # A Sidecar without egress listeners imports every namespace's services (*/*).
            rows = self.egress_rows(hosts or ("*/*",), self.in_namespace(sidecar.namespace) or self.average)
            # The root namespace's selector-less Sidecar applies to every namespace without its own.
            reach = self.namespaces if sidecar.namespace == ROOT_NAMESPACE else Amount(1.0, f"sidecars[{i}]")
            sidecars.append(reach * Amount(rows, f"sidecars[{i}].spec.egress") + self.destination_rows(reach))
        if s.istio_objects.sidecars.per_namespace:
            sidecars.append(self.generated_rows())
        return unscoped + total(sidecars, "sidecars")

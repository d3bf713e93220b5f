"""The ``istio_objects`` scenario section: how many Istio objects to generate, and of what shape.

Unlike pasted Istio objects, this section is dsim's own, so its keys are snake_case like the
rest of a scenario, converted by :func:`dsim.scenario.convert.convert` with the same messages.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from dsim.errors import ScenarioError
from dsim.scenario.convert import AtLeast, AtMost, convert, join
from dsim.scenario.istio.destination_rule import (
    LocalityDistribute,
    LocalityFailover,
    LocalityLbSetting,
    locality_setting_problem,
)
from dsim.scenario.istio.reader import MaxItems
from dsim.scenario.istio.rules import sidecar_host_problem
from dsim.scenario.quantities import Fraction, Weight

# Address room of the generated blocks (see generators.py): 240.0.0.0/8 and 100.64.0.0/10 for IPv4.
ADDRESS_ROOM = 2**24 - 2
ENDPOINT_ROOM = 2**22 - 2


@dataclasses.dataclass(frozen=True, kw_only=True)
class MatchKinds:
    """Relative weights of the kinds of condition a generated HTTP match has."""

    uri_prefix: Weight = 1.0
    """``uri: {prefix: /...}``."""
    uri_exact: Weight = 0.0
    """``uri: {exact: /...}``."""
    uri_regex: Weight = 0.0
    """``uri: {regex: ...}``."""
    header: Weight = 0.0
    """``headers: {x-route: {exact: ...}}``."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualServiceGen:
    """VirtualServices, one per chosen service, routing its own host."""

    share: Fraction = 0.0
    """Share of services with a VirtualService (rounded to a whole number of services)."""
    hosts: Annotated[int, AtLeast(1), AtMost(4)] = 1
    """Hosts per VirtualService: the FQDN, then ``name.ns.svc``, ``name.ns``, ``name``."""
    routes: Annotated[int, AtLeast(1), AtMost(1000)] = 1
    """HTTP routes per VirtualService; the last has no match (the default route)."""
    matches_per_route: Annotated[int, AtLeast(0), AtMost(100)] = 1
    """Matches of every route but the last."""
    match_kinds: MatchKinds = MatchKinds()
    """What the matches test."""
    destinations: Annotated[int, AtLeast(1), AtMost(100)] = 1
    """Weighted destinations per route, over the service's subsets (one when it has none)."""
    timeout_s: Annotated[float, AtLeast(0.001), AtMost(86400)] | None = None
    """Request timeout on every route, seconds; null: none."""
    retry_attempts: Annotated[int, AtLeast(0), AtMost(100)] = 0
    """Retries on every route (0: the mesh default)."""
    request_headers: Annotated[int, AtLeast(0), AtMost(100)] = 0
    """Request headers every route of the services' VirtualServices sets (``headers.request.set``:
    ``x-dsim-0``, ``x-dsim-1``... to the route's name); it draws nothing, so the rest stays the seed's."""
    removed_headers: Annotated[int, AtLeast(0), AtMost(100)] = 0
    """Request headers every route removes (``headers.request.remove``: ``x-dsim-drop-0``...); draws nothing."""
    fault: bool = False
    """Every route injects faults: a 5 ms delay on 1% of requests and a 503 on 0.1% (``fault``);
    draws nothing."""
    cors: bool = False
    """Every route has a CORS policy allowing one origin, GET and POST (``corsPolicy``); draws nothing."""
    mirror: bool = False
    """Every route mirrors 1% of its traffic to its own host (``mirror``, ``mirrorPercentage``); draws
    nothing."""
    private: Fraction = 0.0
    """Share of them exported to their own namespace only (``exportTo: [.]``): other namespaces
    keep the service's default route."""
    tcp: bool = False
    """Give each also a TCP route to the default HTTP route's destinations (it shapes the service's
    TCP and sniffed ports' listeners)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DestinationRuleGen:
    """DestinationRules, one per chosen service, with version subsets and policies."""

    share: Fraction = 0.0
    """Share of services with a DestinationRule."""
    subsets: Annotated[int, AtLeast(0), AtMost(100)] = 2
    """Subsets ``v1``..``vN`` per rule (label ``version``)."""
    connection_pool: Fraction = 0.0
    """Share of rules with connection pool limits."""
    outlier_detection: Fraction = 0.0
    """Share of rules with outlier detection."""
    tls_mode: Literal["DISABLE", "SIMPLE", "ISTIO_MUTUAL"] | None = None
    """TLS mode of every rule; null: none set."""
    load_balancer: Literal["LEAST_REQUEST", "ROUND_ROBIN", "RANDOM", "consistent_hash"] | None = None
    """Load balancer of every rule; null: none set."""
    locality_failover: bool = True
    """``false``: every rule turns locality load balancing off (``localityLbSetting: {enabled:
    false}``), so its outlier detection no longer makes endpoints fail over by locality."""
    failover: Annotated[dict[str, str], MaxItems(1_000)] = dataclasses.field(default_factory=dict)
    """Every rule's ``localityLbSetting.failover``: region → the region its proxies fail over to
    first (with outlier detection; ``{us-east: us-west}``)."""
    distribute: Annotated[
        dict[str, Annotated[dict[str, Annotated[int, AtLeast(0), AtMost(100)]], MaxItems(1_000)]], MaxItems(1_000)
    ] = dataclasses.field(default_factory=dict)
    """Every rule's ``localityLbSetting.distribute``: a proxy locality → {locality: weight}, the
    weights summing to 100 (``{"us-east/*": {"us-east/*": 80, "us-west/*": 20}}``)."""
    private: Fraction = 0.0
    """Share of them exported to their own namespace only (``exportTo: [.]``): other namespaces
    apply no rule to the service (nor its subsets)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResolutionMix:
    """Relative weights of ServiceEntry resolutions."""

    none: Weight = 0.0
    """NONE: traffic to the original destination."""
    static: Weight = 0.5
    """STATIC: the listed endpoint IPs."""
    dns: Weight = 0.5
    """DNS: the hosts (or endpoint names) resolved, every address an endpoint."""
    dns_round_robin: Weight = 0.0
    """DNS_ROUND_ROBIN: one resolved address at a time."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryFamilies:
    """Relative weights of ServiceEntry address families."""

    ipv4: Weight = 1.0
    """IPv4 addresses and endpoints."""
    ipv6: Weight = 0.0
    """IPv6 addresses and endpoints."""
    dual: Weight = 0.0
    """Both: each address count per family, endpoints alternating."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntryProtocols:
    """Relative weights of a ServiceEntry's (single) port protocol."""

    http: Weight = 0.5
    """HTTP on port 80."""
    tls: Weight = 0.5
    """TLS on port 443."""
    tcp: Weight = 0.0
    """TCP on port 5432 (one host per entry unless resolution is NONE)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceEntryGen:
    """ServiceEntries for external services."""

    count: Annotated[int, AtLeast(0), AtMost(1_000_000)] = 0
    """How many, spread over the namespaces in turn."""
    resolution: ResolutionMix = ResolutionMix()
    """Resolution mix."""
    hosts_per_entry: Annotated[int, AtLeast(1), AtMost(256)] = 1
    """Hosts of each entry."""
    addresses_per_entry: Annotated[int, AtLeast(0), AtMost(128)] = 0
    """Addresses of each entry, per family it has."""
    endpoints_per_entry: Annotated[int, AtLeast(0), AtMost(4096)] = 1
    """Endpoints of STATIC and DNS entries (DNS_ROUND_ROBIN: at most 1; NONE: none)."""
    families: EntryFamilies = EntryFamilies()
    """Address family mix."""
    protocols: EntryProtocols = EntryProtocols()
    """Port protocol mix."""
    virtual_services: Fraction = 0.0
    """Share of entries (rounded to a whole number) whose every host gets a VirtualService in the
    entry's namespace routing it to itself, by its port's kind: an HTTP route (with
    ``virtual_services.timeout_s`` and ``retry_attempts``), a TCP route, or a TLS route on the
    host's SNI (``docs/istio-objects.md`` 3.9)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class SidecarGen:
    """A Sidecar per namespace, its egress hosts derived from the call graph."""

    per_namespace: bool = False
    """Whether to generate them."""
    extra_hosts: tuple[str, ...] = ("istio-system/*",)
    """Egress hosts every Sidecar adds to its own namespace and the ones it calls."""
    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] | None = None
    """Outbound policy of every Sidecar; null: the mesh's."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class IstioObjectsGen:
    """The ``istio_objects`` section: generators of Istio objects for a mesh at scale."""

    virtual_services: VirtualServiceGen = VirtualServiceGen()
    """VirtualServices per service."""
    destination_rules: DestinationRuleGen = DestinationRuleGen()
    """DestinationRules per service."""
    service_entries: ServiceEntryGen = ServiceEntryGen()
    """ServiceEntries."""
    sidecars: SidecarGen = SidecarGen()
    """Sidecars per namespace."""


def parse_generator_params(raw: Any, *, source: str = "<scenario>", path: str = "istio_objects") -> IstioObjectsGen:
    """The ``istio_objects`` section, converted and checked; :class:`ScenarioError` at the first problem."""
    params = convert(IstioObjectsGen, raw, source=source, path=path)
    _check(params, source, path)
    return params


def _fail(source: str, path: str, message: str) -> None:
    raise ScenarioError(source, path, message)


def _weights(source: str, path: str, values: Iterable[float]) -> None:
    """Relative weights (each finite and >= 0) must add up to a positive, finite total."""
    total = sum(values)
    if total <= 0:
        _fail(source, path, "the weights add up to 0; give at least one a positive weight")
    if not math.isfinite(total):
        _fail(source, path, "the weights add up to more than the largest number (about 1.8e308); use smaller ones")


def _check(params: IstioObjectsGen, source: str, path: str) -> None:
    rules = params.destination_rules
    setting = locality_setting(rules)
    found = locality_setting_problem(setting) if setting is not None else None
    if found is not None:  # named by the generator's own keys: its entries are Istio's, in their order
        (field, *entry), found_problem = found
        where = join(join(path, "destination_rules"), str(field))
        if entry and isinstance(entry[0], int):
            where = join(where, list(getattr(rules, str(field)))[entry[0]])
        _fail(source, where, found_problem)
    vs = params.virtual_services
    if vs.share > 0 and vs.routes > 1 and vs.matches_per_route > 0:
        _weights(source, join(join(path, "virtual_services"), "match_kinds"), vars(vs.match_kinds).values())
    _check_entries(params.service_entries, source, join(path, "service_entries"))
    for i, host in enumerate(params.sidecars.extra_hosts):
        problem = sidecar_host_problem(host)
        if problem:
            _fail(source, join(join(join(path, "sidecars"), "extra_hosts"), i), problem)


def _check_entries(se: ServiceEntryGen, source: str, path: str) -> None:
    if se.count == 0:
        return
    for key in ("resolution", "families", "protocols"):
        _weights(source, join(path, key), vars(getattr(se, key)).values())
    resolved = se.resolution.static + se.resolution.dns + se.resolution.dns_round_robin
    if se.protocols.tcp > 0 and se.hosts_per_entry > 1 and resolved > 0:
        _fail(
            source,
            join(join(path, "protocols"), "tcp"),
            f"TCP ports cannot tell {se.hosts_per_entry} hosts apart (Istio refuses such a ServiceEntry unless its "
            "resolution is NONE); set hosts_per_entry to 1, tcp to 0, or only the none resolution",
        )
    if se.count * se.addresses_per_entry > ADDRESS_ROOM:
        _fail(
            source,
            join(path, "addresses_per_entry"),
            f"count × addresses_per_entry is {se.count * se.addresses_per_entry:,}; the generated "
            f"address block holds {ADDRESS_ROOM:,} per family",
        )
    if se.count * se.endpoints_per_entry > ENDPOINT_ROOM:
        _fail(
            source,
            join(path, "endpoints_per_entry"),
            f"count × endpoints_per_entry is {se.count * se.endpoints_per_entry:,}; the generated "
            f"endpoint block holds {ENDPOINT_ROOM:,} per family",
        )


def locality_setting(params: DestinationRuleGen) -> LocalityLbSetting | None:
    """The ``localityLbSetting`` every generated rule carries (``None``: the mesh's)."""
    if params.locality_failover and not params.failover and not params.distribute:
        return None
    return LocalityLbSetting(
        enabled=None if params.locality_failover else False,  # off: the lists stay, unused, as Istio keeps them
        failover=tuple(LocalityFailover(source=a, target=b) for a, b in params.failover.items()),
        distribute=tuple(LocalityDistribute(source=a, target=to) for a, to in params.distribute.items()),
    )

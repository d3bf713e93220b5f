"""VirtualService: the fields that shape a sidecar's routes, validated as Istio validates them.

Rules follow ``ValidateVirtualService`` in Istio's ``pkg/config/validation/validation.go`` and
``validateHTTPRoute`` in ``pkg/config/validation/virtualservice.go``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any, ClassVar

from dsim.errors import quote
from dsim.scenario.convert import join
from dsim.scenario.istio.common import (
    FIELD_REASONS,
    MANY,
    Checks,
    ExportTo,
    Many,
    NamedObject,
    NonNegativeInt32,
    PortSelector,
    SelectorLabels,
    UInt32,
    parse_named,
)
from dsim.scenario.istio.reader import MaxItems, Milliseconds, Parsed, Rule
from dsim.scenario.istio.route_actions import (
    Headers,
    HTTPDirectResponse,
    HTTPRedirect,
    HTTPRewrite,
    Percentage,
    Where,
    authority_problems,
    direct_response_problems,
    header_problems,
    percentage_problem,
    redirect_problems,
    rewrite_problems,
)
from dsim.scenario.istio.route_policies import CorsPolicy, HTTPFaultInjection, cors_problems, fault_problems
from dsim.scenario.istio.rules import (
    MESH_GATEWAY,
    first_overlap,
    gateway_name_problem,
    header_name_problem,
    is_ip,
    is_jwt_claim_header,
    namespace_problem,
    optional_namespace_problem,
    optional_port_problem,
    retry_on_problem,
    subset_name_problem,
    subset_of,
    wildcard_domain_problem,
)
from dsim.scenario.istio.string_match import StringMatch

KIND = "VirtualService"
# Envoy's weighted_clusters total_weight is a uint32: the weights of one route must fit in it.
_TOTAL_WEIGHT_MAX = 2**32 - 1


def _destination_host_problem(host: str) -> str | None:
    """``validateDestination``: a host, never the bare wildcard."""
    return "'*' is not a valid destination host" if host == "*" else wildcard_domain_problem(host)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Destination:
    """Where a route sends traffic: a service host, optionally one subset and port."""

    host: Annotated[str, Rule(_destination_host_problem)]
    """The service's host (short name, FQDN or ServiceEntry host)."""
    subset: Annotated[str, Rule(subset_name_problem)] | None = None
    """A DestinationRule subset of the host."""
    port: PortSelector | None = None
    """The host's port, needed when it has several."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPRouteDestination:
    """One weighted destination of an HTTP route."""

    destination: Destination
    """Where traffic goes."""
    weight: NonNegativeInt32 = 0
    """Relative share of the route's traffic (several destinations: their weights are normalised by Envoy)."""
    headers: Headers | None = None
    """Header operations for the traffic sent to this destination."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPMirrorPolicy:
    """One of ``mirrors``: where a copy of the route's traffic also goes, and what share of it."""

    destination: Destination
    """Where the copies go."""
    percentage: Percentage | None = None
    """The share mirrored; absent, all of it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class RouteDestination:
    """One weighted destination of a TCP or TLS route."""

    destination: Destination
    """Where traffic goes."""
    weight: NonNegativeInt32 = 0
    """Relative share of the route's connections."""


StringMatches = Annotated[dict[Annotated[str, Rule(header_name_problem)], StringMatch], MaxItems(MANY)]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPMatchRequest:
    """One way a request can match an HTTP route (all of its conditions must hold)."""

    name: str = ""
    """Appended to the route's name in Envoy."""
    uri: StringMatch | None = None
    """The request path."""
    method: StringMatch | None = None
    """The HTTP method."""
    headers: StringMatches = dataclasses.field(default_factory=dict)
    """Request headers by name (lowercase)."""
    query_params: Annotated[dict[str, StringMatch], MaxItems(MANY)] = dataclasses.field(default_factory=dict)
    """Query parameters by name."""
    ignore_uri_case: bool = False
    """Whether ``uri`` matches without regard to case."""
    port: Annotated[int, Rule(optional_port_problem)] = 0
    """Only requests to this port (0: any)."""
    source_labels: SelectorLabels = dataclasses.field(default_factory=dict)
    """Only for proxies whose labels hold these (``sourceMatchHTTP``)."""
    source_namespace: Annotated[str, Rule(optional_namespace_problem)] = ""
    """Only for proxies of this namespace ("": any)."""
    gateways: Annotated[tuple[Annotated[str, Rule(gateway_name_problem)], ...], MaxItems(MANY)] = ()
    """Only where built for one of these gateways (``mesh``: sidecars); when set, the source fields are not read."""
    authority: StringMatch | None = None
    """The request's authority (``:authority``)."""
    scheme: StringMatch | None = None
    """The request's scheme (``:scheme``)."""
    without_headers: StringMatches = dataclasses.field(default_factory=dict)
    """Request headers by name that must not match (or, a presence match, must be absent)."""
    stat_prefix: str = ""
    """The stats prefix of the route this match becomes."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPRetry:
    """Retry policy of an HTTP route."""

    attempts: NonNegativeInt32 = 0
    """Retries allowed (0 turns retries off)."""
    per_try_timeout: Milliseconds | None = None
    """Timeout of each try, milliseconds."""
    retry_on: str = ""
    """Comma-separated Envoy retry policies or status codes."""
    retry_remote_localities: bool | None = None
    """Whether a retry prefers another locality's endpoints."""
    retry_ignore_previous_hosts: bool | None = None
    """Whether a retry avoids the hosts already tried (absent: yes, unless a consistent hash)."""
    backoff: Milliseconds | None = None
    """The base interval between retries (absent: Envoy's 25 ms)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Delegate:
    """Another VirtualService whose routes this route delegates to."""

    name: str
    """Its name."""
    namespace: Annotated[str, Rule(namespace_problem)] | None = None
    """Its namespace; defaults to this VirtualService's."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPRoute:
    """One HTTP rule: its matches, weighted destinations, retries and timeout."""

    name: str = ""
    """Route name in Envoy."""
    match: Many[HTTPMatchRequest] = ()
    """Conditions, any of which selects the rule; none matches every request."""
    route: Many[HTTPRouteDestination] = ()
    """Weighted destinations."""
    retries: HTTPRetry | None = None
    """Retry policy; absent, the mesh default."""
    timeout: Milliseconds | None = None
    """Request timeout, milliseconds; absent, none."""
    delegate: Delegate | None = None
    """A VirtualService whose HTTP routes replace this one (root VirtualServices only)."""
    headers: Headers | None = None
    """Header operations on the route's requests and responses."""
    rewrite: HTTPRewrite | None = None
    """Path and authority rewritten before forwarding."""
    redirect: HTTPRedirect | None = None
    """A redirect answered in place of forwarding."""
    direct_response: HTTPDirectResponse | None = None
    """A fixed response answered in place of forwarding."""
    mirror: Destination | None = None
    """Where a copy of the traffic also goes."""
    mirror_percentage: Percentage | None = None
    """The share of the traffic ``mirror`` gets; absent, ``mirrorPercent``'s, else all of it."""
    mirror_percent: UInt32 | None = None
    """The share ``mirror`` gets in whole percent (deprecated by Istio for ``mirrorPercentage``)."""
    legacy_mirror_percent: UInt32 | None = dataclasses.field(default=None, metadata={"istio": "mirror_percent"})
    """``mirror_percent``: ``mirrorPercent`` under its protobuf name, which the CRD also accepts."""
    mirrors: Many[HTTPMirrorPolicy] = ()
    """Several mirrors, each with its share (Istio 1.20 and later); not with ``mirror``."""
    fault: HTTPFaultInjection | None = None
    """Delays and aborts injected into the route's requests."""
    cors_policy: CorsPolicy | None = None
    """The route's CORS rules."""

    @property
    def whole_mirror_percent(self) -> int | None:
        """``mirrorPercent`` under either name (Istio reads one protobuf field)."""
        return self.mirror_percent if self.mirror_percent is not None else self.legacy_mirror_percent

    def mirror_destinations(self) -> tuple[Destination, ...]:
        """Where the route's mirrors send (``mirror`` and each of ``mirrors``), whatever their share."""
        return ((self.mirror,) if self.mirror is not None else ()) + tuple(m.destination for m in self.mirrors)


@dataclasses.dataclass(frozen=True, kw_only=True)
class L4MatchAttributes:
    """A TCP route's match."""

    port: Annotated[int, Rule(optional_port_problem)] = 0
    """Only connections to this port (0: any)."""
    source_labels: SelectorLabels = dataclasses.field(default_factory=dict)
    """Only for proxies whose labels hold these (``matchTCP``)."""
    source_namespace: Annotated[str, Rule(optional_namespace_problem)] = ""
    """Only for proxies of this namespace ("": any)."""
    gateways: Annotated[tuple[Annotated[str, Rule(gateway_name_problem)], ...], MaxItems(MANY)] = ()
    """Only where built for one of these gateways (``mesh``: sidecars; none: any)."""

    IGNORED: ClassVar[Mapping[str, str]] = {key: FIELD_REASONS[key] for key in ("destinationSubnets", "sourceSubnet")}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TCPRoute:
    """One TCP rule."""

    match: Many[L4MatchAttributes] = ()
    """Conditions; none matches every connection."""
    route: Many[RouteDestination] = ()
    """Weighted destinations."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class TLSMatchAttributes:
    """A TLS route's match, by SNI."""

    sni_hosts: Many[str] = ()
    """SNI names; each must fall within the VirtualService's hosts."""
    port: Annotated[int, Rule(optional_port_problem)] = 0
    """Only connections to this port (0: any)."""
    source_labels: SelectorLabels = dataclasses.field(default_factory=dict)
    """Only for proxies whose labels hold these (``matchTLS``)."""
    source_namespace: Annotated[str, Rule(optional_namespace_problem)] = ""
    """Only for proxies of this namespace ("": any)."""
    gateways: Annotated[tuple[Annotated[str, Rule(gateway_name_problem)], ...], MaxItems(MANY)] = ()
    """Only where built for one of these gateways (``mesh``: sidecars; none: any)."""

    IGNORED: ClassVar[Mapping[str, str]] = {key: FIELD_REASONS[key] for key in ("destinationSubnets",)}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TLSRoute:
    """One TLS (SNI-routed) rule."""

    match: Many[TLSMatchAttributes] = ()
    """Conditions, at least one."""
    route: Many[RouteDestination] = ()
    """Weighted destinations."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualServiceSpec:
    """``VirtualService.spec``: the hosts it applies to and its routes."""

    hosts: Many[str] = ()
    """Hosts it routes (each a virtual host's domains); none makes it a delegate."""
    gateways: Many[str] = ()
    """Gateways it applies to (``mesh`` for sidecars); none means sidecars only."""
    http: Many[HTTPRoute] = ()
    """HTTP rules, first match wins."""
    tls: Many[TLSRoute] = ()
    """TLS rules for TLS and HTTPS ports."""
    tcp: Many[TCPRoute] = ()
    """TCP rules for opaque TCP ports."""
    export_to: ExportTo = ()
    """Namespaces that see it; none means the mesh default (all)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class VirtualService(NamedObject[VirtualServiceSpec]):
    """A VirtualService: its place and its spec."""

    KIND: ClassVar[str] = KIND


def parse_virtual_service(raw: Any, *, source: str = "<scenario>", path: str = "") -> Parsed[VirtualService]:
    """A pasted VirtualService, validated; raises :class:`~dsim.errors.ScenarioError` at the first problem."""
    return parse_named(VirtualService, VirtualServiceSpec, _VirtualServiceChecks, raw, source=source, path=path)


class _VirtualServiceChecks(Checks):
    def run(self, path: str, spec: VirtualServiceSpec) -> None:
        if not spec.hosts:
            self.delegate_spec(path, spec)
        for i, gateway in enumerate(spec.gateways):
            problem = gateway_name_problem(gateway)
            if problem:
                self.fail(join(join(path, "gateways"), i), problem)
        to_gateway = bool(spec.gateways) and MESH_GATEWAY not in spec.gateways
        if not to_gateway:
            self.no_jwt_routes(path, spec)
        self.hosts(join(path, "hosts"), spec.hosts, to_mesh=not to_gateway)
        if not (spec.http or spec.tcp or spec.tls):
            self.fail(path, "needs http, tcp or tls routes (it has none)")
        for i, route in enumerate(spec.http):
            self.http_route(join(join(path, "http"), i), route, in_delegate=not spec.hosts)
        for i, tls in enumerate(spec.tls):
            self.tls_route(join(join(path, "tls"), i), tls, spec.hosts)
        for i, tcp in enumerate(spec.tcp):
            if not tcp.route:
                self.fail(join(join(join(path, "tcp"), i), "route"), "a TCP route needs at least one destination")
            self.destinations(join(join(path, "tcp"), i), tcp.route)
        self.export_to(join(path, "exportTo"), spec.export_to)

    def delegate_spec(self, path: str, spec: VirtualServiceSpec) -> None:
        """A VirtualService without hosts is a delegate: HTTP routes only, bound to no gateway."""
        for key, items in (("gateways", spec.gateways), ("tls", spec.tls), ("tcp", spec.tcp)):
            if items:
                self.fail(join(path, key), f"a delegate VirtualService (no hosts) must have no {key}")

    def no_jwt_routes(self, path: str, spec: VirtualServiceSpec) -> None:
        for i, route in enumerate(spec.http):
            for k, match in enumerate(route.match):
                for key, headers in (("headers", match.headers), ("withoutHeaders", match.without_headers)):
                    for name in headers:
                        if is_jwt_claim_header(name):
                            where = join(join(join(join(join(path, "http"), i), "match"), k), key)
                            self.fail(
                                join(where, name), "JWT claim routing is only supported on gateways (no gateways here)"
                            )

    def hosts(self, path: str, hosts: Sequence[str], *, to_mesh: bool) -> None:
        for i, host in enumerate(hosts):
            problem = wildcard_domain_problem(host)
            if problem and not is_ip(host):
                self.fail(join(path, i), problem)
            if not problem and to_mesh and host == "*":
                self.fail(join(path, i), "the wildcard host '*' is not allowed for VirtualServices bound to sidecars")
        pair = first_overlap(hosts)
        if pair:
            first, second = pair
            self.fail(
                join(path, second),
                f"{quote(hosts[second])} duplicates hosts[{first}] ({quote(hosts[first])}); hosts must not overlap",
            )

    def http_route(self, path: str, route: HTTPRoute, *, in_delegate: bool) -> None:
        self.http_route_actions(path, route, in_delegate=in_delegate)
        for k, match in enumerate(route.match):
            self.http_match(join(join(path, "match"), k), match)
        if route.retries is not None:
            self.retries(join(path, "retries"), route.retries)
        self.destinations(path, route.route)
        self.route_changes(path, route)
        self.mirrors(path, route)

    def first_problem(self, path: str, problems: Iterator[tuple[Where, str]]) -> None:
        """Fail at the first of ``problems`` (each the keys below ``path`` and a phrase)."""
        for where, problem in problems:
            self.fail(functools.reduce(join, where, path), problem)

    def route_changes(self, path: str, route: HTTPRoute) -> None:
        """Header operations (the route's and each destination's), rewrite, redirect, direct response."""
        if route.headers is not None:
            self.first_problem(join(path, "headers"), header_problems(route.headers))
        for i, destination in enumerate(route.route):
            if destination.headers is not None:
                where = join(join(join(path, "route"), i), "headers")
                self.first_problem(where, header_problems(destination.headers))
        if route.rewrite is not None:
            self.first_problem(join(path, "rewrite"), rewrite_problems(route.rewrite))
        self.first_problem(path, authority_problems(route.rewrite, route.headers))
        if route.redirect is not None:
            kinds = tuple(_uri_kind(match.uri) for match in route.match)
            self.first_problem(join(path, "redirect"), redirect_problems(route.redirect, kinds))
        if route.direct_response is not None:
            self.first_problem(join(path, "directResponse"), direct_response_problems(route.direct_response))
        if route.fault is not None:
            self.first_problem(join(path, "fault"), fault_problems(route.fault))
        if route.cors_policy is not None:
            self.first_problem(join(path, "corsPolicy"), cors_problems(route.cors_policy))

    def mirrors(self, path: str, route: HTTPRoute) -> None:
        """``validateHTTPRoute``'s mirror rules: one of ``mirror`` and ``mirrors``, shares from 0 to 100."""
        # validateHTTPRouteConflict returns before this rule for a root route (one with a delegate).
        if route.mirror is not None and route.mirrors and route.delegate is None:
            self.fail(join(path, "mirrors"), "cannot be combined with mirror in one HTTP route")
        if route.mirror_percent is not None and route.legacy_mirror_percent is not None:
            self.fail(join(path, "mirror_percent"), "is mirrorPercent again under its other name; set one")
        whole = route.whole_mirror_percent
        if whole is not None and whole > 100:
            key = "mirrorPercent" if route.mirror_percent is not None else "mirror_percent"
            self.fail(join(path, key), f"must be at most 100 (got {whole})")
        if route.mirror_percentage is not None:
            self.check(join(join(path, "mirrorPercentage"), "value"), percentage_problem(route.mirror_percentage.value))
        for i, mirror in enumerate(route.mirrors):
            if mirror.percentage is not None:
                where = join(join(join(join(path, "mirrors"), i), "percentage"), "value")
                self.check(where, percentage_problem(mirror.percentage.value))

    def http_route_actions(self, path: str, route: HTTPRoute, *, in_delegate: bool) -> None:
        """``validateHTTPRouteConflict``: one action per rule (route, redirect or direct response)."""
        if route.delegate is not None:
            if in_delegate:
                self.fail(join(path, "delegate"), "a delegate VirtualService's route cannot delegate again")
            for key, value in (("route", route.route), ("redirect", route.redirect)):
                if value:
                    self.fail(join(path, key), f"a route with a delegate must not have a {key}")
            return
        given = (("route", route.route), ("redirect", route.redirect), ("directResponse", route.direct_response))
        actions = [key for key, value in given if value]
        if not actions:
            self.fail(path, "needs a route, redirect or directResponse (it has none)")
        if len(actions) > 1:
            self.fail(join(path, actions[1]), f"cannot be combined with {actions[0]} in one HTTP route")
        if actions[0] != "route":
            for key, given_too in (("fault", route.fault is not None), ("rewrite", route.rewrite is not None)):
                if given_too:
                    self.fail(join(path, key), f"cannot be combined with {actions[0]} in one HTTP route")

    def http_match(self, path: str, match: HTTPMatchRequest) -> None:
        if match.uri is not None:
            self.string_match(join(path, "uri"), match.uri, empty_prefix=True)
        for key, single in (("method", match.method), ("authority", match.authority), ("scheme", match.scheme)):
            if single is not None:
                self.string_match(join(path, key), single)
        for key, matches in (("headers", match.headers), ("queryParams", match.query_params)):
            for name, string_match in matches.items():
                self.string_match(join(join(path, key), name), string_match)
        for name, string_match in match.without_headers.items():
            if string_match.regex != "*":  # '*' is a presence match, not a regex
                self.string_match(join(join(path, "withoutHeaders"), name), string_match)

    def string_match(self, path: str, match: StringMatch, *, empty_prefix: bool = False) -> None:
        """``validateStringMatch``: one kind of match, and a prefix that says something (a URI may be '')."""
        self.one_of(path, {"exact": match.exact, "prefix": match.prefix, "regex": match.regex}, what="a StringMatch")
        if match.prefix == "" and not empty_prefix:
            self.fail(join(path, "prefix"), "a prefix string match cannot be empty")

    def retries(self, path: str, retries: HTTPRetry) -> None:
        """``agent.ValidateHTTPRetry``."""
        if retries.attempts == 0 and (
            retries.per_try_timeout is not None or retries.retry_on or retries.retry_remote_localities is not None
        ):
            self.fail(join(path, "attempts"), "is 0 (retries off), yet the retry policy sets other fields")
        if retries.retry_on:
            problem = retry_on_problem(retries.retry_on)
            if problem:
                self.fail(join(path, "retryOn"), problem)

    def destinations(self, path: str, destinations: Sequence[HTTPRouteDestination | RouteDestination]) -> None:
        """``validateHTTPRouteDestinations``: weights of several destinations must not all be 0."""
        total = sum(d.weight for d in destinations)
        if len(destinations) > 1 and total == 0:
            self.fail(join(path, "route"), "the destinations' weights add up to 0; give at least one a weight")
        if total > _TOTAL_WEIGHT_MAX:
            self.fail(join(path, "route"), f"the weights add up to {total:,}, more than Envoy's {_TOTAL_WEIGHT_MAX:,}")

    def tls_route(self, path: str, tls: TLSRoute, hosts: Sequence[str]) -> None:
        """``validateTLSRoute``: SNI matches within the VirtualService's hosts."""
        if not tls.match:
            self.fail(join(path, "match"), "a TLS route needs at least one match")
        for k, match in enumerate(tls.match):
            where = join(join(path, "match"), k)
            if not match.sni_hosts:
                self.fail(join(where, "sniHosts"), "a TLS match needs at least one SNI host")
            for s, sni in enumerate(match.sni_hosts):
                self.sni_host(join(join(where, "sniHosts"), s), sni, hosts)
        if not tls.route:
            self.fail(join(path, "route"), "a TLS route needs at least one destination")
        self.destinations(path, tls.route)

    def sni_host(self, path: str, sni: str, hosts: Sequence[str]) -> None:
        problem = wildcard_domain_problem(sni)
        if problem:
            if is_ip(sni):
                return  # Istio warns (clients rarely send an IP as SNI) but accepts it
            self.fail(path, problem)
        if not any(subset_of(sni, host) for host in hosts):
            self.fail(path, f"SNI host {quote(sni)} is not within any of the VirtualService's hosts")


def _uri_kind(uri: StringMatch | None) -> str:
    """A match's URI condition as ``validateHTTPRedirect`` tells them: none (""), a prefix, or another kind."""
    if uri is None:
        return ""
    return "prefix" if uri.prefix is not None else "other"

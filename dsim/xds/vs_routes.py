"""A VirtualService's HTTP routes as Envoy routes (``docs/istio-objects.md`` sections 1.5 and 1.6).

Follows ``BuildHTTPRoutesForVirtualService``, ``TranslateRoute``, ``TranslateRouteMatch`` and
``applyHTTPRouteDestination`` in Istio's ``pilot/pkg/networking/core/route/route.go`` and
``ConvertPolicy`` in ``route/retry/retry.go``: one route per match (one with the default match when
there is none), stopping after the first entry that matches everything; each route carries the
VirtualService's ``istio.config`` metadata, a decorator, the destination cluster(s), timeouts and
the retry policy. Which cluster a destination names is the caller's (the design decides the
family copy) and so is the hash policy its DestinationRule gives: ``cluster_of(destination, port)``
returns a :class:`Target`, or ``None`` to leave the destination out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from envoy.config.listener.v3 import listener_components_pb2 as lc
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.type.matcher.v3 import string_pb2
from google.protobuf import wrappers_pb2

from dsim.cluster.sources import Source
from dsim.scenario.istio.route_actions import Headers
from dsim.scenario.istio.virtual_service import (
    Destination,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    RouteDestination,
    StringMatch,
    TCPRoute,
    VirtualService,
)
from dsim.xds.common import duration, metadata, outbound_chain, tcp_filters, zero
from dsim.xds.retries import retry_policy
from dsim.xds.route_actions import (
    apply_rewrite,
    destination_authority,
    direct_response_action,
    fraction,
    header_changes,
    mirror_policy,
    redirect_action,
    string_matcher,
    write_filter_configs,
    write_headers,
)

API_VERSION = "v1alpha3"  # as dsim's DestinationRule metadata and Istio's golden dumps spell it


class Target(NamedTuple):
    """Where a route destination goes: its cluster, the decorator's ``host:port``, and the hash
    policy its DestinationRule's consistent hash gives the route (``None``: none)."""

    cluster: str
    operation: str
    hash_policy: rc.RouteAction.HashPolicy | None = None


DestinationCluster = Callable[[Destination, int], "Target | None"]
"""(destination, listener port) → (cluster name, ``host:port`` for the decorator), or ``None``."""


def config_path(kind: str, namespace: str, name: str) -> str:
    """``istio.config`` metadata of what an object builds (``BuildConfigInfoMetadata``)."""
    return f"/apis/networking.istio.io/{API_VERSION}/namespaces/{namespace}/{kind}/{name}"


def _string_matcher(match: StringMatch) -> string_pb2.StringMatcher | None:
    """:func:`string_matcher`, but ``None`` for ``regex: "*"`` too: like an empty matcher, a presence
    match (``canBeConvertedToPresentMatch``)."""
    if match.exact is None and match.prefix is None and match.regex == "*":
        return None
    return string_matcher(match)


def _header(name: str, match: StringMatch) -> rc.HeaderMatcher:
    matcher = _string_matcher(match)
    if matcher is None:
        return rc.HeaderMatcher(name=name, present_match=True)
    return rc.HeaderMatcher(name=name, string_match=matcher)


def _without(name: str, match: StringMatch) -> rc.HeaderMatcher:
    """A ``withoutHeaders`` entry: inverted, and a missing header read as empty unless it is a
    presence match (Envoy refuses the two together)."""
    out = _header(name, match)
    out.invert_match = True
    if not out.present_match:
        out.treat_missing_header_as_empty = True
    return out


def route_match(match: HTTPMatchRequest | None) -> rc.RouteMatch:
    """``TranslateRouteMatch`` for a sidecar: path, headers and ``withoutHeaders`` sorted by name,
    then ``:method``, ``:authority`` and ``:scheme``; query parameters."""
    if match is None:
        return rc.RouteMatch(prefix="/")
    out = rc.RouteMatch(case_sensitive=wrappers_pb2.BoolValue(value=not match.ignore_uri_case))
    uri = match.uri
    if uri is None or (uri.exact is None and uri.prefix is None and uri.regex is None):
        out.prefix = "/"
    elif uri.exact is not None:
        out.path = uri.exact
    elif uri.prefix is not None:
        out.prefix = uri.prefix
    else:
        out.safe_regex.regex = str(uri.regex)
    found = [(name, _header(name, value)) for name, value in match.headers.items()]
    found += [(name, _without(name, value)) for name, value in match.without_headers.items()]
    # Istio sorts by name alone (sort.Slice): a name in both keeps either order, of the same bytes.
    out.headers.extend(header for _, header in sorted(found, key=lambda pair: pair[0]))
    for name, value in ((":method", match.method), (":authority", match.authority), (":scheme", match.scheme)):
        if value is not None:
            out.headers.append(_header(name, value))
    for name, value in match.query_params.items():  # map order, as istiod leaves it
        matcher = _string_matcher(value)
        if matcher is None:
            out.query_parameters.add(name=name, present_match=True)
        else:
            out.query_parameters.add(name=name, string_match=matcher)
    return out


def _catch_all(match: HTTPMatchRequest | None) -> bool:
    """``IsCatchAllRoute``: a route matching every path (the prefix ``/`` or the regex ``.*``) with
    no header or query-parameter condition."""
    if match is None:
        return True
    uri = match.uri
    every_path = uri is None or (
        uri.exact is None and (uri.regex == ".*" or (uri.regex is None and uri.prefix in (None, "/")))
    )
    headers = match.headers or match.without_headers or match.method or match.authority or match.scheme
    return every_path and not headers and not match.query_params


def _path_of(match: HTTPMatchRequest | None) -> str:
    uri = match.uri if match is not None else None
    if uri is None or (uri.exact is None and uri.prefix is None and uri.regex is None):
        return "/*"
    if uri.exact is not None:
        return uri.exact
    if uri.prefix is not None:
        return f"{uri.prefix}*"
    return str(uri.regex)


class Picked(NamedTuple):
    """A destination a route's action names: its target, its weight (``None``: the route's only
    cluster) and its header operations (``None``: none)."""

    target: Target
    weight: int | None
    headers: Headers | None = None


def _picked(destinations: Sequence[tuple[Target | None, int, Headers | None]]) -> list[Picked]:
    """A route's destinations as its action names them: one (``None`` as its weight), a plain
    cluster; several, the weighted ones. Istio decides by the count, not the weights
    (``applyHTTPRouteDestination``, ``buildOutboundNetworkFilters``), so ``[100, 0]`` is a split of
    one. Where the family copy cannot reach a destination (``None``), the duplicate branch leaves it
    out and then a single destination with a weight is a plain cluster (docs 1.11)."""
    kept = [Picked(found, weight, headers) for found, weight, headers in destinations if found is not None]
    if len(kept) < len(destinations) and len(kept) > 1:  # the duplicate branch's family filter
        kept = [p for p in kept if p.weight]
    if len(kept) == 1:
        return [kept[0]._replace(weight=None)]
    return [p for p in kept if p.weight]


def _mirror_policies(
    http: HTTPRoute, port: int, cluster_of: DestinationCluster
) -> list[rc.RouteAction.RequestMirrorPolicy]:
    """``applyHTTPRouteDestination``'s mirrors: ``mirror`` with its share, then each of ``mirrors``;
    a share of 0 mirrors nothing, and a mirror the family copy cannot reach is left out *(inferred,
    as its destinations are: docs 1.11)*."""
    shares = []
    if http.mirror is not None:
        shares.append((http.mirror, fraction(http.mirror_percentage, http.whole_mirror_percent)))
    shares += [(m.destination, fraction(m.percentage, None)) for m in http.mirrors]
    out = []
    for destination, share in shares:
        found = cluster_of(destination, port) if share is not None else None
        if found is not None and share is not None:
            out.append(mirror_policy(found.cluster, share))
    return out


def _answer(route: rc.Route, http: HTTPRoute, port: int) -> bool:
    """Write the redirect or direct response ``http`` answers with in place of forwarding; whether it has one."""
    if http.redirect is not None:
        route.redirect.CopyFrom(redirect_action(http.redirect, port))
    elif http.direct_response is not None:
        route.direct_response.CopyFrom(direct_response_action(http.direct_response))
    else:
        return False
    return True


def _forward(action: rc.RouteAction, picked: Sequence[Picked], route: rc.Route) -> None:
    """The destinations of ``action``: one cluster, its header operations on the route (its
    authority only where the route set none); or weighted clusters, each with its own."""
    if picked[0].weight is None:
        only = picked[0]
        action.cluster = only.target.cluster
        if only.headers is not None:
            changes = header_changes(only.headers)
            write_headers(route, changes)
            destination_authority(action, changes.authority)
        return
    for target, weight, headers in picked:
        weighted = action.weighted_clusters.clusters.add(
            name=target.cluster, weight=wrappers_pb2.UInt32Value(value=weight or 0)
        )
        if headers is not None:
            changes = header_changes(headers)
            write_headers(weighted, changes)
            if changes.authority:
                weighted.host_rewrite_literal = changes.authority


def translate_route(
    vs: VirtualService,
    http: HTTPRoute,
    match: HTTPMatchRequest | None,
    port: int,
    cluster_of: DestinationCluster,
    mesh_retries: HTTPRetry | None,
) -> rc.Route | None:
    """One Envoy route, or ``None`` when none of its destinations is left for this configuration.
    A redirect or direct response answers in place of the destinations (``TranslateRoute``); the
    route's header operations apply to any of them (docs 1.6, "Route actions"); its retries, or
    where it sets none the mesh's ``defaultHttpRetryPolicy`` (``mesh_retries``), give its retry policy."""
    answers = http.redirect is not None or http.direct_response is not None
    picked = [] if answers else _picked([(cluster_of(d.destination, port), d.weight, d.headers) for d in http.route])
    if not answers and not picked:
        return None
    name = http.name + (f".{match.name}" if match is not None and match.name else "")
    route = rc.Route(
        name=name,
        match=route_match(match),
        metadata=metadata({"istio": {"config": config_path("virtual-service", vs.namespace, vs.name)}}),
        stat_prefix=match.stat_prefix if match is not None else "",
    )
    changes = header_changes(http.headers) if http.headers is not None else None
    if changes is not None:
        write_headers(route, changes)
    write_filter_configs(route, http.fault, http.cors_policy)
    if _answer(route, http, port):
        route.decorator.operation = f"{vs.name}:{port}{_path_of(match)}"  # no single cluster to name
        return route
    action = route.route
    timeout = duration(http.timeout) if http.timeout is not None else zero()
    action.timeout.CopyFrom(timeout)
    apply_rewrite(action, http.rewrite, changes.authority if changes is not None else "")
    action.request_mirror_policies.extend(_mirror_policies(http, port, cluster_of))
    _forward(action, picked, route)
    operation = picked[0].target.operation if picked[0].weight is None else f"{vs.name}:{port}"
    hashes = [p.target.hash_policy for p in picked if p.target.hash_policy is not None]
    action.hash_policy.extend(hashes)  # one per destination with a consistent hash, repeats kept
    # Only a single destination's hash drops the retry's previous-hosts predicate (applyHTTPRouteDestination).
    retries = http.retries if http.retries is not None else mesh_retries
    policy = retry_policy(retries, consistent_hash=picked[0].weight is None and bool(hashes))
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    action.max_grpc_timeout.CopyFrom(timeout)
    route.decorator.operation = f"{operation}{_path_of(match)}"
    return route


def _applies(match: HTTPMatchRequest | None, port: int, source: Source) -> bool:
    """``translateRoute``'s filter: the match is on listener port ``port`` (or on none) and holds
    for the proxy (:meth:`Source.keeps`)."""
    return match is None or ((not match.port or match.port == port) and source.keeps(match))


def takes_port(vs: VirtualService, port: int, source: Source) -> bool:
    """Whether one of ``vs``'s HTTP routes takes listener port ``port`` for the proxy ``source``
    stands for: if none does, Istio builds the VirtualService nothing there and its hosts keep their
    default virtual hosts (``buildSidecarVirtualHostsForVirtualService``)."""
    return any(
        http.delegate is None and any(_applies(m, port, source) for m in (http.match or (None,)))
        for http in vs.spec.http
    )


def http_routes(
    vs: VirtualService, port: int, cluster_of: DestinationCluster, source: Source, mesh_retries: HTTPRetry | None
) -> list[rc.Route]:
    """The routes ``vs`` gives a virtual host of listener port ``port`` for the proxy ``source``
    stands for (``BuildHTTPRoutesForVirtualService``): each route's matches that apply, in order,
    up to the first catch-all one that applies (``mesh_retries``: :func:`translate_route`)."""
    out: list[rc.Route] = []
    for http in vs.spec.http:
        if http.delegate is not None:
            continue  # none left once dsim.cluster.delegation has merged the delegates
        matches: Sequence[HTTPMatchRequest | None] = http.match or (None,)
        caught = False
        for match in matches:
            if not _applies(match, port, source):
                continue
            route = translate_route(vs, http, match, port, cluster_of, mesh_retries)
            if route is not None:
                out.append(route)
            if _catch_all(match):
                caught = True
                break
        if caught:
            break
    return out


def _tcp_applies(route: TCPRoute, port: int, source: Source) -> bool:
    """Whether ``route`` takes connections to listener port ``port`` from the proxy ``source``
    stands for: it has no match, or a match on no port or ``port`` that holds for it (``matchTCP``;
    dsim reads no subnet)."""
    return not route.match or any((not m.port or m.port == port) and source.keeps(m) for m in route.match)


def proxy_chain(
    vs: VirtualService,
    destinations: Sequence[RouteDestination],
    port: int,
    cluster_of: DestinationCluster,
    *,
    mongo: bool = False,
) -> lc.FilterChain | None:
    """A chain proxying to ``destinations`` (``buildOutboundNetworkFilters``): a ``tcp_proxy`` to the one
    destination, or split over those with a weight under the stat prefix ``<name>.<namespace>``, after
    a ``mongo_proxy`` on a ``mongo`` listener (:func:`dsim.xds.common.tcp_filters`); the
    VirtualService as ``istio.config``. ``None``: none of them is left for this family copy."""
    picked = _picked([(cluster_of(d.destination, port), d.weight, None) for d in destinations])
    if not picked:
        return None
    if picked[0].weight is None:
        filters = tcp_filters(picked[0].target.cluster, inbound=False, mongo=mongo)
    else:
        weighted = [(p.target.cluster, p.weight or 0) for p in picked]
        prefix = f"{vs.name}.{vs.namespace}"
        filters = tcp_filters("", inbound=False, weighted=weighted, stat_prefix=prefix, mongo=mongo)
    return outbound_chain(
        filters=filters,
        metadata=metadata({"istio": {"config": config_path("virtual-service", vs.namespace, vs.name)}}),
    )


def tcp_route(vs: VirtualService, port: int, source: Source) -> TCPRoute | None:
    """The first of ``vs``'s TCP routes with destinations that takes port ``port`` for the proxy
    ``source`` stands for (``buildSidecarOutboundTCPFilterChainOpts``; ``None``: none)."""
    return next((route for route in vs.spec.tcp if route.route and _tcp_applies(route, port, source)), None)


def tcp_chain(
    vs: VirtualService, port: int, cluster_of: DestinationCluster, source: Source, *, mongo: bool = False
) -> lc.FilterChain | None:
    """The filter chain :func:`tcp_route` gives a TCP or sniffed listener of ``port`` (Mongo:
    ``mongo``) (:func:`proxy_chain`). ``None``: no TCP route takes the port, or none of its
    destinations is left for this family copy (the default chain stays)."""
    route = tcp_route(vs, port, source)
    return None if route is None else proxy_chain(vs, route.route, port, cluster_of, mongo=mongo)


def tls_chains(
    virtual_services: Sequence[tuple[VirtualService, DestinationCluster]], port: int, source: Source
) -> tuple[lc.FilterChain, ...]:
    """The filter chains the TLS routes of ``virtual_services`` (each with how its destinations
    resolve), walked in order, give a TLS listener of port ``port``
    (``buildSidecarOutboundTLSFilterChainOpts``): per match that takes the port (no port, or
    ``port``), one chain matching its SNI hosts (``server_names``) that proxies to its route's
    destinations (:func:`proxy_chain`), the names sorted; a later match with the same SNI hosts adds nothing;
    a match whose source conditions leave out the proxy ``source`` stands for adds nothing. Empty: no
    TLS route takes the port (the default chain stays). A match none of whose destinations is left
    for this family copy adds no chain *(inferred)*."""
    handled: set[tuple[str, ...]] = set()
    out: list[lc.FilterChain] = []
    for vs, cluster_of in virtual_services:
        for route in vs.spec.tls:
            if not route.route:
                continue
            for match in route.match:
                if (match.port and match.port != port) or not source.keeps(match):  # matchTLS
                    continue
                key = tuple(match.sni_hosts)  # hashRuntimeTLSMatchPredicates (dsim reads no destinationSubnets)
                if key in handled:
                    continue
                handled.add(key)
                chain = proxy_chain(vs, route.route, port, cluster_of)
                if chain is not None:
                    # toFilterChainMatch sorts the names.
                    chain.filter_chain_match.server_names.extend(sorted(match.sni_hosts))
                    out.append(chain)
    return tuple(out)


__all__ = [
    "Target",
    "config_path",
    "http_routes",
    "proxy_chain",
    "route_match",
    "takes_port",
    "tcp_chain",
    "tcp_route",
    "tls_chains",
]

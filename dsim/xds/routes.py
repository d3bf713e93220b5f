"""Route configurations (RDS): one per HTTP port (and family copy), one per auto-detected VIP port."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.config.route.v3 import route_pb2
from google.protobuf import wrappers_pb2

from dsim.cluster.hostnames import route_host
from dsim.xds.common import zero
from dsim.xds.listeners import PASSTHROUGH
from dsim.xds.mesh_defaults import MeshDefaults
from dsim.xds.names import bracketed
from dsim.xds.retries import retry_policy
from dsim.xds.route_actions import CORS_FILTER, FAULT_FILTER
from dsim.xds.vocabulary import ROUTE_ACTIONS

VHOST_FIELD = 2
"""``RouteConfiguration.virtual_hosts``: a virtual host's field number in its route configuration."""


def sniffed_host_answers(host: str) -> bool:
    """Whether a sniffed port's own route configuration ``"<host>:P"`` holds the host's virtual host:
    Istio picks it by a domain equal to the name's host part, compared as written
    (``getVirtualHostsForSniffedServicePort``), and the domains are :func:`route_host`'s, so a host
    with a capital letter finds none and its route configuration has no virtual host."""
    return host == route_host(host)


def domains(
    host: str,
    service: str,
    namespace: str,
    proxy_namespace: str,
    vips: Sequence[str],
    *,
    aliases: Sequence[str] = (),
) -> list[str]:
    """Host headers a service answers to from ``proxy_namespace`` (Istio's ``generateVirtualHostDomains``
    for sidecars: ports are not appended, the absolute FQDN is included, then the names of its
    ``aliases``, the ExternalName Services naming it, then its VIPs, IPv6 ones bracketed)."""
    short = f"{service}.{namespace}"
    alternatives = [service, f"{short}.svc", short] if namespace == proxy_namespace else [short, f"{short}.svc"]
    return [host, f"{host}.", *alternatives, *aliases, *(bracketed(v) for v in vips)]


def entry_domains(
    host: str,
    vips: Sequence[str],
    alternatives: Sequence[str],
    dropped: frozenset[str],
    *,
    passthrough: bool,
    aliases: Sequence[str] = (),
) -> list[str]:
    """Host headers a ServiceEntry host answers to: itself, its ``alternatives`` (the names
    ``GenerateAltVirtualHosts`` expands it to) but those ``dropped`` (``dedupeDomains``: another
    host bears them), its ``vips``. ``passthrough``: a headless Service's host, whose names all come
    again with a ``*.`` prefix, as ``generateVirtualHostDomains`` gives a ``Passthrough`` service of
    the Kubernetes registry (a StatefulSet pod's own name), before the drop, which only checks the
    expanded names. ``aliases``: the names of the ExternalName Services naming the host, after its
    own (and prefixed too where it is passthrough)."""
    named = [host, *alternatives]
    prefixed = [f"*.{d}" for d in (*named, *aliases)] if passthrough else []
    return [*(d for d in named if d not in dropped), *aliases, *prefixed, *(bracketed(v) for v in vips)]


def virtual_host(name: str, domain_list: Sequence[str], route_list: Sequence[rc.Route]) -> rc.VirtualHost:
    """A virtual host as Istio writes every outbound one."""
    return rc.VirtualHost(
        name=name, domains=list(domain_list), routes=list(route_list), include_request_attempt_count=True
    )


def service_vhost(
    host: str,
    port: int,
    domain_list: Sequence[str],
    cluster: str,
    hash_policy: rc.RouteAction.HashPolicy | None = None,
    *,
    mesh: MeshDefaults,
) -> rc.VirtualHost:
    """``<host>:<port>`` with Istio's default route to ``cluster``, keyed by ``hash_policy`` where
    the service's DestinationRule hashes, retried as the ``mesh``'s ``defaultHttpRetryPolicy`` says
    (``BuildDefaultHTTPOutboundRoute``; the policy keeps its predicate under a hash: Istio builds the
    default route before it adds the hash, ``buildSidecarVirtualHostForService``)."""
    route = rc.Route(
        match=rc.RouteMatch(prefix="/"),
        route=rc.RouteAction(cluster=cluster, timeout=zero(), max_grpc_timeout=zero()),
        decorator=rc.Decorator(operation=f"{host}:{port}/*"),
        name="default",
    )
    policy = retry_policy(mesh.http_retry)
    if policy is not None:
        route.route.retry_policy.CopyFrom(policy)
    if hash_policy is not None:
        route.route.hash_policy.append(hash_policy)
    return rc.VirtualHost(
        name=f"{host}:{port}", domains=list(domain_list), routes=[route], include_request_attempt_count=True
    )


def default_route_objects(mesh: MeshDefaults) -> dict[str, int]:
    """:func:`vhost_objects` of a service's default virtual host: one route, and what it holds (its
    retry policy, where the ``mesh`` gives one; a hash policy is no object of its own)."""
    return vhost_objects([service_vhost("host", 1, [], "cluster", mesh=mesh)])


def catch_all(allow_any: bool) -> rc.VirtualHost:
    """Unknown hosts: passthrough (``allow_any``) or a 502 (``block_all``), as the outbound policy says."""
    if allow_any:
        action = rc.Route(
            name="allow_any",
            match=rc.RouteMatch(prefix="/"),
            route=rc.RouteAction(cluster=PASSTHROUGH, timeout=zero(), max_grpc_timeout=zero()),
        )
        return rc.VirtualHost(name="allow_any", domains=["*"], routes=[action], include_request_attempt_count=True)
    block = rc.Route(
        name="block_all", match=rc.RouteMatch(prefix="/"), direct_response=rc.DirectResponseAction(status=502)
    )
    return rc.VirtualHost(name="block_all", domains=["*"], routes=[block], include_request_attempt_count=True)


# Istio's DefaultMaxDirectResponseBodySizeBytes: the 1 MiB its validation allows a direct response
# body, raised from Envoy's default of 4 KiB (route/route.go; on sidecar route configurations from 1.18).
MAX_DIRECT_RESPONSE_BODY = 1 << 20


def route_configuration(name: str, virtual_hosts: Sequence[rc.VirtualHost]) -> route_pb2.RouteConfiguration:
    """An outbound route configuration as ``buildSidecarOutboundHTTPRouteConfig`` writes it (docs 1.1:
    the body limit from 1.17.2 and 1.18, ``ignore_port_in_host_matching`` on by default from 1.16)."""
    return route_pb2.RouteConfiguration(
        name=name,
        virtual_hosts=list(virtual_hosts),
        validate_clusters=wrappers_pb2.BoolValue(value=False),
        max_direct_response_body_size_bytes=wrappers_pb2.UInt32Value(value=MAX_DIRECT_RESPONSE_BODY),
        ignore_port_in_host_matching=True,
    )


ROUTE_OBJECTS = ("weighted_clusters", "header_matchers", "regex_matchers")
"""What a route holds beside itself that Envoy builds an object for: weighted destinations
(``ClusterWeight``), header and query-parameter matchers, and compiled regular expressions (RE2
programs: a regex path, a regex header or query-parameter match, or a regex path rewrite)."""

ROUTE_COUNTS = ("routes", *ROUTE_OBJECTS, *ROUTE_ACTIONS)
"""The route counts of a sidecar (:data:`dsim.xds.vocabulary.COUNT_COLUMNS` has them)."""


def _is_regex(matcher: rc.HeaderMatcher | rc.QueryParameterMatcher) -> bool:
    return matcher.HasField("string_match") and matcher.string_match.HasField("safe_regex")


def route_objects(route: rc.Route) -> tuple[int, ...]:
    """Per :data:`ROUTE_OBJECTS` then :data:`ROUTE_ACTIONS`, how many ``route`` holds."""
    action = route.route if route.HasField("route") else None
    weighted = action.weighted_clusters.clusters if action and action.HasField("weighted_clusters") else ()
    match = route.match
    matchers = [*match.headers, *match.query_parameters]
    regexes = int(match.HasField("safe_regex")) + sum(_is_regex(m) for m in matchers)
    regexes += int(action is not None and action.HasField("regex_rewrite"))
    header_owners = (route, *weighted)
    additions = sum(len(o.request_headers_to_add) + len(o.response_headers_to_add) for o in header_owners)
    removals = sum(len(o.request_headers_to_remove) + len(o.response_headers_to_remove) for o in header_owners)
    filters = route.typed_per_filter_config
    mirrors = len(action.request_mirror_policies) if action is not None else 0
    retries = int(action is not None and action.HasField("retry_policy"))
    priorities = int(retries and action is not None and action.retry_policy.HasField("retry_priority"))
    return (
        len(weighted),
        len(matchers),
        regexes,
        additions,
        removals,
        int(FAULT_FILTER in filters),
        int(CORS_FILTER in filters),
        mirrors,
        retries,
        priorities,
    )


def vhost_objects(vhosts: Iterable[rc.VirtualHost]) -> dict[str, int]:
    """The routes of ``vhosts`` and, per :data:`ROUTE_OBJECTS` and :data:`ROUTE_ACTIONS`, what they hold."""
    counts = dict.fromkeys(ROUTE_COUNTS, 0)
    for vhost in vhosts:
        counts["routes"] += len(vhost.routes)
        for route in vhost.routes:
            for name, value in zip(ROUTE_COUNTS[1:], route_objects(route), strict=True):
                counts[name] += value
    return counts

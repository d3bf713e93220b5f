"""What an HTTP route does beside choosing its clusters (``docs/istio-objects.md`` 1.6, "Route actions").

Follows ``TranslateRoute``, ``applyHTTPRouteDestination``, ``processDestination``,
``processWeightedDestination``, ``TranslateHeadersOperations``, ``ApplyRedirect``,
``ApplyDirectResponse``, ``MirrorPercent``, ``MirrorPercentByPolicy`` and
``TranslateRequestMirrorPolicy`` in Istio's ``pilot/pkg/networking/core/route/route.go`` (HEAD;
docs 1.6 says where older releases differ).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.type.matcher.v3 import regex_pb2, string_pb2
from envoy.type.v3 import percent_pb2
from google.protobuf import wrappers_pb2

from dsim.scenario.istio.header_rules import is_internal_header
from dsim.scenario.istio.route_actions import (
    HeaderOperations,
    Headers,
    HTTPDirectResponse,
    HTTPRedirect,
    HTTPRewrite,
    Percentage,
)
from dsim.scenario.istio.route_policies import GRPC_STATUS, CorsPolicy, HTTPFaultInjection
from dsim.scenario.istio.string_match import StringMatch
from dsim.xds.common import duration, pack

APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
# ApplyRedirect's codes; 301 also stands for none given.
_REDIRECT_CODES = {
    0: rc.RedirectAction.MOVED_PERMANENTLY,
    301: rc.RedirectAction.MOVED_PERMANENTLY,
    302: rc.RedirectAction.FOUND,
    303: rc.RedirectAction.SEE_OTHER,
    307: rc.RedirectAction.TEMPORARY_REDIRECT,
    308: rc.RedirectAction.PERMANENT_REDIRECT,
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
FAULT_FILTER = "envoy.filters.http.fault"  # wellknown.Fault
CORS_FILTER = "envoy.filters.http.cors"  # wellknown.CORS


class HeaderChanges(NamedTuple):
    """``HeadersOperations``: what one ``headers`` block writes, and the authority it sets ("": none)."""

    request_add: list[base_pb2.HeaderValueOption]
    response_add: list[base_pb2.HeaderValueOption]
    request_remove: list[str]
    response_remove: list[str]
    authority: str


def _options(headers: Mapping[str, str], action: int) -> list[base_pb2.HeaderValueOption]:
    """``translateAppendHeaders``: one option per header Envoy may change, sorted by name."""
    return [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=name, value=headers[name]), append_action=action)
        for name in sorted(headers)
        if not is_internal_header(name)
    ]


def header_changes(headers: Headers) -> HeaderChanges:
    """``TranslateHeadersOperations``: each side's ``set`` (overwrite) then ``add`` (append), internal
    headers dropped; the authority a request ``set`` gives, else an ``add``."""
    request = headers.request or HeaderOperations()
    response = headers.response or HeaderOperations()
    return HeaderChanges(
        request_add=_options(request.set, OVERWRITE) + _options(request.add, APPEND),
        response_add=_options(response.set, OVERWRITE) + _options(response.add, APPEND),
        request_remove=[name for name in request.remove if not is_internal_header(name)],
        response_remove=[name for name in response.remove if not is_internal_header(name)],
        authority=headers.authority(),
    )


def write_headers(target: rc.Route | rc.WeightedCluster.ClusterWeight, changes: HeaderChanges) -> None:
    """Append ``changes`` to ``target``'s header lists (a destination's come after its route's)."""
    target.request_headers_to_add.extend(changes.request_add)
    target.response_headers_to_add.extend(changes.response_add)
    target.request_headers_to_remove.extend(changes.request_remove)
    target.response_headers_to_remove.extend(changes.response_remove)


def apply_rewrite(action: rc.RouteAction, rewrite: HTTPRewrite | None, authority: str) -> None:
    """The rewrite part of ``applyHTTPRouteDestination``: the path by prefix or regex, then the host
    (``rewrite.authority``, else the route's headers' ``authority``). Istio's mesh default
    ``proxyHeaders.xForwardedHost`` (off) leaves ``append_x_forwarded_host`` unset."""
    if rewrite is not None:
        regex = rewrite.uri_regex_rewrite
        if regex is not None:
            action.regex_rewrite.pattern.regex = regex.match
            action.regex_rewrite.substitution = regex.rewrite
        elif rewrite.uri:
            action.prefix_rewrite = rewrite.uri
        authority = rewrite.authority or authority
    if authority:
        action.host_rewrite_literal = authority


def destination_authority(action: rc.RouteAction, authority: str) -> None:
    """A single destination's authority header rewrites the host only where the route's did not."""
    if authority and not action.HasField("host_rewrite_literal"):
        action.host_rewrite_literal = authority


def millionths(percentage: Percentage) -> percent_pb2.FractionalPercent:
    """``translatePercentToFractionalPercent``: Go's truncating ``uint32(value * 10000)`` of a million."""
    return percent_pb2.FractionalPercent(
        numerator=int(percentage.value * 10000), denominator=percent_pb2.FractionalPercent.MILLION
    )


def hundredths(whole: int) -> percent_pb2.FractionalPercent:
    """``translateIntegerToFractionalPercent``: an int32 share of a hundred, as Go's ``uint32`` wraps it."""
    return percent_pb2.FractionalPercent(numerator=whole & 0xFFFFFFFF)


def fraction(percentage: Percentage | None, whole: int | None) -> percent_pb2.FractionalPercent | None:
    """``MirrorPercent``: a ``mirrorPercentage`` in millionths, else a ``mirrorPercent`` in
    hundredths, else all of it; ``None`` for an explicit 0."""
    if percentage is not None:
        return millionths(percentage) if percentage.value > 0 else None
    if whole is not None and whole <= 0:
        return None
    return hundredths(100 if whole is None else whole)


def mirror_policy(cluster: str, share: percent_pb2.FractionalPercent) -> rc.RouteAction.RequestMirrorPolicy:
    """``TranslateRequestMirrorPolicy``: the cluster, its share, traces not sampled, and (Istio 1.28
    and later, ``DISABLE_SHADOW_HOST_SUFFIX`` on by default) no ``-shadow`` suffix on the host."""
    policy = rc.RouteAction.RequestMirrorPolicy(
        cluster=cluster,
        trace_sampled=wrappers_pb2.BoolValue(value=False),
        disable_shadow_host_suffix_append=True,
    )
    policy.runtime_fraction.default_value.CopyFrom(share)
    return policy


def redirect_action(redirect: HTTPRedirect, port: int) -> rc.RedirectAction:
    """``ApplyRedirect`` on a sidecar's (plaintext) route configuration of listener port ``port``."""
    out = rc.RedirectAction(host_redirect=redirect.authority, response_code=_REDIRECT_CODES[redirect.redirect_code])
    if redirect.prefix_rewrite:
        out.prefix_rewrite = redirect.prefix_rewrite
    else:
        out.path_redirect = redirect.uri  # written even when empty: the oneof is set
    if redirect.scheme:
        out.scheme_redirect = redirect.scheme
    if redirect.port is not None or redirect.derive_port is not None:
        if redirect.port is not None:
            out.port_redirect = redirect.port
        elif redirect.derive_port == "FROM_REQUEST_PORT":
            out.port_redirect = port  # the route is built per listener port, so the request's port is known
        scheme = redirect.scheme or "http"
        if out.port_redirect == _DEFAULT_PORTS.get(scheme):
            out.port_redirect = 0  # no explicit :80 for http or :443 for https
    return out


def direct_response_action(response: HTTPDirectResponse) -> rc.DirectResponseAction:
    """``ApplyDirectResponse``: the status, and the body as inline text or bytes."""
    out = rc.DirectResponseAction(status=response.status)
    data = None if response.body is None else response.body.data()
    if data is not None:
        if isinstance(data, str):
            out.body.inline_string = data
        else:
            out.body.inline_bytes = data
    return out


def fault_config(fault: HTTPFaultInjection) -> fault_pb2.HTTPFault:
    """``TranslateFault``: a fixed delay with its share (``percentage`` in millionths, else the
    legacy ``percent``, 0 when neither), an abort by HTTP or gRPC status with its share if given;
    a delay or abort without its kind is left out, and a fault left with neither is empty."""
    out = fault_pb2.HTTPFault()
    delay, abort = fault.delay, fault.abort
    if delay is not None and delay.fixed_delay is not None:
        share = millionths(delay.percentage) if delay.percentage is not None else hundredths(delay.percent or 0)
        out.delay.percentage.CopyFrom(share)
        out.delay.fixed_delay.CopyFrom(duration(delay.fixed_delay))
    if abort is not None and (abort.http_status is not None or abort.grpc_status is not None):
        if abort.percentage is not None:
            out.abort.percentage.CopyFrom(millionths(abort.percentage))
        if abort.http_status is not None:
            out.abort.http_status = abort.http_status
        else:
            out.abort.grpc_status = GRPC_STATUS[str(abort.grpc_status)]
    return out


def string_matcher(match: StringMatch) -> string_pb2.StringMatcher | None:
    """``ConvertToEnvoyMatch``: exact, prefix or regex (``None``: none given)."""
    if match.exact is not None:
        return string_pb2.StringMatcher(exact=match.exact)
    if match.prefix is not None:
        return string_pb2.StringMatcher(prefix=match.prefix)
    if match.regex is not None:
        return string_pb2.StringMatcher(safe_regex=regex_pb2.RegexMatcher(regex=match.regex))
    return None


def cors_config(policy: CorsPolicy) -> cors_pb2.CorsPolicy:
    """``TranslateCORSPolicy`` (HEAD): preflights that match no origin forwarded unless
    ``unmatchedPreflights: IGNORE``; origins by match (else the legacy exact list); the filter on for
    every request; the lists joined by commas; the max age in seconds."""
    out = cors_pb2.CorsPolicy(
        allow_methods=",".join(policy.allow_methods),
        allow_headers=",".join(policy.allow_headers),
        expose_headers=",".join(policy.expose_headers),
    )
    out.forward_not_matching_preflights.value = policy.unmatched_preflights != "IGNORE"
    if policy.allow_origins:
        out.allow_origin_string_match.extend(m for m in map(string_matcher, policy.allow_origins) if m is not None)
    else:
        out.allow_origin_string_match.extend(string_pb2.StringMatcher(exact=o) for o in policy.allow_origin)
    out.filter_enabled.default_value.CopyFrom(hundredths(100))
    if policy.allow_credentials is not None:
        out.allow_credentials.value = policy.allow_credentials
    if policy.max_age is not None:
        out.max_age = str(policy.max_age // 1000)
    return out


def write_filter_configs(route: rc.Route, fault: HTTPFaultInjection | None, cors: CorsPolicy | None) -> None:
    """The route's ``typed_per_filter_config``: its fault and CORS policy, for the fault and CORS
    filters every sidecar's HTTP connection manager carries."""
    if fault is not None:
        route.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(fault_config(fault)))
    if cors is not None:
        route.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors_config(cors)))


__all__ = [
    "HeaderChanges",
    "apply_rewrite",
    "cors_config",
    "destination_authority",
    "direct_response_action",
    "fault_config",
    "fraction",
    "header_changes",
    "mirror_policy",
    "redirect_action",
    "string_matcher",
    "write_filter_configs",
    "write_headers",
]

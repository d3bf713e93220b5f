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


def fraction(percentage: Percentage | None, whole: int | None) -> percent_pb2.FractionalPercent | None:
    """``MirrorPercent``: a ``mirrorPercentage`` in millionths (Go's truncating ``uint32(value *
    10000)``), else a ``mirrorPercent`` in hundredths, else all of it; ``None`` for an explicit 0."""
    if percentage is not None:
        if percentage.value <= 0:
            return None
        return percent_pb2.FractionalPercent(
            numerator=int(percentage.value * 10000), denominator=percent_pb2.FractionalPercent.MILLION
        )
    if whole is not None and whole <= 0:
        return None
    return percent_pb2.FractionalPercent(numerator=100 if whole is None else whole)


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


__all__ = [
    "HeaderChanges",
    "apply_rewrite",
    "destination_authority",
    "direct_response_action",
    "fraction",
    "header_changes",
    "mirror_policy",
    "redirect_action",
    "write_headers",
]

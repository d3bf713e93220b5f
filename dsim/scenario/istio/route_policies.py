"""An HTTP route's fault injection and CORS policy (``docs/istio-objects.md`` 1.6, "Route actions"):
Istio's fields (``HTTPFaultInjection``, ``CorsPolicy``) and the rules of
``validateHTTPFaultInjection`` and ``validateCORSPolicy`` in Istio's
``pkg/config/validation/validation.go``. An abort status of 600, which Istio's range allows and
Envoy 1.40's refuses, is refused as a direct response's is.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Literal

from dsim.errors import quote
from dsim.scenario.istio.common import Int32, Many
from dsim.scenario.istio.reader import Milliseconds
from dsim.scenario.istio.route_actions import Percentage, Where
from dsim.scenario.istio.rules import regex_problem
from dsim.scenario.istio.string_match import StringMatch

# pkg/util/grpc/codes.go SupportedGRPCStatus: the status names Istio takes, and their codes.
GRPC_STATUS = {
    name: code
    for code, name in enumerate(
        (
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        )
    )
}
# validation.go supportedCORSMethods: Go's net/http method names and '*'.
CORS_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~A-Za-z0-9]+\Z")  # validHeaderNameRegex: RFC 7230 tchars


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultDelay:
    """A delay injected before forwarding some of the route's requests."""

    fixed_delay: Milliseconds | None = None
    """How long."""
    exponential_delay: Milliseconds | None = None
    """Istio refuses it (not supported yet)."""
    percentage: Percentage | None = None
    """The share of requests delayed."""
    percent: Int32 | None = None
    """The share in whole percent (deprecated by Istio for ``percentage``)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultAbort:
    """An error returned in place of forwarding some of the route's requests."""

    http_status: Int32 | None = None
    """The HTTP status returned."""
    grpc_status: str | None = None
    """The gRPC status returned, by name (``UNAVAILABLE``)."""
    http2_error: str | None = None
    """Istio refuses it (not supported yet)."""
    percentage: Percentage | None = None
    """The share of requests aborted."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPFaultInjection:
    """``HTTPFaultInjection``: delays and aborts the sidecar injects into the route's requests."""

    delay: FaultDelay | None = None
    """The delay."""
    abort: FaultAbort | None = None
    """The abort."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class CorsPolicy:
    """``CorsPolicy``: the route's Cross-Origin Resource Sharing rules, applied by Envoy's CORS filter."""

    allow_origins: Many[StringMatch] = ()
    """Origins allowed, as string matches."""
    allow_origin: Many[str] = ()
    """Origins allowed, exactly (deprecated by Istio for ``allowOrigins``)."""
    allow_methods: Many[str] = ()
    """Methods allowed."""
    allow_headers: Many[str] = ()
    """Request headers allowed."""
    expose_headers: Many[str] = ()
    """Response headers the browser may read."""
    max_age: Milliseconds | None = None
    """How long a preflight's answer may be cached (whole seconds)."""
    allow_credentials: bool | None = None
    """Whether credentials are allowed."""
    unmatched_preflights: Literal["UNSPECIFIED", "FORWARD", "IGNORE"] = "UNSPECIFIED"
    """What happens to a preflight request that matches no origin."""


def share_problem(percentage: Percentage | None) -> str | None:
    """``validatePercentage``: a fault's share is 0 or from 0.0001 to 100."""
    if percentage is None:
        return None
    value = percentage.value
    if value == 0 or 0.0001 <= value <= 100:
        return None
    return f"must be 0 or from 0.0001 to 100 (got {quote(value)})"


def fault_problems(fault: HTTPFaultInjection) -> Iterator[tuple[Where, str]]:
    """``validateHTTPFaultInjection`` and what it calls, and the CRD's one-of rules: (keys below ``fault``, problem)."""
    if fault.abort is None and fault.delay is None:
        yield (), "needs an abort, a delay or both (it has neither)"
    abort, delay = fault.abort, fault.delay
    if abort is not None:
        if problem := share_problem(abort.percentage):
            yield ("abort", "percentage", "value"), problem
        given = [k for k, v in (("httpStatus", abort.http_status), ("grpcStatus", abort.grpc_status)) if v is not None]
        given += ["http2Error"] if abort.http2_error is not None else []
        if len(given) > 1:
            yield ("abort", given[1]), f"cannot be combined with {given[0]}; an abort takes one of them"
        if abort.http2_error is not None:
            yield ("abort", "http2Error"), "HTTP/2 abort faults are not supported by Istio"
        if abort.http_status is not None and not 200 <= abort.http_status <= 599:
            yield ("abort", "httpStatus"), f"{abort.http_status} is not an HTTP status Envoy aborts with (200 to 599)"
        if abort.grpc_status is not None and abort.grpc_status not in GRPC_STATUS:
            yield ("abort", "grpcStatus"), f"{quote(abort.grpc_status)} is not a gRPC status name, such as NOT_FOUND"
    if delay is not None:
        if problem := share_problem(delay.percentage):
            yield ("delay", "percentage", "value"), problem
        if delay.fixed_delay is not None and delay.exponential_delay is not None:
            yield ("delay", "exponentialDelay"), "cannot be combined with fixedDelay; a delay takes one of them"
        if delay.exponential_delay is not None:
            yield ("delay", "exponentialDelay"), "exponential delays are not supported by Istio yet"


def cors_problems(policy: CorsPolicy) -> Iterator[tuple[Where, str]]:
    """``validateCORSPolicy``: (keys below ``corsPolicy``, problem)."""
    for i, origin in enumerate(policy.allow_origins):
        kinds = [(k, v) for k, v in (("exact", origin.exact), ("prefix", origin.prefix), ("regex", origin.regex)) if v]
        if not kinds:
            yield ("allowOrigins", i), "an origin needs a non-empty exact, prefix or regex"
        elif len(kinds) > 1:
            yield ("allowOrigins", i), f"sets both {kinds[0][0]} and {kinds[1][0]}; an origin takes one of them"
        elif kinds[0][0] == "regex" and (problem := regex_problem(kinds[0][1])):
            yield ("allowOrigins", i, "regex"), problem
    for i, method in enumerate(policy.allow_methods):
        if method not in CORS_METHODS:
            yield ("allowMethods", i), f"{quote(method)} is not an HTTP method ({', '.join(CORS_METHODS)})"
    for key, names in (("allowHeaders", policy.allow_headers), ("exposeHeaders", policy.expose_headers)):
        for i, name in enumerate(names):
            if name != "*" and not _TOKEN.match(name):
                yield (key, i), f"{quote(name)} is not a header name (nor '*')"
    if policy.max_age is not None and policy.max_age % 1000:
        yield ("maxAge",), f"is {policy.max_age} ms; a CORS max age is whole seconds"

"""An HTTP route's actions as a user pastes them (issue 16, ``docs/istio-objects.md`` 1.6 "Route
actions"): header operations, rewrite, redirect, direct response and mirrors are read with Istio's
meaning, and each rule of Istio's validation (``validateHTTPRoute`` and what it calls, in
``pkg/config/validation``) refuses at the field's exact path; so do the values Istio accepts that
Envoy 1.40 refuses."""

from __future__ import annotations

from typing import Any

import pytest

from dsim.scenario.istio import parse_virtual_service
from dsim.scenario.istio.header_rules import header_value_problem
from tests.test_istio_objects_language import DELETE, REVIEWS_VS, edited, load, refusal

P = "objects[3].spec"


def _answering(key: str, value: Any) -> dict[str, Any]:
    """``reviews`` whose first HTTP route answers with ``key`` (redirect, directResponse) in place of a route."""
    data = edited(REVIEWS_VS, "spec.http[0].route", DELETE)
    data["spec"]["http"][0][key] = value
    return data


ACTIONS = """
name: ratings
namespace: shop
spec:
  hosts: [ratings]
  http:
  - match: [{uri: {prefix: /old}}]
    redirect: {prefixRewrite: /new, derivePort: FROM_REQUEST_PORT, redirectCode: 308}
  - match: [{uri: {exact: /gone}}]
    directResponse: {status: 410, body: {bytes: Z29uZQ==}}
    headers: {response: {set: {cache-control: no-store}}}
  - headers:
      request:
        set: {x-env: prod, ":authority": ratings.internal}
        add: {x-trace: "%REQ(x-request-id)%"}
        remove: [x-debug]
      response: {add: {x-served-by: "%HOSTNAME%"}, remove: [server]}
    rewrite: {uriRegexRewrite: {match: "^/v1/(.*)", rewrite: "/v2/\\\\1"}}
    mirror: {host: ratings-shadow, port: {number: 9080}}
    mirror_percent: 20
    route:
    - destination: {host: ratings}
      headers: {request: {set: {x-dest: a}}}
  - mirrors:
    - destination: {host: ratings-shadow}
      percentage: {value: 12.5}
    - destination: {host: ratings-audit, subset: v1}
    route:
    - destination: {host: ratings}
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 0.5}}
      abort: {grpcStatus: UNAVAILABLE}
    corsPolicy:
      allowOrigins: [{prefix: "https://"}]
      allowCredentials: false
      maxAge: 1m
      unmatchedPreflights: IGNORE
"""


def test_every_action_is_read_with_istios_meaning() -> None:
    parsed = parse_virtual_service(load(ACTIONS))
    assert not parsed.ignored  # nothing of it is left out any more
    redirect, gone, rewritten, mirrored = parsed.value.spec.http
    assert redirect.redirect is not None
    assert (redirect.redirect.prefix_rewrite, redirect.redirect.derive_port) == ("/new", "FROM_REQUEST_PORT")
    assert redirect.redirect.redirect_code == 308
    assert gone.direct_response is not None
    assert gone.direct_response.body is not None
    assert gone.direct_response.body.data() == b"gone"
    assert rewritten.headers is not None
    assert rewritten.headers.authority() == "ratings.internal"
    assert rewritten.rewrite is not None
    assert rewritten.rewrite.uri_regex_rewrite is not None
    assert rewritten.whole_mirror_percent == 20  # mirror_percent is mirrorPercent under its protobuf name
    assert [d.host for d in mirrored.mirror_destinations()] == ["ratings-shadow", "ratings-audit"]
    assert rewritten.route[0].headers is not None
    assert mirrored.fault is not None
    assert mirrored.fault.abort is not None
    assert mirrored.fault.abort.grpc_status == "UNAVAILABLE"
    assert mirrored.cors_policy is not None
    assert (mirrored.cors_policy.max_age, mirrored.cors_policy.allow_credentials) == (60_000, False)


ROUTE_REFUSALS = [
    (
        "spec.http[1].headers",
        {"request": {"set": {":path": "/x"}}},
        f"{P}.http[1].headers.request.set[':path']",
        "a header name cannot start with ':'",
    ),
    (
        "spec.http[1].headers",
        {"response": {"set": {"Host": "x"}}},
        f"{P}.http[1].headers.response.set.Host",
        "can only be set on the request",
    ),
    (
        "spec.http[1].headers",
        {"request": {"remove": ["x-a", ""]}},
        f"{P}.http[1].headers.request.remove[1]",
        "cannot be empty",
    ),
    (
        "spec.http[1].headers",
        {"request": {"remove": ["host"]}},
        f"{P}.http[1].headers.request.remove[0]",
        "can only be set on the request",
    ),
    (
        "spec.http[1].headers",
        {"request": {"add": {"x-a": "50%"}}},
        f"{P}.http[1].headers.request.add.x-a",
        "neither '%%' nor the start of a substitution",
    ),
    (
        "spec.http[1].headers",
        {"response": {"set": {"x-a": "a\u0001b"}}},
        f"{P}.http[1].headers.response.set.x-a",
        "control character",
    ),
    (
        "spec.http[1].headers",
        {"request": {"set": {":authority": "a"}, "add": {"host": "b"}}},
        f"{P}.http[1].headers.request.add.host",
        "sets the authority again ('b'; headers.request.set.:authority set 'a')",
    ),
    # validateAuthorityRewrite counts values: an authority set to "" leaves it unset
    ("spec.http[1].headers", {"request": {"set": {":authority": ""}, "add": {"host": "b"}}}, "", None),
    (
        "spec.http[1].route[0].headers",
        {"response": {"add": {":status": "200"}}},
        f"{P}.http[1].route[0].headers.response.add[':status']",
        "cannot start with ':'",
    ),
    ("spec.http[1].rewrite", {}, f"{P}.http[1].rewrite", "needs uri, uriRegexRewrite or authority"),
    (
        "spec.http[1].rewrite",
        {"uri": "/a", "uriRegexRewrite": {"match": "a", "rewrite": "b"}},
        f"{P}.http[1].rewrite.uriRegexRewrite",
        "cannot be combined with uri",
    ),
    (
        "spec.http[1].rewrite",
        {"uriRegexRewrite": {"match": "a"}},
        f"{P}.http[1].rewrite.uriRegexRewrite",
        "needs both match and rewrite",
    ),
    (
        "spec.http[1].rewrite",
        {"uriRegexRewrite": {"match": "(a", "rewrite": "b"}},
        f"{P}.http[1].rewrite.uriRegexRewrite.match",
        "not closed",
    ),
    (
        "spec.http[1].mirrors",
        [{"destination": {"host": "x"}}],
        f"{P}.http[1].mirrors",
        None,  # valid alone; the combination with mirror is the next test's
    ),
    ("spec.http[1].mirrorPercent", 101, f"{P}.http[1].mirrorPercent", "must be at most 100 (got 101)"),
    ("spec.http[1].mirrorPercent", -1, f"{P}.http[1].mirrorPercent", "must be >= 0"),
    (
        "spec.http[1].mirrorPercentage",
        {"value": 100.5},
        f"{P}.http[1].mirrorPercentage.value",
        "must be from 0 to 100 (got 100.5)",
    ),
    (
        "spec.http[1].mirrors",
        [{"destination": {"host": "x"}, "percentage": {"value": -1}}],
        f"{P}.http[1].mirrors[0].percentage.value",
        "must be from 0 to 100",
    ),
    (
        "spec.http[1].mirrors",
        [{"percentage": {"value": 5}}],
        f"{P}.http[1].mirrors[0].destination",
        "missing (this field is required)",
    ),
    ("spec.http[1].mirror", {"host": "*"}, f"{P}.http[1].mirror.host", "'*' is not a valid"),
    ("spec.http[0].match[0].scheme", {"prefix": ""}, f"{P}.http[0].match[0].scheme.prefix", "cannot be empty"),
    ("spec.http[0].match[0].authority", {"exact": "a", "prefix": "b"}, f"{P}.http[0].match[0].authority", "sets both"),
    (
        "spec.http[0].match[0].withoutHeaders",
        {"@request.auth.claims.sub": {"exact": "x"}},
        f"{P}.http[0].match[0].withoutHeaders['@request.auth.claims.sub']",
        "JWT claim routing is only supported on gateways",
    ),
    ("spec.http[0].match[0].withoutHeaders", {"x-a": {"regex": "*"}}, "", None),  # a presence match
    (
        "spec.http[0].match[0].withoutHeaders",
        {"x-a": {"prefix": ""}},
        f"{P}.http[0].match[0].withoutHeaders.x-a.prefix",
        "cannot be empty",
    ),
    ("spec.http[1].fault", {}, f"{P}.http[1].fault", "needs an abort, a delay or both"),
    (
        "spec.http[1].fault",
        {"abort": {"httpStatus": 600}},
        f"{P}.http[1].fault.abort.httpStatus",
        "600 is not an HTTP status Envoy aborts with",
    ),
    (
        "spec.http[1].fault",
        {"abort": {"httpStatus": 503, "grpcStatus": "UNAVAILABLE"}},
        f"{P}.http[1].fault.abort.grpcStatus",
        "cannot be combined with httpStatus",
    ),
    (
        "spec.http[1].fault",
        {"abort": {"grpcStatus": "unavailable"}},
        f"{P}.http[1].fault.abort.grpcStatus",
        "'unavailable' is not a gRPC status name",
    ),
    ("spec.http[1].fault", {"abort": {"http2Error": "x"}}, f"{P}.http[1].fault.abort.http2Error", "not supported"),
    (
        "spec.http[1].fault",
        {"abort": {"httpStatus": 503, "percentage": {"value": 0.00001}}},
        f"{P}.http[1].fault.abort.percentage.value",
        "must be 0 or from 0.0001 to 100",
    ),
    (
        "spec.http[1].fault",
        {"delay": {"exponentialDelay": "1s"}},
        f"{P}.http[1].fault.delay.exponentialDelay",
        "not supported by Istio yet",
    ),
    ("spec.http[1].fault", {"delay": {"fixedDelay": "0.5ms"}}, f"{P}.http[1].fault.delay.fixedDelay", ""),
    (
        "spec.http[1].corsPolicy",
        {"allowOrigins": [{"exact": ""}]},
        f"{P}.http[1].corsPolicy.allowOrigins[0]",
        "needs a non-empty exact, prefix or regex",
    ),
    (
        "spec.http[1].corsPolicy",
        {"allowOrigins": [{"regex": "(a"}]},
        f"{P}.http[1].corsPolicy.allowOrigins[0].regex",
        "not closed",
    ),
    (
        "spec.http[1].corsPolicy",
        {"allowMethods": ["GET", "get"]},
        f"{P}.http[1].corsPolicy.allowMethods[1]",
        "'get' is not an HTTP method",
    ),
    (
        "spec.http[1].corsPolicy",
        {"exposeHeaders": ["x a"]},
        f"{P}.http[1].corsPolicy.exposeHeaders[0]",
        "is not a header name",
    ),
    (
        "spec.http[1].corsPolicy",
        {"maxAge": "1500ms"},
        f"{P}.http[1].corsPolicy.maxAge",
        "a CORS max age is whole seconds",
    ),
    (
        "spec.http[1].corsPolicy",
        {"unmatchedPreflights": "DROP"},
        f"{P}.http[1].corsPolicy.unmatchedPreflights",
        "IGNORE",
    ),
    (
        "spec.http[1].rewrite",
        {"uri": "/a", "bogus": 1},
        f"{P}.http[1].rewrite.bogus",
        "unknown key",
    ),
]


@pytest.mark.parametrize(
    ("field", "value", "path", "message"), ROUTE_REFUSALS, ids=[r[2] + ":" + str(r[3])[:20] for r in ROUTE_REFUSALS]
)
def test_route_action_rules(field: str, value: Any, path: str, message: str | None) -> None:
    data = edited(REVIEWS_VS, field, value)
    if message is None:
        parse_virtual_service(data)
        return
    got_path, got_message = refusal(parse_virtual_service, data)
    assert got_path == path
    assert message in got_message


def test_mirror_and_mirrors_and_both_mirror_percents_are_refused_together() -> None:
    data = edited(REVIEWS_VS, "spec.http[1].mirror", {"host": "shadow"})
    data["spec"]["http"][1]["mirrors"] = [{"destination": {"host": "audit"}}]
    assert refusal(parse_virtual_service, data) == (
        f"{P}.http[1].mirrors",
        "cannot be combined with mirror in one HTTP route",
    )
    data = edited(REVIEWS_VS, "spec.http[1].mirrorPercent", 10)
    data["spec"]["http"][1]["mirror_percent"] = 10
    assert refusal(parse_virtual_service, data)[0] == f"{P}.http[1].mirror_percent"


def test_rewrite_and_headers_set_the_authority_once() -> None:
    """``validateAuthorityRewrite``: the route's own headers and its rewrite (a destination's headers
    may set it again)."""
    data = edited(REVIEWS_VS, "spec.http[1].rewrite", {"authority": "a"})
    data["spec"]["http"][1]["route"][0]["headers"] = {"request": {"set": {"host": "b"}}}
    parse_virtual_service(data)
    data["spec"]["http"][1]["headers"] = {"request": {"add": {"Host": "c"}}}
    assert refusal(parse_virtual_service, data) == (
        f"{P}.http[1].headers.request.add.Host",
        "sets the authority again ('c'; rewrite.authority set 'a'); set it once",
    )
    data["spec"]["http"][1]["rewrite"] = {"uri": "/x"}  # an authority only from the headers: accepted
    parse_virtual_service(data)


ANSWER_REFUSALS = [
    ("redirect", {}, "redirect", "needs uri, prefixRewrite, authority, scheme or a port"),
    ("redirect", {"uri": "/a", "prefixRewrite": "/b"}, "redirect.prefixRewrite", "cannot be combined with uri"),
    ("redirect", {"uri": "/a", "redirectCode": 304}, "redirect.redirectCode", "304 is not a redirect code Envoy"),
    ("redirect", {"uri": "/a", "scheme": "ftp"}, "redirect.scheme", "'ftp' is not a redirect scheme"),
    ("redirect", {"port": 8080, "derivePort": "FROM_REQUEST_PORT"}, "redirect.derivePort", "cannot be combined"),
    ("redirect", {"derivePort": "SIDEWAYS"}, "redirect.derivePort", "FROM_PROTOCOL_DEFAULT"),
    ("redirect", {"port": 70000}, "redirect.port", "at most 65535"),
    ("directResponse", {"status": 600}, "directResponse.status", "600 is not an HTTP status Envoy answers with"),
    ("directResponse", {"status": 199}, "directResponse.status", "200 to 599"),
    ("directResponse", {}, "directResponse.status", "missing (this field is required)"),
    ("directResponse", {"status": 200, "body": {"bytes": "!!"}}, "directResponse.body.bytes", "is not base64"),
    (
        "directResponse",
        {"status": 200, "body": {"string": "a", "bytes": "YQ=="}},
        "directResponse.body.bytes",
        "cannot be combined with string",
    ),
    (
        "directResponse",
        {"status": 200, "body": {"string": "x" * ((1 << 20) + 1)}},
        "directResponse.body",
        "at most 1 MiB",
    ),
]


@pytest.mark.parametrize(
    ("key", "value", "where", "message"), ANSWER_REFUSALS, ids=[r[2] + ":" + r[3][:20] for r in ANSWER_REFUSALS]
)
def test_redirect_and_direct_response_rules(key: str, value: Any, where: str, message: str) -> None:
    got_path, got_message = refusal(parse_virtual_service, _answering(key, value))
    assert got_path == f"{P}.http[0].{where}"
    assert message in got_message


def test_one_answer_per_route() -> None:
    data = _answering("redirect", {"uri": "/a"})
    data["spec"]["http"][0]["directResponse"] = {"status": 200}
    assert refusal(parse_virtual_service, data) == (
        f"{P}.http[0].directResponse",
        "cannot be combined with redirect in one HTTP route",
    )
    data = _answering("directResponse", {"status": 200})
    data["spec"]["http"][0]["rewrite"] = {"uri": "/b"}
    assert refusal(parse_virtual_service, data)[0] == f"{P}.http[0].rewrite"
    data = _answering("redirect", {"uri": "/a"})
    data["spec"]["http"][0]["fault"] = {"abort": {"httpStatus": 503}}
    assert refusal(parse_virtual_service, data)[0] == f"{P}.http[0].fault"
    data = _answering("redirect", {"uri": "/a"})
    data["spec"]["http"][0]["corsPolicy"] = {"allowOrigins": [{"prefix": "https://"}]}
    parse_virtual_service(data)  # a CORS policy may answer a redirect's preflight


def test_a_redirect_prefix_rewrite_needs_prefix_matches() -> None:
    """The first match's URI is a prefix and the second has none: accepted; an exact URI is refused."""
    parse_virtual_service(_answering("redirect", {"prefixRewrite": "/v2"}))
    data = _answering("redirect", {"prefixRewrite": "/v2"})
    data["spec"]["http"][0]["match"][1]["uri"] = {"exact": "/reviews/1"}
    assert refusal(parse_virtual_service, data) == (
        f"{P}.http[0].redirect.prefixRewrite",
        "needs every match's uri to be a prefix match",
    )


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("plain", True),
        ("100%%", True),
        ("%HOSTNAME%", True),
        ("prefix %HOSTNAME% suffix", True),
        ("%REQ(x-request-id)%", True),
        ('%PER_REQUEST_STATE(["a", "b"])%', True),
        ("\tindented", True),
        ("abc%123", False),
        ("%START_TIME%%", False),
        ("%REQ(x", False),
        ('%PER_REQUEST_STATE(["a" x])%', False),
        ("%PER_REQUEST_STATE([x])%", False),
        ("%REQ(a) x%", False),
        ("line\nbreak", False),
    ],
)
def test_header_values_follow_envoys_parser(value: str, valid: bool) -> None:
    """Istio's port of Envoy's header value parser (``header_value_validator.go``): its own examples
    (``%HOSTNAME%``, ``100%%`` valid; ``abc%123``, ``%START_TIME%%`` invalid) and each state's refusal."""
    assert (header_value_problem(value) is None) == valid


def test_actions_written_back_read_the_same() -> None:
    """``dsim import`` writes objects back in Istio's form: the actions survive, ``mirror_percent``
    and a body's ``bytes`` under their own names."""
    from dsim.scenario.istio import as_kubernetes_object, parse_istio_object

    parsed = parse_virtual_service(load(ACTIONS)).value
    written = as_kubernetes_object(parsed)
    assert written["spec"]["http"][2]["mirror_percent"] == 20
    assert written["spec"]["http"][1]["directResponse"]["body"] == {"bytes": "Z29uZQ=="}
    parsed_again = parse_istio_object(written).value
    assert parsed_again == parsed


def test_a_root_route_may_mirror_both_ways() -> None:
    """``validateHTTPRouteConflict`` returns early for a root route (one with a delegate), so Istio
    accepts ``mirror`` beside ``mirrors`` there: a delegate route without either inherits both."""
    data = edited(REVIEWS_VS, "spec.http[0].route", DELETE)
    data["spec"]["http"][0]["delegate"] = {"name": "reviews-routes"}
    data["spec"]["http"][0]["mirror"] = {"host": "shadow"}
    data["spec"]["http"][0]["mirrors"] = [{"destination": {"host": "audit"}}]
    route = parse_virtual_service(data).value.spec.http[0]
    assert [d.host for d in route.mirror_destinations()] == ["shadow", "audit"]

"""What an HTTP route does beside choosing its destinations: header operations, rewrite, redirect,
direct response, and the mirror percentage (``docs/istio-objects.md`` 1.6, "Route actions").

The fields are Istio's (``networking.istio.io`` ``Headers``, ``HTTPRewrite``, ``HTTPRedirect``,
``HTTPDirectResponse``, ``Percent``); the rules follow ``validateHTTPRoute``,
``validateAuthorityRewrite``, ``validateHTTPRewrite``, ``validateHTTPRedirect`` and
``validateHTTPDirectResponse`` in Istio's ``pkg/config/validation``. Where Istio accepts a value the
Envoy 1.40 it configures would refuse (a status of 600, a redirect code Istio has no Envoy value
for), dsim refuses it, saying so: a config holding it never loads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Annotated, Literal

from dsim.errors import quote
from dsim.scenario.istio.common import MANY, UInt32
from dsim.scenario.istio.header_rules import (
    header_value_problem,
    is_authority_header,
    operation_name_problem,
    request_write_name_problem,
)
from dsim.scenario.istio.reader import MaxItems
from dsim.scenario.istio.rules import regex_problem

HeaderMap = Annotated[dict[str, str], MaxItems(MANY)]
Where = tuple[str | int, ...]
"""Where a problem is, as the keys below the field checked (none: the field itself)."""
# validateHTTPDirectResponse: a body above 1 MiB is refused (above 100 KiB Istio only warns).
DIRECT_RESPONSE_BODY_MAX = 1 << 20
# Envoy's RedirectAction.RedirectResponseCode: the only redirect codes Istio's ApplyRedirect maps.
REDIRECT_CODES = (301, 302, 303, 307, 308)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HeaderOperations:
    """Changes to the request's or the response's headers."""

    set: HeaderMap = dataclasses.field(default_factory=dict)
    """Headers written over any value already there."""
    add: HeaderMap = dataclasses.field(default_factory=dict)
    """Headers appended to any value already there."""
    remove: Annotated[tuple[str, ...], MaxItems(MANY)] = ()
    """Headers removed."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Headers:
    """``Headers``: operations on the request (before forwarding) and the response (before returning)."""

    request: HeaderOperations | None = None
    """Request header operations."""
    response: HeaderOperations | None = None
    """Response header operations."""

    def authority(self) -> str:
        """``TranslateHeadersOperations``' authority: a request ``:authority``/``host`` set, else one
        added ("" if none); Envoy gets it as the route's host rewrite."""
        request = self.request or HeaderOperations()
        return _authority_in(request.set) or _authority_in(request.add)


def _authority_in(headers: Mapping[str, str]) -> str:
    """The last authority header of ``headers`` in map order (Istio: "last one wins")."""
    found = ""
    for name, value in headers.items():
        if is_authority_header(name):
            found = value
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegexRewrite:
    """``RegexRewrite``: a path rewrite by regular expression."""

    match: str = ""
    """An RE2 pattern over the path."""
    rewrite: str = ""
    """What each match becomes (``\\1`` for groups)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPRewrite:
    """``HTTPRewrite``: the path prefix, the path by regex, or the authority, rewritten before forwarding."""

    uri: str = ""
    """Replaces the matched path or prefix."""
    authority: str = ""
    """Replaces the Host/Authority header."""
    uri_regex_rewrite: RegexRewrite | None = None
    """Rewrites the path by regular expression (Istio 1.19 and later)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPRedirect:
    """``HTTPRedirect``: the redirect a route answers with in place of forwarding."""

    uri: str = ""
    """Replaces the path."""
    authority: str = ""
    """Replaces the host."""
    port: UInt32 | None = None
    """Replaces the port."""
    derive_port: Literal["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"] | None = None
    """Takes the port from the scheme's default or from the request's port."""
    scheme: str = ""
    """Replaces the scheme (``http`` or ``https``)."""
    redirect_code: UInt32 = 0
    """The status (0: 301)."""
    prefix_rewrite: str = ""
    """Replaces the matched prefix of the path."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPBody:
    """``HTTPBody``: a direct response's body, text or base64-encoded bytes."""

    string: str | None = None
    """The body as text."""
    encoded: str | None = dataclasses.field(default=None, metadata={"istio": "bytes"})
    """``bytes``: the body as base64 (as Kubernetes carries a protobuf ``bytes`` field)."""

    def data(self) -> str | bytes | None:
        """The body as Envoy gets it: ``inline_string`` text, ``inline_bytes``, or ``None`` (neither set)."""
        if self.string is not None:
            return self.string
        return None if self.encoded is None else base64.b64decode(self.encoded)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HTTPDirectResponse:
    """``HTTPDirectResponse``: a fixed response in place of forwarding."""

    status: UInt32
    """The HTTP status."""
    body: HTTPBody | None = None
    """The response body."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Percentage:
    """Istio's ``Percent``: a share from 0 to 100 with decimals."""

    value: float = 0.0
    """The share, percent."""


def percentage_problem(value: float) -> str | None:
    """``validateHTTPRoute``/``validateHTTPMirrors``: a mirror share from 0 to 100."""
    return None if 0 <= value <= 100 else f"must be from 0 to 100 (got {quote(value)})"


def header_problems(headers: Headers) -> Iterator[tuple[Where, str]]:
    """Each broken header operation of ``headers``: (its path below ``headers``, the problem). The
    request's set and add may name the authority."""
    for side, operations in (("request", headers.request), ("response", headers.response)):
        if operations is None:
            continue
        write_name = request_write_name_problem if side == "request" else operation_name_problem
        for key in ("set", "add"):
            for name, value in getattr(operations, key).items():
                problem = write_name(name) or header_value_problem(value)
                if problem:
                    yield (side, key, name), problem
        for i, name in enumerate(operations.remove):
            problem = operation_name_problem(name)
            if problem:
                yield (side, "remove", i), problem


def authority_problems(rewrite: HTTPRewrite | None, headers: Headers | None) -> Iterator[tuple[Where, str]]:
    """``validateAuthorityRewrite`` over a route's own rewrite and headers (a destination's are not
    read): the authority gets a value at most once, values counted as Istio counts them (a header
    setting it to "" leaves it unset): the header that sets it again (keys below the route) and why."""
    current = rewrite.authority if rewrite is not None else ""
    source = "rewrite.authority"
    request = headers.request if headers is not None else None
    for key in ("set", "add"):
        for name, value in (getattr(request, key) if request is not None else {}).items():
            if not is_authority_header(name):
                continue
            if current:
                message = f"sets the authority again ({quote(value)}; {source} set {quote(current)}); set it once"
                yield ("headers", "request", key, name), message
                return
            current, source = value, f"headers.request.{key}.{name}"


def rewrite_problems(rewrite: HTTPRewrite) -> Iterator[tuple[Where, str]]:
    """``validateHTTPRewrite``: (path below ``rewrite``, problem)."""
    regex = rewrite.uri_regex_rewrite
    if rewrite.uri and regex is not None:
        yield ("uriRegexRewrite",), "cannot be combined with uri; a rewrite takes one of them"
    if not rewrite.uri and regex is None and not rewrite.authority:
        yield (), "a rewrite needs uri, uriRegexRewrite or authority (it has none)"
    if regex is not None:
        if not regex.match or not regex.rewrite:
            yield ("uriRegexRewrite",), "needs both match and rewrite"
        elif problem := regex_problem(regex.match):
            yield ("uriRegexRewrite", "match"), problem


def redirect_problems(redirect: HTTPRedirect, uri_kinds: tuple[str, ...]) -> Iterator[tuple[Where, str]]:
    """``validateHTTPRedirect`` (``uri_kinds``: the kind of each match's URI condition, "" for none),
    and the codes Envoy takes: (path below ``redirect``, problem)."""
    if redirect.uri and redirect.prefix_rewrite:
        yield ("prefixRewrite",), "cannot be combined with uri; a redirect takes one of them"
    if redirect.prefix_rewrite and any(kind not in ("", "prefix") for kind in uri_kinds):
        yield ("prefixRewrite",), "needs every match's uri to be a prefix match"
    if redirect.port is not None and redirect.derive_port is not None:
        yield ("derivePort",), "cannot be combined with port; a redirect takes one of them"
    given = (redirect.uri, redirect.prefix_rewrite, redirect.authority, redirect.scheme)
    if not any(given) and redirect.port is None and redirect.derive_port is None:
        yield (), "a redirect needs uri, prefixRewrite, authority, scheme or a port (it has none)"
    if redirect.redirect_code and redirect.redirect_code not in REDIRECT_CODES:
        codes = ", ".join(map(str, REDIRECT_CODES))
        yield ("redirectCode",), f"{redirect.redirect_code} is not a redirect code Envoy takes ({codes})"
    if redirect.scheme not in ("", "http", "https"):
        yield ("scheme",), f"{quote(redirect.scheme)} is not a redirect scheme; expected http or https"
    if redirect.port is not None and redirect.port > 65535:
        yield ("port",), f"{redirect.port} is not a port number (at most 65535)"


def direct_response_problems(response: HTTPDirectResponse) -> Iterator[tuple[Where, str]]:
    """``validateHTTPDirectResponse`` and Envoy's range: (path below ``directResponse``, problem)."""
    if not 200 <= response.status <= 599:
        yield ("status",), f"{response.status} is not an HTTP status Envoy answers with (200 to 599)"
    body = response.body
    if body is None:
        return
    if body.string is not None and body.encoded is not None:
        yield ("body", "bytes"), "cannot be combined with string; a body takes one of them"
    if body.encoded is not None:
        if len(body.encoded) > 2 * DIRECT_RESPONSE_BODY_MAX:
            yield ("body", "bytes"), f"holds {len(body.encoded):,} characters, far beyond the 1 MiB a body may have"
            return
        try:
            base64.b64decode(body.encoded, validate=True)
        except (binascii.Error, ValueError):
            yield ("body", "bytes"), "is not base64 (a bytes field is written in base64)"
            return
    data = body.data() or ""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > DIRECT_RESPONSE_BODY_MAX:
        yield ("body",), f"is {size:,} bytes; at most 1 MiB (large direct responses slow the control plane)"

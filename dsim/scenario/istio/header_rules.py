"""Istio's rules for the header operations of an HTTP route (``headers.request/response``: set, add,
remove), as functions returning a problem phrase or ``None``.

Facts from Istio's ``pkg/config/validation/validation.go`` (``ValidateHTTPHeaderWithAuthorityOperationName``,
``ValidateHTTPHeaderOperationName``, ``ValidateHTTPHeaderValue``) and
``pkg/config/validation/header_value_validator.go``, which follows the parser Envoy runs over a
header value (``source/common/router/header_parser.cc``): ``%%`` is a literal percent sign,
``%NAME%`` or ``%NAME(args)%`` a substitution, and anything else with a lone ``%`` is refused by
Envoy, so a config carrying it would never load.
"""

from __future__ import annotations

import re

from dsim.errors import quote

# protoc-gen-validate's header value rule: no control character but horizontal tab.
_CONTROL = re.compile("[\u0000-\u0008\u000a-\u001f\u007f]")


def is_authority_header(name: str) -> bool:
    """``isAuthorityHeader``: ``:authority`` or ``host``, in any case."""
    return name.lower() in (":authority", "host")


def is_internal_header(name: str) -> bool:
    """``isInternalHeader``: a pseudo-header or ``host``, which Envoy cannot change by a header operation."""
    return name.startswith(":") or name.lower() == "host"


def request_write_name_problem(name: str) -> str | None:
    """``ValidateHTTPHeaderWithAuthorityOperationName``: the name a request header is set or added
    under; the authority (``:authority``, ``host``) is allowed, as it becomes a host rewrite."""
    if not name:
        return "a header name cannot be empty"
    if is_internal_header(name) and not is_authority_header(name):
        return f"{quote(name)} cannot be changed: a header name cannot start with ':'"
    return None


def operation_name_problem(name: str) -> str | None:
    """``ValidateHTTPHeaderOperationName``: the name of a removed request header, or of a response
    header set, added or removed: not empty, not ``host``, no ``:`` prefix."""
    if not name:
        return "a header name cannot be empty"
    if name.lower() == "host":
        return f"{quote(name)} cannot be changed here: the Host header can only be set on the request"
    if name.startswith(":"):
        return f"{quote(name)} cannot be changed: a header name cannot start with ':'"
    return None


def header_value_problem(value: str) -> str | None:
    """``ValidateHTTPHeaderValue``: no control character, and ``%`` only as ``%%`` or around a
    substitution (``%HOSTNAME%``, ``%REQ(x-id)%``, ``%PER_REQUEST_STATE(["a","b"])%``)."""
    if _CONTROL.search(value):
        return f"{quote(value)} holds a control character; a header value cannot"
    problem = _substitution_problem(value)
    return None if problem is None else f"{quote(value)} is not a valid header value: {problem}"


def _substitution_problem(value: str) -> str | None:
    """Walk ``value`` as Envoy's header parser does: ``None``, or what it stumbled on."""
    state = "literal"
    i = 0
    while i < len(value):
        ch = value[i]
        if state == "literal":
            if ch == "%":
                if i + 1 == len(value):
                    return "a '%' at the end is neither '%%' nor the start of a substitution"
                if value[i + 1] == "%":
                    i += 1  # an escaped '%'
                else:
                    state = "name"
        elif state == "name":
            state = {"%": "literal", "(": "array"}.get(ch, "name")
        elif state == "array":  # after '(': a JSON array of strings, or one bare argument
            state = "string_start" if ch == "[" else state if ch == " " else "string"
        elif state == "string_start":
            if ch == '"':
                state = "string"
            elif ch != " ":
                return "expected '\"' to open an argument string"
        elif state == "string":
            if ch == "\\":
                if i + 1 == len(value):
                    return "a '\\' ends the value inside an argument string"
                i += 1
            elif ch == ")":
                state = "variable_end"
            elif ch == '"':
                state = "delimiter"
        elif state == "delimiter":
            if ch == ",":
                state = "string_start"
            elif ch == "]":
                state = "arguments_end"
            elif ch != " ":
                return "expected ',' or ']' after an argument string"
        elif state == "arguments_end":
            if ch == ")":
                state = "variable_end"
            elif ch != " ":
                return "expected ')' after the arguments"
        elif ch == "%":  # variable_end
            state = "literal"
        elif ch != " ":
            return "expected '%' to close the substitution"
        i += 1
    if state != "literal":
        return "a substitution is not closed with '%' (write '%%' for a literal '%')"
    return None

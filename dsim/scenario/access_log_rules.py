"""What ``mesh.access_log_file`` and ``mesh.access_log_format`` may hold, for the scenario's checks
and for ``dsim import``, which reads them from a captured mesh config.

Two kinds of rule: dsim's own limits (the text lands in every filter chain of every sidecar, so it
is bounded, and it must be text protobuf can carry), and istiod's rule for a JSON format (a JSON
object, else istiod writes its default JSON format).
"""

from __future__ import annotations

import json
import math

PATH_LIMIT = 4096
"""The longest access log path (Linux's ``PATH_MAX``)."""
FORMAT_LIMIT = 8192
"""The longest access log format: a few times the longest a real mesh writes."""
FORMAT_DEPTH_LIMIT = 32
"""The most nested objects and arrays a JSON format may have (real ones have one or two)."""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_problem(path: str) -> str | None:
    """Why Envoy could not open ``path`` as written, or dsim does not take it (None: it may)."""
    if "\x00" in path:
        return "holds a NUL character; expected a file path"
    if not _encodable(path):
        return "holds a character UTF-8 cannot encode (a lone surrogate); expected a file path"
    if len(path) > PATH_LIMIT:
        return f"is {len(path):,} characters long; at most {PATH_LIMIT:,}"
    return None


def _depth(text: str) -> int:
    """How deep a JSON text nests, counted without parsing it (so that no nesting reaches Python's
    recursion limit)."""
    depth = deepest = 0
    quoted = escaped = False
    for char in text:
        if quoted:
            escaped, quoted = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            quoted = True
        elif char in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth -= 1
    return deepest


def format_limit_problem(text: str, encoding: str) -> str | None:
    """Why dsim does not take ``text`` as a format of ``encoding`` (None: it does), whatever istiod makes of it."""
    if not _encodable(text):
        return "holds a character UTF-8 cannot encode (a lone surrogate)"
    if len(text) > FORMAT_LIMIT:
        return f"is {len(text):,} characters long; at most {FORMAT_LIMIT:,}"
    if encoding == "JSON" and (deepest := _depth(text)) > FORMAT_DEPTH_LIMIT:
        return f"nests {deepest} levels deep; at most {FORMAT_DEPTH_LIMIT}"
    return None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is beyond a JSON number's range")
    return number


def json_object_problem(text: str) -> str | None:
    """Why istiod would not take ``text`` as a JSON format (None: it does): it must be a JSON object
    of finite values (Envoy takes any of them, nested too). Call it on text
    :func:`format_limit_problem` passed."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_finite)
    except ValueError as e:
        return f'is not JSON ({e}); expected a JSON object, such as {{"path": "%REQ(:PATH)%"}}'
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else "string" if isinstance(value, str) else "value"
        return f"is a JSON {kind}, not an object; expected a JSON object of command operators"
    return None

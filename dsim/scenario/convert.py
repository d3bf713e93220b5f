"""Parsed YAML → typed, frozen dataclasses, stopping at the first bad field with its path.

The scenario model declares everything this module checks: field types (``int``, ``float``,
``bool``, ``str``, ``Literal``, ``tuple[T, ...]``, ``dict[K, V]``, ``T | None``, nested
dataclasses) and constraints attached with ``Annotated`` (:class:`AtLeast`, :class:`AtMost`,
:class:`MaxLength`, :class:`DnsLabel`). Whole numbers must fit in 64 bits and numbers be finite,
whatever the field. Cross-field rules (CIDR membership, duplicates, references) live in
``checks.py``; this module knows nothing about scenarios.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

from dsim.errors import ScenarioError, quote

T = TypeVar("T")

# Every whole number is an int64 downstream (numpy columns, seeds, counts): larger is refused here.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_FLOAT_MAX = int(sys.float_info.max)
# An unknown key's message lists the allowed ones when they fit in this many characters (fewer
# when it suggests one: the message must stay one line deep in an Istio spec's path).
_LISTED_KEYS_LIMIT = 130
_SUGGESTED_KEYS_LIMIT = 70


@dataclasses.dataclass(frozen=True)
class AtLeast:
    """Constraint: the number is at least ``bound``."""

    bound: float

    def problem(self, value: Any) -> str | None:
        return None if value >= self.bound else f"must be >= {_num(self.bound)} (got {quote(value)})"


@dataclasses.dataclass(frozen=True)
class AtMost:
    """Constraint: the number is at most ``bound``."""

    bound: float

    def problem(self, value: Any) -> str | None:
        return None if value <= self.bound else f"must be <= {_num(self.bound)} (got {quote(value)})"


@dataclasses.dataclass(frozen=True)
class MaxLength:
    """Constraint: text of at most ``limit`` characters (Kubernetes' own limit for such a field)."""

    limit: int

    def problem(self, value: Any) -> str | None:
        if len(value) <= self.limit:
            return None
        return f"must be at most {self.limit} characters (got {len(value):,}: {quote(value)})"


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")


@dataclasses.dataclass(frozen=True)
class DnsLabel:
    """Constraint: a Kubernetes object name (RFC 1123 label: lowercase, digits, '-', <= 63).
    ``letter_first``: an RFC 1035 label, as a Service's name is (Kubernetes' ``ValidateServiceName``);
    ``empty``: the empty text too (a Service port's name, needed only beside other ports)."""

    letter_first: bool = False
    empty: bool = False

    def problem(self, value: Any) -> str | None:
        if value == "" and self.empty:
            return None
        if len(value) <= 63 and _DNS_LABEL.match(value) and not (self.letter_first and not value[0].isalpha()):
            return None
        if len(value) > 63:
            return f"{quote(value)} is not a valid name: at most 63 characters"
        start = "starting with a letter" if self.letter_first else "starting with a letter or digit"
        return (
            f"{quote(value)} is not a valid name (lowercase letters, digits and '-', "
            f"{start} and ending with a letter or digit, at most 63 characters)"
        )


def _num(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def describe_value(raw: Any) -> str:
    if raw is None:
        return "nothing"
    if isinstance(raw, Mapping):
        return "a mapping"
    if isinstance(raw, list):
        return "a list"
    return quote(raw)


# Keys written as ``a.b``; any other key (a long or odd string, null, a date) as ``a[<quoted>]``.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,62}\Z")


def join(path: str, key: str | int) -> str:
    """The field path of ``key`` under ``path``: ``a.b``, ``a[3]`` (a list index), ``a['odd key']``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return key_path(path, key)


def key_path(path: str, key: object) -> str:
    """The field path of a mapping's ``key`` under ``path`` (a number as written: ``ports_per_service.1``)."""
    text = key if isinstance(key, str) else str(key) if isinstance(key, int) and not isinstance(key, bool) else None
    if text is not None and _PLAIN_KEY.match(text):
        return f"{path}.{text}" if path else text
    return f"{path}[{quote(key, short=True)}]"


def convert(cls: type[T], raw: Any, *, source: str, path: str = "") -> T:
    """Build the dataclass ``cls`` from parsed YAML ``raw``; raise :class:`ScenarioError` on the first problem."""
    return typing.cast(T, Converter(source).value(cls, raw, path))


class Converter:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> typing.NoReturn:
        raise ScenarioError(self.source, path, message)

    def value(self, hint: Any, raw: Any, path: str) -> Any:
        kind, detail = _plan(hint)
        if kind == "scalar":
            return self.scalar(detail, raw, path)
        if kind == "annotated":
            base, constraints = detail
            result = self.value(base, raw, path)
            for constraint in constraints:
                problem = constraint.problem(result)
                if problem:
                    self.fail(path, problem)
            return result
        if kind == "optional":
            option, allows_none = detail
            if raw is None and allows_none:
                return None
            return self.value(option, raw, path)
        if kind == "literal":
            if isinstance(raw, bool) or raw not in detail:
                listed = ", ".join(str(a) for a in detail)
                self.fail(path, f"{describe_value(raw)} is not one of {listed}")
            return raw
        if kind == "tuple":
            if not isinstance(raw, list):
                self.fail(path, f"expected a list (got {describe_value(raw)})")
            if detail is str and all(type(item) is str for item in raw):
                return tuple(raw)  # the common case, without a field path per item
            return tuple(self.value(detail, item, join(path, i)) for i, item in enumerate(raw))
        if kind == "dict":
            key_hint, value_hint = detail
            if not isinstance(raw, Mapping):
                self.fail(path, f"expected a mapping (got {describe_value(raw)})")
            return {
                self.value(key_hint, k, key_path(path, k)): self.value(value_hint, v, key_path(path, k))
                for k, v in raw.items()
            }
        return self.record(detail, raw, path)

    def scalar(self, hint: Any, raw: Any, path: str) -> Any:
        if hint is bool:
            if not isinstance(raw, bool):
                self.fail(path, f"expected true or false (got {describe_value(raw)})")
            return raw
        if hint is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                self.fail(path, f"expected a whole number (got {describe_value(raw)})")
            if not INT64_MIN <= raw <= INT64_MAX:
                bound = f"<= {INT64_MAX:,}" if raw > 0 else f">= {INT64_MIN:,}"
                self.fail(path, f"must be {bound}, the 64-bit limit (got {quote(raw)})")
            return raw
        if hint is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                self.fail(path, f"expected a number (got {describe_value(raw)})")
            if isinstance(raw, int) and abs(raw) > _FLOAT_MAX:
                self.fail(path, f"expected a finite number, at most about 1.8e308 (got {quote(raw)})")
            if not math.isfinite(raw):
                self.fail(path, f"expected a finite number (got {quote(raw)})")
            return float(raw)
        if hint is str:
            if not isinstance(raw, str):
                self.fail(path, f"expected a string (got {describe_value(raw)})")
            return raw
        raise TypeError(f"unsupported field type {hint!r}")  # a model bug, not bad input

    def record(self, cls: type, raw: Any, path: str) -> Any:
        if raw is None:
            raw = {}  # an empty YAML section means "all defaults"
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a mapping (got {describe_value(raw)})")
        declared, names, hints = _record_layout(cls)
        for key in raw:
            if key not in hints:
                self.fail(key_path(path, key), unknown_key_message(key, names))
        values = {}
        for f in declared:
            where = join(path, f.name)
            if f.name in raw:
                values[f.name] = self.value(hints[f.name], raw[f.name], where)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(where, "missing (this field is required)")
        return cls(**values)


def _plan(hint: Any) -> tuple[str, Any]:
    """How to read a value of type ``hint``: its kind and what that kind needs (cached per hint)."""
    try:
        return _PLANS[id(hint)][1]
    except KeyError:
        plan = _make_plan(hint)
        _PLANS[id(hint)] = (hint, plan)  # the hint is kept, so its id is never reused for another
        return plan


# By identity, not equality: typing calls Literal["a", "b"] equal to Literal["b", "a"], but each lists
# its values in its own order in messages. Hints come from per-class caches, so the keys are few.
_PLANS: dict[int, tuple[Any, tuple[str, Any]]] = {}


def _make_plan(hint: Any) -> tuple[str, Any]:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *constraints = typing.get_args(hint)
        return "annotated", (base, tuple(constraints))
    if origin in (Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(options) != 1:
            raise TypeError(f"unsupported union {hint!r}")  # a model bug, not bad input
        return "optional", (options[0], len(options) < len(typing.get_args(hint)))
    if origin is Literal:
        return "literal", typing.get_args(hint)
    if origin is tuple:
        item_hint, ellipsis = typing.get_args(hint)
        assert ellipsis is Ellipsis, hint
        return "tuple", item_hint
    if origin is dict:
        return "dict", typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return "record", typing.cast(type, hint)
    return "scalar", hint


@functools.cache
def _record_layout(cls: type) -> tuple[list[dataclasses.Field[Any]], list[str], dict[str, Any]]:
    """A record class's input fields, their names, and their type hints (resolving hints is slow: an
    imported mesh has tens of thousands of records of a few classes)."""
    # Fields the loader derives (``metadata["derived"]``) are never read from the input.
    declared = [f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("derived")]
    hints = typing.get_type_hints(cls, include_extras=True)
    return declared, [f.name for f in declared], {f.name: hints[f.name] for f in declared}


def unknown_key_message(key: object, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) if isinstance(key, str) and len(key) < 100 else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(allowed)
    limit = _SUGGESTED_KEYS_LIMIT if close else _LISTED_KEYS_LIMIT  # a suggestion needs less of the list
    if len(listed) > limit:  # a long list would push the message past one readable line
        listed = listed[: listed.rfind(", ", 0, limit)] + f", ... ({len(allowed)} keys)"
    return f"unknown key{hint} (allowed: {listed})"

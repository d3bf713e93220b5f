"""Reading an Istio object as a user pastes it: Istio's field names, ignored fields, durations, limits.

A spec is read into frozen dataclasses whose attributes are Istio's field names in snake_case
(``exportTo`` is ``export_to``); the YAML keys, and every error path, are Istio's own camelCase
names. Each key of a pasted object is one of three things:

- **modelled**: converted and validated as Istio validates it;
- **known to Istio, not modelled by dsim** (a class's ``IGNORED``): accepted, its value not read,
  and recorded as :class:`Ignored` (path and reason) so the caller can count what it leaves out;
- **unknown**: refused with a did-you-mean, as the Kubernetes API server refuses a field the
  CRD's schema lacks.

Conversion itself (types, 64-bit and finite numbers, ``Annotated`` constraints) is
:mod:`dsim.scenario.convert`'s; this module adds the naming, the ignored fields, durations and
list bounds checked before a list is read.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Annotated, Any, ClassVar, Generic, NamedTuple, NewType, TypeVar

from dsim.errors import quote
from dsim.scenario.convert import Converter, DnsLabel, describe_value, join, key_path, unknown_key_message
from dsim.scenario.istio.rules import object_name_problem

T = TypeVar("T")

Milliseconds = NewType("Milliseconds", int)
"""A duration in Istio's form (``"1s"``, ``"0.5s"``, ``"100ms"``, ``"1m"``, ``"1h"``), read as whole
milliseconds, at least 1 (``agent.ValidateDuration``: > 1ms, to ms precision)."""
MillisecondsOrZero = NewType("MillisecondsOrZero", int)
"""A duration where ``0s`` means "off" (a session cookie's ``ttl``), else as :data:`Milliseconds`."""

API_GROUP = "networking.istio.io"
API_VERSIONS = ("v1", "v1beta1", "v1alpha3")  # treated alike, as istiod does
# A duration longer than this many characters is no duration anyone writes: refused before parsing.
_DURATION_TEXT_MAX = 64
_GO_DURATION_MAX_NS = 2**63 - 1  # Go's time.Duration: int64 nanoseconds, about 292 years
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 10**3, "µs": 10**3, "μs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_DURATION_EXAMPLES = "a duration such as '1s', '0.5s', '100ms', '1m' or '1h'"


class Ignored(NamedTuple):
    """A field Istio has and dsim accepts without modelling it: where it is and why it is left out."""

    path: str
    reason: str


class Parsed(NamedTuple, Generic[T]):
    """A parsed object and the fields of it dsim accepted but does not model."""

    value: T
    ignored: tuple[Ignored, ...]


@dataclasses.dataclass(frozen=True)
class MaxItems:
    """Constraint: a list or mapping of at most ``limit`` entries, checked before any is read, so a
    hostile list of millions costs one ``len``. ``why`` names the bound's source (Istio's CRD or sanity)."""

    limit: int
    why: str = "far more than any real configuration holds"

    def problem(self, value: Any) -> str | None:
        if len(value) <= self.limit:
            return None
        return f"has {len(value):,} entries; at most {self.limit:,} ({self.why})"


@dataclasses.dataclass(frozen=True)
class Rule:
    """Constraint: a value rule from :mod:`dsim.scenario.istio.rules` (a problem phrase or ``None``)."""

    check: Callable[[Any], str | None]

    def problem(self, value: Any) -> str | None:
        return self.check(value)


def istio_name(field: dataclasses.Field[Any]) -> str:
    """The YAML key of a dataclass field: its name in camelCase, unless ``metadata['istio']`` says otherwise."""
    override = field.metadata.get("istio")
    if override:
        return str(override)
    head, *rest = field.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def ignored_fields(cls: type) -> Mapping[str, str]:
    """The Istio fields of ``cls``'s object that dsim accepts without modelling: YAML key → reason."""
    return typing.cast(Mapping[str, str], getattr(cls, "IGNORED", {}))


def parse_duration_ms(text: str, *, allow_zero: bool = False) -> int | str:
    """Whole milliseconds of an Istio duration, or the problem with it.

    The syntax is Go's ``time.ParseDuration`` (what Kubernetes' CEL ``duration()`` and Istio read):
    numbers with an optional fraction and a unit (ns, us, ms, s, m, h), concatenated (``1h30m``).
    Istio then wants at least 1 ms, in whole milliseconds (``agent.ValidateDuration``).
    """
    if len(text) > _DURATION_TEXT_MAX:
        return f"expected {_DURATION_EXAMPLES} (got {quote(text)})"
    sign, body = (text[:1], text[1:]) if text[:1] in ("+", "-") else ("", text)
    total = Fraction(0)
    if body != "0":
        position = 0
        while position < len(body) or position == 0:
            part = _DURATION_PART.match(body, position)
            if part is None:
                return f"expected {_DURATION_EXAMPLES} (got {quote(text)})"
            total += Fraction(part[1]) * _UNIT_NS[part[2]]
            position = part.end()
    if total > _GO_DURATION_MAX_NS:
        return f"{quote(text)} is longer than a duration can be (about 292 years)"
    nanoseconds = -total if sign == "-" else total
    if allow_zero and nanoseconds == 0:
        return 0
    if nanoseconds < 10**6:
        return f"{quote(text)} is too short: a duration must be at least 1ms"
    if nanoseconds % 10**6:
        return f"{quote(text)} is finer than a millisecond; Istio supports durations to ms precision"
    return int(nanoseconds // 10**6)


def format_duration(milliseconds: int) -> str:
    """A duration as Istio writes it back: whole seconds as ``"5s"``, anything else as ``"1500ms"``."""
    return f"{milliseconds // 1000}s" if milliseconds % 1000 == 0 else f"{milliseconds}ms"


@functools.cache
def _layout(cls: type) -> tuple[dict[str, dataclasses.Field[Any]], dict[str, Any]]:
    """A record class's fields by YAML key, and their type hints (resolving hints is slow: once per class)."""
    declared = {istio_name(f): f for f in dataclasses.fields(cls) if f.init}
    return declared, typing.get_type_hints(cls, include_extras=True)


class SpecReader(Converter):
    """:mod:`dsim.scenario.convert`'s converter with Istio's field names and the ignored-field list."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.ignored: list[Ignored] = []
        self.ignored_values: dict[str, Any] = {}
        """Each ignored field's value as given, by path (unread: some of Istio's rules pair it with
        a modelled field all the same)."""

    def value(self, hint: Any, raw: Any, path: str) -> Any:
        if hint is Milliseconds or hint is MillisecondsOrZero:
            return self.duration(raw, path, allow_zero=hint is MillisecondsOrZero)
        if typing.get_origin(hint) is Annotated:
            for constraint in typing.get_args(hint)[1:]:
                if isinstance(constraint, MaxItems) and isinstance(raw, list | Mapping):
                    problem = constraint.problem(raw)
                    if problem:
                        self.fail(path, problem)
        return super().value(hint, raw, path)

    def duration(self, raw: Any, path: str, *, allow_zero: bool) -> int:
        if not isinstance(raw, str):
            self.fail(path, f"expected {_DURATION_EXAMPLES}, as a string (got {describe_value(raw)})")
        parsed = parse_duration_ms(raw, allow_zero=allow_zero)
        if isinstance(parsed, str):
            self.fail(path, parsed)
        return parsed

    def record(self, cls: type, raw: Any, path: str) -> Any:
        if not isinstance(raw, Mapping):
            self.fail(path, f"expected a mapping (got {describe_value(raw)})")
        declared, hints = _layout(cls)
        ignored = ignored_fields(cls)
        for key in raw:
            if key in declared:
                continue
            if isinstance(key, str) and key in ignored:
                self.ignored.append(Ignored(key_path(path, key), ignored[key]))
                self.ignored_values[key_path(path, key)] = raw[key]
                continue
            self.fail(key_path(path, key), unknown_key_message(key, [*declared, *ignored]))
        values = {}
        for key, f in declared.items():
            if key in raw:
                values[f.name] = self.value(hints[f.name], raw[key], join(path, key))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.fail(join(path, key), "missing (this field is required)")
        return cls(**values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectMeta:
    """The part of a Kubernetes object's metadata that places an Istio object."""

    name: Annotated[str, Rule(object_name_problem)]
    """The object's name."""
    namespace: Annotated[str, DnsLabel()] = "default"
    """Its namespace; left out, ``default``, as ``kubectl apply`` places it."""

    IGNORED: ClassVar[Mapping[str, str]] = dict.fromkeys(
        (
            "labels",
            "annotations",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "ownerReferences",
            "finalizers",
            "generateName",
            "selfLink",
        ),
        "Kubernetes bookkeeping; no effect on the Envoy config dsim models (the list's order stands for "
        "the creation order: dsim import writes objects in it)",
    )


class ObjectParts(NamedTuple):
    """What every Istio object has: where it lives, its typed spec, and the fields left out."""

    meta: ObjectMeta
    spec: Any
    ignored: list[Ignored]
    reader: SpecReader


_FULL_KEYS = ("apiVersion", "kind", "metadata", "spec")
_SHORT_KEYS = ("name", "namespace", "spec")
_STATUS_REASON = "status written by the cluster, not configuration"


def read_object(kind: str, spec_cls: type, raw: Any, *, source: str, path: str) -> ObjectParts:
    """Read an Istio object of ``kind`` in either form users paste.

    The whole Kubernetes object (``apiVersion: networking.istio.io/v1|v1beta1|v1alpha3``, ``kind``,
    ``metadata.{name,namespace}``, ``spec``), or the short form ``{name, namespace, spec}``.
    """
    reader = SpecReader(source)
    if not isinstance(raw, Mapping):
        reader.fail(
            path, f"expected a {kind}: a Kubernetes object or {{name, namespace, spec}} (got {describe_value(raw)})"
        )
    full = any(key in raw for key in ("apiVersion", "kind", "metadata"))
    allowed = _FULL_KEYS if full else _SHORT_KEYS
    for key in raw:
        if key == "status" and full:
            reader.ignored.append(Ignored(key_path(path, key), _STATUS_REASON))
        elif key not in allowed:
            reader.fail(key_path(path, key), unknown_key_message(key, [*allowed, "status"] if full else list(allowed)))
    for key in allowed:
        if key not in raw and key != "namespace":
            reader.fail(join(path, key), "missing (this field is required)")
    if full:
        _check_type(reader, kind, raw, path)
        meta = reader.value(ObjectMeta, raw["metadata"], join(path, "metadata"))
    else:
        meta = reader.value(ObjectMeta, {k: raw[k] for k in ("name", "namespace") if k in raw}, path)
    spec = reader.value(spec_cls, raw["spec"], join(path, "spec"))
    return ObjectParts(meta, spec, reader.ignored, reader)


def _check_type(reader: SpecReader, kind: str, raw: Mapping[Any, Any], path: str) -> None:
    versions = [f"{API_GROUP}/{version}" for version in API_VERSIONS]
    if raw["apiVersion"] not in versions:
        reader.fail(join(path, "apiVersion"), f"{quote(raw['apiVersion'])} is not one of {', '.join(versions)}")
    if raw["kind"] != kind:
        reader.fail(join(path, "kind"), f"expected {kind} (got {quote(raw['kind'])})")


def _hints(cls: type) -> dict[str, Any]:
    """A record class's type hints, resolved once per class (:func:`_layout`): writing an imported
    mesh's objects back resolved them per record, most of ``scenario_hash``'s time."""
    return _layout(cls)[1]


def to_istio(value: Any, hint: Any = None) -> Any:
    """A parsed spec (or part of one) back in Istio's YAML form: camelCase keys, durations as
    strings, fields at their defaults left out, as ``kubectl get -o yaml`` shows an object."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = _hints(type(value))
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.default is not dataclasses.MISSING and item == f.default:
                continue
            if f.default_factory is not dataclasses.MISSING and item == f.default_factory():
                continue
            out[istio_name(f)] = to_istio(item, hints[f.name])
        return out
    if isinstance(value, tuple):
        return [to_istio(item) for item in value]
    if isinstance(value, dict):
        return {key: to_istio(item) for key, item in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and _is_duration(hint):
        return format_duration(value)
    return value


def _is_duration(hint: Any) -> bool:
    if hint is None:
        return False
    options = typing.get_args(hint) or (hint,)
    return any(option in (Milliseconds, MillisecondsOrZero) for option in options)

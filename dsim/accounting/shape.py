"""Exact serialized sizes of many messages of one shape, from one template message.

The template is built by the same builders that make real messages (:mod:`dsim.xds`), with
stand-ins where instances differ: :func:`text` marks a string (or a part of one: builders
compose names from parts) and :class:`Number` an integer. :func:`serialized_sizes` walks the template's
fields once and computes, for every instance at once, the bytes protobuf's wire format gives
it: tags, varint lengths of every enclosing length-delimited field, and proto3's omission of
empty scalars. Variable-length repeated parts (one instance has three SANs, another one) are a
:class:`Ragged` stand-in: the element's size is computed per element and summed per instance.

So a design's accounting is its builder, fed columns: nothing about a resource's layout is
written twice. The tests hold every result to ``ByteSize()`` of real messages.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor

from dsim.wire import decimal_digits, tag_size, varint_size

_OPEN, _CLOSE = "\x01", "\x02"
_MARKER = re.compile("\x01([^\x02]*)\x02")
_SENTINEL_BASE = 4_000_000_000  # above any port or count dsim sets; below 2**32 (uint32 fields)
_sentinels = itertools.count()
_NUMBERS: dict[int, str] = {}

Size = np.ndarray  # int64 sizes, one per instance (or a 0-d array for constants)


def text(name: str) -> str:
    """A stand-in for a variable string (or part of one) named ``name``."""
    return f"{_OPEN}{name}{_CLOSE}"


def ragged(family: str, field: str) -> str:
    """A stand-in for ``field`` of one element of the repeated part ``family``: the element the
    template holds stands for all of an instance's elements of that family."""
    return text(f"*{family}.{field}")


class Number(int):
    """A stand-in for a variable integer: a sentinel value in varint fields, :func:`text` when formatted."""

    name: str

    def __new__(cls, name: str) -> Number:
        value = _SENTINEL_BASE + next(_sentinels)
        if value >= 2**32 - 1:  # 4294967295 is a real value dsim sets (circuit breaker thresholds)
            raise OverflowError("too many Number stand-ins in one process")
        number = super().__new__(cls, value)
        number.name = name
        _NUMBERS[value] = name
        return number

    def __str__(self) -> str:
        return text(self.name)

    def __format__(self, spec: str) -> str:
        return text(self.name)


@dataclasses.dataclass(frozen=True)
class Ragged:
    """The elements of a repeated part: their own columns, and the instance each belongs to."""

    elements: Columns
    """Per element: the values of its ``ragged(family, field)`` stand-ins, by ``field``."""
    owner: np.ndarray
    """The instance (0..n-1) each element belongs to."""


@dataclasses.dataclass(frozen=True)
class Columns:
    """The values of every stand-in, one entry per instance."""

    count: int
    """Number of instances."""
    lengths: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """Byte length of each :func:`text` stand-in's value."""
    numbers: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """Value of each :class:`Number` stand-in."""
    ragged: Mapping[str, Ragged] = dataclasses.field(default_factory=dict)
    """Elements of each :func:`ragged` stand-in."""

    def per_element(self, family: str) -> Columns:
        """Columns for evaluating one element of ``family`` per element: the element's own
        stand-ins, and the instance's repeated for each of its elements."""
        parts = self.ragged[family]
        own = parts.elements
        return Columns(
            count=own.count,
            lengths={k: np.asarray(v)[parts.owner] for k, v in self.lengths.items()}
            | {f"*{family}.{k}": np.asarray(v) for k, v in own.lengths.items()},
            numbers={k: np.asarray(v)[parts.owner] for k, v in self.numbers.items()}
            | {f"*{family}.{k}": np.asarray(v) for k, v in own.numbers.items()},
            ragged=own.ragged,
        )


def _string_length(value: str | bytes, columns: Columns) -> tuple[Size, list[str]]:
    """Byte length per instance of a template string, and the ragged stand-ins it names that
    these columns cannot resolve (they resolve only when evaluated per element)."""
    if isinstance(value, bytes):
        return np.asarray(len(value)), []
    length: Size = np.asarray(len(_MARKER.sub("", value).encode()), dtype=np.int64)
    unresolved = []
    for name in _MARKER.findall(value):
        if name in columns.lengths:
            length = length + np.asarray(columns.lengths[name], dtype=np.int64)
        elif name in columns.numbers:  # a Number written into text: its decimal digits
            length = length + decimal_digits(columns.numbers[name])
        elif name.startswith("*"):
            unresolved.append(name)
        else:
            raise KeyError(f"no column for stand-in {name!r}")
    return length, unresolved


def _always_written(field: FieldDescriptor) -> bool:
    """Whether a scalar at its default is still written: repeated, oneof, explicit presence, or
    the key or value of a map entry."""
    return (
        field.is_repeated
        or field.containing_oneof is not None
        or field.has_presence
        or field.containing_type.GetOptions().map_entry
    )


_FIXED = {
    FieldDescriptor.TYPE_DOUBLE: 8,
    FieldDescriptor.TYPE_FIXED64: 8,
    FieldDescriptor.TYPE_SFIXED64: 8,
    FieldDescriptor.TYPE_FLOAT: 4,
    FieldDescriptor.TYPE_FIXED32: 4,
    FieldDescriptor.TYPE_SFIXED32: 4,
}


def _scalar(field: FieldDescriptor, value: Any, columns: Columns) -> Size:
    """Bytes of one scalar field value (tag included)."""
    tag = tag_size(field.number)
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        length, raggeds = _string_length(value, columns)
        if raggeds:
            raise ValueError(f"ragged stand-in {raggeds} outside a repeated field: {field.full_name}")
        written = tag + varint_size(length) + length
        return written if _always_written(field) else np.where(length > 0, written, 0)
    if field.type in _FIXED:
        return np.asarray(tag + _FIXED[field.type])
    if field.type in (FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64):
        raise NotImplementedError(f"zigzag field {field.full_name}")  # no xDS field dsim sets uses one
    number = int(value)
    if number in _NUMBERS:
        values = np.asarray(columns.numbers[_NUMBERS[number]], dtype=np.uint64)
        written = tag + varint_size(values)
        return written if _always_written(field) else np.where(values != 0, written, 0)
    if number < 0:  # negative int32/int64/enum values are sign-extended to ten bytes
        return np.asarray(tag + 10)
    return np.asarray(tag + int(varint_size(number)))


def _embedded(field_number: int, content: Size) -> Size:
    return tag_size(field_number) + varint_size(content) + content


def _element(field: FieldDescriptor, value: Any, columns: Columns) -> Size:
    """Bytes of one element (or the single value) of ``field``, tag included."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _embedded(field.number, serialized_sizes(value, columns))
    return _scalar(field, value, columns)


def _family(name: str) -> set[str]:
    return {name[1:].split(".", 1)[0]} if name.startswith("*") else set()


def _direct_ragged(value: Any) -> set[str]:
    """Families of the ragged stand-ins inside ``value`` that no repeated field within it holds:
    ``value`` is then the repeated element they stand for (deeper ones belong deeper)."""
    if isinstance(value, str):
        return {f for n in _MARKER.findall(value) for f in _family(n)}
    if isinstance(value, int) and not isinstance(value, bool):
        return _family(_NUMBERS.get(int(value), ""))
    if not hasattr(value, "ListFields"):
        return set()
    if value.DESCRIPTOR.full_name == _ANY:
        return _direct_ragged(_unpacked(value))
    found: set[str] = set()
    for field, sub in value.ListFields():
        if not field.is_repeated:
            found |= _direct_ragged(sub)
    return found


def _ragged_element(field: FieldDescriptor, value: Any, columns: Columns, family: str) -> Size:
    """Summed bytes per instance of a repeated element standing for ``columns.ragged[family]``."""
    owner = columns.ragged[family].owner
    each = np.broadcast_to(_element(field, value, columns.per_element(family)), owner.shape)
    return np.bincount(owner, weights=each, minlength=columns.count).astype(np.int64)


_ANY = "google.protobuf.Any"


def _unpacked(packed: Any) -> Any:
    """The message inside an ``Any`` (whose payload is bytes, stand-ins hidden inside)."""
    name = packed.type_url.rsplit("/", 1)[-1]
    inner = message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(name))()
    packed.Unpack(inner)
    return inner


def _any_sizes(packed: Any, columns: Columns) -> Size:
    type_url = packed.DESCRIPTOR.fields_by_name["type_url"]
    payload = serialized_sizes(_unpacked(packed), columns)
    value_field = packed.DESCRIPTOR.fields_by_name["value"].number
    written = tag_size(value_field) + varint_size(payload) + payload
    return _scalar(type_url, packed.type_url, columns) + np.where(payload > 0, written, 0)


def serialized_sizes(message: Any, columns: Columns) -> Size:
    """Serialized size of every instance of ``message``'s shape (``ByteSize()``, per instance)."""
    if message.DESCRIPTOR.full_name == _ANY:
        return _any_sizes(message, columns)
    total: Size = np.zeros(columns.count, dtype=np.int64)
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            entry = field.message_type
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for key, item in value.items():
                content = _element(key_field, key, columns) + _element(value_field, item, columns)
                total = total + _embedded(field.number, content)
            continue
        if field.is_packed:
            # Packed repeated scalars: one tag and length, then the bare values.
            content = sum((_scalar(field, item, columns) - tag_size(field.number) for item in value), np.asarray(0))
            total = total + _embedded(field.number, content)
            continue
        items = value if field.is_repeated else [value]
        for item in items:
            # Only families ragged at this level: inside an element, its own family is resolved.
            names = _direct_ragged(item) & set(columns.ragged) if field.is_repeated else set()
            if names:
                if len(names) > 1:
                    raise ValueError(
                        f"one element stands for several repeated parts {sorted(names)}: {field.full_name}"
                    )
                total = total + _ragged_element(field, item, columns, names.pop())
            else:
                total = total + _element(field, item, columns)
    return total

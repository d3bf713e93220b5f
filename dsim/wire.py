"""Protobuf wire-format sizes on numpy arrays: the arithmetic exact vectorized accounting rests on.

A serialized field is its tag (a varint of ``field_number << 3 | wire_type``), then for
length-delimited fields (strings, bytes, sub-messages) a varint length and the payload. proto3
omits scalar fields at their default (empty string, 0, false) but writes a present sub-message
even when empty. Everything here works on whole columns at once; the tests hold each function
to real serialization (``ByteSize``) and, for address text, to :mod:`ipaddress`.
"""

from __future__ import annotations

import numpy as np

UINT32_MAX = 2**32 - 1
"""The largest uint32: the protobuf weights' range."""

# Smallest value needing k + 1 varint bytes, k = 1..9.
_VARINT_STEPS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)
_DECIMAL_STEPS = np.array([10**k for k in range(1, 20)], dtype=np.uint64)


def varint_size(values: np.ndarray | int) -> np.ndarray:
    """Bytes of each non-negative value as a varint (1 to 10)."""
    array = np.asarray(values, dtype=np.uint64)
    return (np.searchsorted(_VARINT_STEPS, array, side="right") + 1).astype(np.int64)


def tag_size(field_number: int) -> int:
    """Bytes of a field's tag."""
    return int(varint_size(field_number << 3))


def length_delimited_size(field_number: int, payload: np.ndarray | int) -> np.ndarray:
    """Bytes of a length-delimited field (a present sub-message, or a non-empty string) with
    ``payload`` bytes of content: tag + varint(length) + payload."""
    payload = np.asarray(payload, dtype=np.int64)
    return tag_size(field_number) + varint_size(payload) + payload


def string_field_size(field_number: int, length: np.ndarray | int) -> np.ndarray:
    """Bytes of a proto3 ``string`` field of ``length`` bytes: nothing when empty."""
    length = np.asarray(length, dtype=np.int64)
    return np.where(length > 0, length_delimited_size(field_number, length), 0)


def varint_field_size(field_number: int, values: np.ndarray | int) -> np.ndarray:
    """Bytes of a proto3 integer (``uint32``, ``uint64``, enum, bool) field: nothing when 0."""
    array = np.asarray(values, dtype=np.uint64)
    return np.where(array > 0, tag_size(field_number) + varint_size(array), 0).astype(np.int64)


def present_varint_field_size(field_number: int, values: np.ndarray | int) -> np.ndarray:
    """Bytes of an integer field with explicit presence (a oneof member such as
    ``SocketAddress.port_value``): written even when 0."""
    return tag_size(field_number) + varint_size(values)


def decimal_digits(values: np.ndarray | int) -> np.ndarray:
    """Digits of each non-negative integer in base 10 (0 has one)."""
    array = np.asarray(values, dtype=np.uint64)
    return (np.searchsorted(_DECIMAL_STEPS, array, side="right") + 1).astype(np.int64)


def ipv4_text_length(addresses: np.ndarray) -> np.ndarray:
    """Length of each ``uint32`` IPv4 address as dotted-quad text."""
    array = np.asarray(addresses, dtype=np.uint64)
    octets = [(array >> np.uint64(shift)) & np.uint64(0xFF) for shift in (24, 16, 8, 0)]
    return sum((decimal_digits(o) for o in octets), np.full(array.shape, 3, dtype=np.int64))


def _hex_digits(values: np.ndarray) -> np.ndarray:
    """Hex digits of 16-bit groups written without leading zeros (0 has one)."""
    return 1 + (values >= 0x10) + (values >= 0x100) + (values >= 0x1000)


def ipv6_text_length(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """Length of each IPv6 address (two ``uint64`` halves) in RFC 5952 text, as ``ipaddress``
    writes it: groups without leading zeros, the leftmost longest run of two or more zero
    groups written ``::``."""
    high = np.asarray(high, dtype=np.uint64)
    low = np.asarray(low, dtype=np.uint64)
    groups = np.stack(
        [(half >> np.uint64(shift)) & np.uint64(0xFFFF) for half in (high, low) for shift in (48, 32, 16, 0)],
        axis=-1,
    ).astype(np.int64)
    zero = groups == 0
    # Length of the zero run ending at each group, then the longest run (leftmost on ties).
    run = np.zeros(groups.shape, dtype=np.int64)
    for g in range(8):  # eight groups: a loop over columns, never over addresses
        previous = run[..., g - 1] if g else 0
        run[..., g] = np.where(zero[..., g], previous + 1, 0)
    longest = run.max(axis=-1)
    end = np.argmax(run == longest[..., None], axis=-1)  # first group where the longest run ends
    compressed = longest >= 2
    start = end - longest + 1
    position = np.arange(8)
    inside = compressed[..., None] & (position >= start[..., None]) & (position <= end[..., None])
    digits = np.where(inside, 0, _hex_digits(groups)).sum(axis=-1)
    left = np.where(compressed, start, 0)
    right = np.where(compressed, 7 - end, 0)
    separators = np.where(compressed, np.maximum(left - 1, 0) + np.maximum(right - 1, 0) + 2, 7)
    return (digits + separators).astype(np.int64)

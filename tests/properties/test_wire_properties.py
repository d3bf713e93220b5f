"""Wire-size arithmetic equals real serialization; address text lengths equal ipaddress's."""

from __future__ import annotations

import ipaddress

import numpy as np
from envoy.config.core.v3 import address_pb2
from google.protobuf import wrappers_pb2
from hypothesis import given
from hypothesis import strategies as st

from dsim.wire import (
    decimal_digits,
    ipv4_text_length,
    ipv6_text_length,
    length_delimited_size,
    present_varint_field_size,
    string_field_size,
    varint_field_size,
    varint_size,
)

uint64 = st.integers(0, 2**64 - 1)
# Lengths around every varint boundary that a string can realistically reach.
lengths = st.one_of(st.integers(0, 300), st.sampled_from([127, 128, 129, 16383, 16384, 16385]))


@given(st.lists(uint64, min_size=1, max_size=50))
def test_varint_size_matches_protobuf(values: list[int]) -> None:
    # UInt64Value writes tag (1 byte) + varint for a non-zero value; a zero varint is one byte.
    expected = [wrappers_pb2.UInt64Value(value=v).ByteSize() - 1 if v else 1 for v in values]
    assert varint_size(np.array(values, dtype=np.uint64)).tolist() == expected


@given(st.lists(lengths, min_size=1, max_size=20))
def test_string_and_submessage_sizes_match_protobuf(sizes: list[int]) -> None:
    array = np.array(sizes)
    strings = [address_pb2.SocketAddress(address="x" * n).ByteSize() for n in sizes]  # field 2
    assert string_field_size(2, array).tolist() == strings
    wrapped = [address_pb2.Address(socket_address=address_pb2.SocketAddress(address="x" * n)).ByteSize() for n in sizes]
    assert length_delimited_size(1, string_field_size(2, array)).tolist() == wrapped  # present even when empty


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20))
def test_varint_fields_match_protobuf(values: list[int]) -> None:
    array = np.array(values, dtype=np.uint64)
    implicit = [wrappers_pb2.UInt32Value(value=v).ByteSize() for v in values]  # field 1, omitted at 0
    assert varint_field_size(1, array).tolist() == implicit
    # SocketAddress.port_value (field 3) is a oneof member: written even when 0 (``127.0.0.6:0``).
    explicit = [address_pb2.SocketAddress(port_value=v).ByteSize() for v in values]
    assert present_varint_field_size(3, array).tolist() == explicit


@given(st.lists(uint64, min_size=1, max_size=50))
def test_decimal_digits(values: list[int]) -> None:
    assert decimal_digits(np.array(values, dtype=np.uint64)).tolist() == [len(str(v)) for v in values]


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=50))
def test_ipv4_text_length(values: list[int]) -> None:
    expected = [len(str(ipaddress.IPv4Address(v))) for v in values]
    assert ipv4_text_length(np.array(values, dtype=np.uint32)).tolist() == expected


def hextet_addresses() -> st.SearchStrategy[int]:
    """IPv6 addresses rich in zero groups, so that every compression case comes up."""
    group = st.one_of(st.just(0), st.just(0), st.integers(1, 0xF), st.integers(0x10, 0xFFFF))
    return st.lists(group, min_size=8, max_size=8).map(lambda g: sum(v << (16 * (7 - i)) for i, v in enumerate(g)))


@given(st.lists(st.one_of(hextet_addresses(), st.integers(0, 2**128 - 1)), min_size=1, max_size=50))
def test_ipv6_text_length(values: list[int]) -> None:
    high = np.array([v >> 64 for v in values], dtype=np.uint64)
    low = np.array([v & (2**64 - 1) for v in values], dtype=np.uint64)
    expected = [len(str(ipaddress.IPv6Address(v))) for v in values]
    assert ipv6_text_length(high, low).tolist() == expected


def test_ipv6_text_length_edge_cases() -> None:
    cases = [
        "::",
        "::1",
        "1::",
        "fd00:10:244::1a",
        "1:0:1:0:1:0:1:0",
        "1:0:0:1:0:0:0:1",
        "1:0:0:1:1:0:0:1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        "0:1:1:1:1:1:1:1",
        "fd00:10:96::f9fc",
    ]
    values = [int(ipaddress.IPv6Address(c)) for c in cases]
    high = np.array([v >> 64 for v in values], dtype=np.uint64)
    low = np.array([v & (2**64 - 1) for v in values], dtype=np.uint64)
    assert ipv6_text_length(high, low).tolist() == [len(str(ipaddress.IPv6Address(v))) for v in values]

"""Address allocation and formatting on numpy columns, against the standard library."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from dsim.addresses import (
    allocate_random,
    allocate_sequential,
    ipv4_text,
    ipv6_from_offsets,
    ipv6_text,
    usable_span,
)


def test_ipv4_text_matches_ipaddress() -> None:
    values = np.random.default_rng(0).integers(0, 2**32, size=2000, dtype=np.uint64).astype(np.uint32)
    values[:3] = [0, 2**32 - 1, int(ipaddress.IPv4Address("10.96.106.11"))]
    assert ipv4_text(values).tolist() == [str(ipaddress.IPv4Address(int(v))) for v in values]


def test_ipv6_offsets_carry_into_the_high_half() -> None:
    net = ipaddress.ip_network("fd00::ffff:ffff:ffff:ff00/64", strict=False)
    offsets = np.array([0, 255, 256, 2**63], dtype=np.uint64)
    high, low = ipv6_from_offsets(net, offsets)
    expected = [int(net.network_address) + int(o) for o in offsets]
    assert [(int(h) << 64) | int(lo) for h, lo in zip(high, low, strict=True)] == expected
    assert ipv6_text(high, low).tolist() == [str(ipaddress.IPv6Address(e)) for e in expected]


@pytest.mark.parametrize(("cidr", "span"), [("10.96.0.0/16", 65533), ("fd00:10:96::/112", 65534), ("10.0.0.0/30", 1)])
def test_usable_span_skips_network_gateway_and_broadcast(cidr: str, span: int) -> None:
    assert usable_span(ipaddress.ip_network(cidr)) == span


@pytest.mark.parametrize("count", [0, 1, 100, 900, 990])
def test_random_allocation_is_distinct_free_and_in_range(count: int) -> None:
    taken = np.array([2, 5, 7, 1000], dtype=np.uint64)
    offsets = allocate_random(np.random.default_rng(1), count, taken, span=1000)
    assert offsets.size == count
    assert len(set(offsets.tolist())) == count
    assert not set(offsets.tolist()) & set(taken.tolist())
    assert all(2 <= o < 1002 for o in offsets.tolist())


def test_random_allocation_refuses_more_than_fits() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        allocate_random(np.random.default_rng(1), 10, np.array([2], dtype=np.uint64), span=10)


def test_sequential_allocation_takes_the_lowest_free_offsets() -> None:
    offsets = allocate_sequential(5, np.array([3, 4], dtype=np.uint64), span=100)
    assert offsets.tolist() == [2, 5, 6, 7, 8]
    with pytest.raises(ValueError, match="do not fit"):
        allocate_sequential(5, np.array([], dtype=np.uint64), span=4)

"""IP addresses as numpy columns: allocation from CIDRs and text formatting.

IPv4 addresses are ``uint32``; IPv6 addresses are two ``uint64`` columns (high and low 64
bits). Allocation works on *offsets* into a CIDR's usable range (see
:func:`dsim.scenario.checks.usable_addresses`): the first two addresses are never handed out,
nor IPv4's broadcast address.
"""

from __future__ import annotations

import ipaddress

import numpy as np

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FIRST_USABLE_OFFSET = 2
_LOW64 = (1 << 64) - 1
# Offsets are uint64 draws; ranges beyond 2**63 addresses are used only up to there.
_MAX_SPAN = 1 << 63


def usable_span(network: IpNetwork) -> int:
    """How many addresses of ``network`` dsim hands out."""
    reserved = FIRST_USABLE_OFFSET + (1 if network.version == 4 else 0)
    return max(min(network.num_addresses - reserved, _MAX_SPAN), 0)


def allocate_sequential(count: int, taken: np.ndarray, span: int) -> np.ndarray:
    """The ``count`` lowest free offsets (kind's IPAM hands pod IPs out in order)."""
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    window = np.arange(FIRST_USABLE_OFFSET, FIRST_USABLE_OFFSET + count + taken.size, dtype=np.uint64)
    free = window[~np.isin(window, taken)][:count]
    if free.size < count or (free.size and int(free[-1]) >= FIRST_USABLE_OFFSET + span):
        raise ValueError(f"{count} addresses do not fit in {span} usable ones")
    return free


def allocate_random(rng: np.random.Generator, count: int, taken: np.ndarray, span: int) -> np.ndarray:
    """``count`` distinct free offsets drawn uniformly (Kubernetes picks ClusterIPs at random)."""
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    if count + taken.size > span:
        raise ValueError(f"{count} addresses do not fit in {span} usable ones")
    low, high = FIRST_USABLE_OFFSET, FIRST_USABLE_OFFSET + span
    if 2 * (count + taken.size) > span:
        # Dense: a permutation beats rejection sampling.
        pool = np.arange(low, high, dtype=np.uint64)
        pool = pool[~np.isin(pool, taken)]
        return rng.permutation(pool)[:count]
    chosen = np.empty(0, dtype=np.uint64)
    while chosen.size < count:
        need = count - chosen.size
        draws = rng.integers(low, high, size=need + need // 4 + 16, dtype=np.uint64)
        merged = np.concatenate([chosen, draws[~np.isin(draws, taken)]])
        _, first = np.unique(merged, return_index=True)
        chosen = merged[np.sort(first)][:count]
    return chosen


def ipv4_from_offsets(network: IpNetwork, offsets: np.ndarray) -> np.ndarray:
    return (np.uint64(int(network.network_address)) + offsets).astype(np.uint32)


def ipv6_from_offsets(network: IpNetwork, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low 64-bit halves of ``network`` + ``offsets``."""
    base = int(network.network_address)
    base_low = np.uint64(base & _LOW64)
    low = base_low + offsets  # wraps modulo 2**64 on purpose; the carry goes to the high half
    high = np.uint64(base >> 64) + (low < base_low).astype(np.uint64)
    return high, low


def ipv4_text(values: np.ndarray) -> np.ndarray:
    """Dotted-quad text of ``uint32`` addresses, vectorized."""
    values = np.asarray(values, dtype=np.uint32)
    parts = [((values >> shift) & 0xFF).astype(str) for shift in (24, 16, 8, 0)]
    text = parts[0]
    for part in parts[1:]:
        text = np.strings.add(np.strings.add(text, "."), part)
    return text


def ipv6_text(high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """RFC 5952 text of IPv6 addresses (for display and small selections)."""
    return np.array(
        [
            str(ipaddress.IPv6Address((int(h) << 64) | int(lo)))
            for h, lo in zip(high.tolist(), low.tolist(), strict=True)
        ],
        dtype=object,
    )


def split_ipv6(address: int) -> tuple[int, int]:
    return address >> 64, address & _LOW64

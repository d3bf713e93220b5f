"""What the machine has: the memory this process holds and may still allocate, and sizes in
bytes as people write them (``8G``) and read them (``1.5 GiB``)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import resource
import sys
from pathlib import Path


def _read_number(path: str, key: str | None = None) -> float | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if key is None:
        return float(text.strip()) if text.strip().isdigit() else None
    found = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    return float(found[1]) * 1024 if found else None


def resident_memory() -> float:
    """Bytes this process holds now (``/proc/self/statm``; elsewhere its peak so far)."""
    pages = Path("/proc/self/statm")
    with contextlib.suppress(OSError, ValueError, IndexError):
        return float(pages.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return float(peak if sys.platform == "darwin" else peak * 1024)  # macOS counts bytes, Linux KiB


def available_memory() -> float | None:
    """Bytes this process may still allocate: ``MemAvailable``, capped by a cgroup's limit left;
    None where neither can be read."""
    candidates = [_read_number("/proc/meminfo", "MemAvailable")]
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        cap, current = _read_number(limit), _read_number(used)
        if cap is not None and current is not None and cap < 2**60:  # v1 writes "no limit" as ~2**63
            candidates.append(cap - current)
    if candidates[0] is None:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            candidates[0] = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    known = [c for c in candidates if c is not None]
    return min(known) if known else None


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
MAX_SIZE = 2**63
"""The largest size :func:`parse_memory` accepts, in bytes (8 EiB, what a signed 64-bit count holds)."""
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*\Z", re.IGNORECASE)


def parse_memory(text: str) -> int:
    """Bytes from ``512M``, ``8G``, ``1.5GiB`` or a plain number of bytes (units are powers of 1024)."""
    found = _SIZE.match(text)
    if not found or float(found[1]) <= 0:
        raise ValueError(f"expected a size such as 512M or 8G (got {text[:40]!r})")
    size = float(found[1]) * _UNITS[found[2].upper()]
    # A long enough number reads as inf, which int() refuses with an OverflowError; past 2**63 bytes
    # the setrlimit the guard may call overflows too. Both are typos, not sizes: say so.
    if not math.isfinite(size) or size > MAX_SIZE:
        raise ValueError(f"expected a size of at most {MAX_SIZE // _UNITS['T']}T (got {text[:40]!r})")
    if size < 1:  # 0.1 bytes would be a limit of 0
        raise ValueError(f"expected a size of at least 1 byte (got {text[:40]!r})")
    return int(size)


def format_bytes(value: float) -> str:
    """``1.5 GiB``, ``310 MiB``, ``3.0e+06 TiB`` (powers of 1024)."""
    if value > sys.float_info.max:
        return "more than 1e308 bytes"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if value >= size:
            scaled = value / size
            return f"{scaled:.1f} {unit}" if scaled < 1e6 else f"{scaled:.1e} {unit}"
    return f"{value / 2**10:.0f} KiB"

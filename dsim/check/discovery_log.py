"""istiod's push lines (``discovery.log``): what it sent each proxy, per xDS type.

For every push istiod logs (``pilot/pkg/xds``, at info for full pushes)::

    2026-11-30T10:00:00.000000Z  info  ads  CDS: PUSH for node:sleep-7d4f9.default resources:23 size:25.1kB cached:20/23

``PUSH request`` is the answer to a proxy's own request (its first config), ``PUSH INC`` an
incremental push (logged at debug only), `` filtered:N`` a delta push of part of the resources.
The size is the sum of the resources' serialized bytes (``len(Any.value)``, dsim's own size
metric) printed by Istio's ``util.ByteCount``: exact below 1000 bytes, else one decimal of kB,
MB, ... (powers of 1000). A printed size is therefore an interval, and dsim's bytes agree with it
when they fall inside.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable

import pandas as pd

SHORT_TYPES = {"LDS": "listeners", "CDS": "clusters", "RDS": "routes", "EDS": "endpoints"}
"""istiod's short type names (``v3.GetShortType``) for the four types dsim generates."""

_UNITS = "kMGTPE"
# Counts of at most 18 digits (an int64): a line with longer ones is no push istiod logged.
_PUSH = re.compile(
    r"(?P<type>[A-Z]{2,5}): (?P<kind>PUSH(?: INC)?)(?P<reason>[^\n]*?) for node:(?P<node>\S+)"
    r" resources:(?P<resources>\d{1,18}) size:(?P<size>\d{1,18}B|\d{1,18}\.\d[kMGTPE]B)(?P<info>.*)$"
)

PUSH_COLUMNS = ["proxy", "xds_type", "resources", "size", "bytes_low", "bytes_high", "time", "istiod", "line"]


@dataclasses.dataclass(frozen=True)
class ByteCount:
    """A size as Istio prints it, and the byte interval the text stands for."""

    text: str
    low: int
    high: int

    def holds(self, size: int) -> bool:
        """Whether ``size`` bytes print as this text (within its precision)."""
        return self.low <= size <= self.high


def byte_count(size: int) -> str:
    """``size`` bytes as Istio's ``util.ByteCount`` prints them (``512B``, ``25.1kB``, ``1.2MB``).

    Python's ``.1f`` rounds the binary value correctly, as Go's ``%.1f`` does, so the texts agree."""
    if size < 1000:
        return f"{size}B"
    divisor, exponent = 1000, 0
    quotient = size // 1000
    while quotient >= 1000:
        divisor *= 1000
        exponent += 1
        quotient //= 1000
    return f"{size / divisor:.1f}{_UNITS[exponent]}B"


def parse_byte_count(text: str) -> ByteCount:
    """The interval of byte counts that print as ``text``: one value below 1000 bytes, else the
    half-tenth of a unit either side of the printed value (the one decimal it carries)."""
    if text.endswith("B") and text[:-1].isdigit() and len(text) <= 19:
        value = int(text[:-1])
        return ByteCount(text, value, value)
    match = re.fullmatch(r"(\d{1,18})\.(\d)([kMGTPE])B", text)
    if match is None:
        raise ValueError(f"not a byte count as istiod prints it: {text!r}")
    unit = 1000 ** (_UNITS.index(match[3]) + 1)
    tenths = int(match[1]) * 10 + int(match[2])
    # (tenths ± 0.5) / 10 units: exact in integers, ties included (Go rounds them to even).
    return ByteCount(text, math.ceil((2 * tenths - 1) * unit / 20), math.floor((2 * tenths + 1) * unit / 20))


@dataclasses.dataclass(frozen=True)
class PushLine:
    """One push line of istiod's log."""

    time: str
    xds_type: str
    """dsim's name (``clusters``...); the line's own short name when dsim has none (``SDS``)."""
    incremental: bool
    reason: str
    """What follows ``PUSH``: ``request`` for a requested config, else empty (reasons appear at debug)."""
    node: str
    """Istio's proxy id: ``<pod>.<namespace>``."""
    resources: int
    size: ByteCount
    info: str
    """The rest of the line (``cached:20/23``, ``empty:0``, `` filtered:3``)."""

    @property
    def proxy(self) -> str:
        """``<namespace>/<pod>``: a namespace has no dots, a pod name may."""
        pod, _, namespace = self.node.rpartition(".")
        return f"{namespace}/{pod}" if pod else self.node

    @property
    def full(self) -> bool:
        """A push of the type's every resource (not incremental, not a delta of some)."""
        return not self.incremental and "filtered:" not in self.info


def parse_line(line: str) -> PushLine | None:
    """The push a log line records, or ``None`` for any other line."""
    match = _PUSH.search(line.rstrip("\r\n"))
    if match is None:
        return None
    head = line[: match.start()].split()
    return PushLine(
        time=head[0] if head else "",
        xds_type=SHORT_TYPES.get(match["type"], match["type"]),
        incremental=match["kind"] == "PUSH INC",
        reason=match["reason"].strip(),
        node=match["node"],
        resources=int(match["resources"]),
        size=parse_byte_count(match["size"]),
        info=match["info"].strip(),
    )


def read_pushes(text: str) -> list[PushLine]:
    """Every push line of a ``discovery.log``, in the log's order."""
    return [push for push in map(parse_line, text.splitlines()) if push is not None]


def latest_full_pushes(logs: Iterable[tuple[str, str]]) -> pd.DataFrame:
    """Per proxy and xDS type (dsim's four), the last full push over every istiod's log
    (``(istiod name, log text)`` pairs; the logs' RFC 3339 times order them).

    A full push carries all of a type's resources, so it is the one to hold dsim's config against.
    """
    latest: dict[tuple[str, str], dict[str, object]] = {}
    for istiod, text in logs:
        for number, push in enumerate(read_pushes(text), start=1):
            if not push.full or push.xds_type not in SHORT_TYPES.values():
                continue
            key = (push.proxy, push.xds_type)
            if key in latest and str(latest[key]["time"]) > push.time:
                continue
            latest[key] = {
                "proxy": push.proxy,
                "xds_type": push.xds_type,
                "resources": push.resources,
                "size": push.size.text,
                "bytes_low": push.size.low,
                "bytes_high": push.size.high,
                "time": push.time,
                "istiod": istiod,
                "line": number,
            }
    rows = [latest[key] for key in sorted(latest)]
    return pd.DataFrame(rows, columns=PUSH_COLUMNS)

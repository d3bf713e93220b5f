"""istiod's push lines, written here in its format (``pilot/pkg/xds``), and its ByteCount sizes."""

from __future__ import annotations

import pytest

from dsim.check.discovery_log import byte_count, latest_full_pushes, parse_byte_count, parse_line, read_pushes

SLEEP = "sleep-7d4f9.default"
_LINES = [
    ("09:59:58.120000Z", "info", "ADS: new connection for node:{SLEEP}-1"),
    ("09:59:58.121000Z", "info", "CDS: PUSH request for node:{SLEEP} resources:22 size:24.9kB cached:0/22"),
    ("09:59:58.122000Z", "info", "EDS: PUSH request for node:{SLEEP} resources:18 size:3.4kB empty:0 cached:0/18"),
    ("09:59:58.123000Z", "info", "LDS: PUSH request for node:{SLEEP} resources:12 size:41.0kB"),
    ("09:59:58.124000Z", "info", "RDS: PUSH request for node:{SLEEP} resources:6 size:512B cached:0/6"),
    ("09:59:58.125000Z", "info", "SDS: PUSH request for node:{SLEEP} resources:2 size:4.3kB cached:0/2"),
    ("10:00:00.000000Z", "info", "CDS: PUSH for node:{SLEEP} resources:23 size:25.1kB cached:20/23"),
    ("10:00:00.001000Z", "info", "EDS: PUSH for node:{SLEEP} resources:19 size:3.6kB empty:0 cached:19/19"),
    ("10:00:00.002000Z", "info", "EDS: PUSH INC for node:{SLEEP} resources:1 size:190B empty:0 cached:0/1"),
    ("10:00:00.003000Z", "info", "CDS: PUSH for node:{SLEEP} resources:3 size:3.1kB filtered:20"),
    ("10:00:00.004000Z", "warn", "LDS: Send failure for node:{SLEEP} resources:12 size:41.0kB: EOF"),
    ("10:00:00.005000Z", "info", "LDS: PUSH for node:api.v2-5c8d.shop resources:40 size:1.2MB"),
]
LOG = "".join(f"2026-11-30T{time}\t{level}\tads\t{text.format(SLEEP=SLEEP)}\n" for time, level, text in _LINES)
"""istiod's log as it prints it: time, level, scope, message, tab-separated."""


def test_each_push_line_is_read() -> None:
    pushes = read_pushes(LOG)
    assert len(pushes) == 10  # not the connection line, not the send failure
    first = pushes[0]
    assert (first.xds_type, first.reason, first.node, first.proxy) == (
        "clusters",
        "request",
        "sleep-7d4f9.default",
        "default/sleep-7d4f9",
    )
    assert (first.resources, first.size.text, first.info, first.time) == (
        22,
        "24.9kB",
        "cached:0/22",
        "2026-11-30T09:59:58.121000Z",
    )
    eds = pushes[1]
    assert (eds.xds_type, eds.info, eds.full) == ("endpoints", "empty:0 cached:0/18", True)
    assert pushes[4].xds_type == "SDS"
    incremental = pushes[7]
    assert (incremental.incremental, incremental.full) == (True, False)
    assert incremental.size.low == incremental.size.high == 190
    assert not pushes[8].full  # a delta push of some clusters
    assert pushes[-1].proxy == "shop/api.v2-5c8d"  # a pod name may hold dots, a namespace not


def test_latest_full_push_per_proxy_and_type() -> None:
    table = latest_full_pushes([("istio-system/istiod-a", LOG)]).set_index(["proxy", "xds_type"])
    assert sorted(table.index) == sorted(
        [("default/sleep-7d4f9", t) for t in ("clusters", "endpoints", "listeners", "routes")]
        + [("shop/api.v2-5c8d", "listeners")]
    )
    columns = ["resources", "size", "bytes_low", "bytes_high"]
    assert list(table.loc[("default/sleep-7d4f9", "clusters"), columns]) == [23, "25.1kB", 25050, 25150]
    assert table.loc[("default/sleep-7d4f9", "endpoints"), "resources"] == 19  # not the incremental one
    assert table.loc[("default/sleep-7d4f9", "routes"), "size"] == "512B"


def test_a_later_line_of_another_istiod_wins() -> None:
    later = "2026-11-30T10:05:00.000000Z\tinfo\tads\tCDS: PUSH for node:sleep-7d4f9.default resources:24 size:26.0kB\n"
    table = latest_full_pushes([("istio-system/istiod-b", later), ("istio-system/istiod-a", LOG)])
    row = table[(table["proxy"] == "default/sleep-7d4f9") & (table["xds_type"] == "clusters")].iloc[0]
    assert (row["resources"], row["istiod"]) == (24, "istio-system/istiod-b")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("512B", 512, 512),
        ("0B", 0, 0),
        ("25.1kB", 25050, 25150),
        ("1.2MB", 1_150_000, 1_250_000),
        ("1000.0kB", 999_950, 1_000_050),
    ],
)
def test_byte_count_intervals(text: str, low: int, high: int) -> None:
    size = parse_byte_count(text)
    assert (size.low, size.high) == (low, high)


def test_byte_count_prints_as_istio_and_parses_back() -> None:
    assert [byte_count(n) for n in (0, 999, 1000, 25_149, 25_150, 999_999, 1_234_567)] == [
        "0B",
        "999B",
        "1.0kB",
        "25.1kB",
        "25.1kB",
        "1000.0kB",
        "1.2MB",
    ]  # 25.15 is 25.149999... in binary; Go and Python both print 25.1
    for size in range(0, 3_000_000, 997):
        assert parse_byte_count(byte_count(size)).holds(size), size


def test_not_a_byte_count() -> None:
    with pytest.raises(ValueError, match="byte count"):
        parse_byte_count("12kB")
    assert parse_line("CDS: PUSH for node:x.y resources:1 size:12kB") is None


@pytest.mark.parametrize(
    "line",
    [
        "CDS: PUSH request for node:a.b resources:" + "9" * 5000 + " size:24.9kB",
        "CDS: PUSH request for node:a.b resources:22 size:" + "9" * 5000 + "B",
        "CDS: PUSH request for node:a.b resources:22 size:" + "9" * 5000 + ".9kB",
    ],
)
def test_a_count_no_istiod_prints_is_no_push_line(line: str) -> None:
    """A review find: a count past Python's digit cap ended ``dsim check`` in a traceback."""
    assert parse_line(line) is None

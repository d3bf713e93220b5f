"""Per-type size in Istio's metric, by real serialization."""

from __future__ import annotations

import pytest

from dsim import UnknownNameError, config_sizes, generate
from tests.conftest import SCENARIOS

BLOG = SCENARIOS / "istio-blog-dual-stack.yaml"


def test_sizes_are_resource_counts_and_serialized_bytes() -> None:
    frame = config_sizes(BLOG, "duplicate")
    assert list(frame.columns) == ["design", "proxy", "xds_type", "resources", "bytes"]
    assert len(frame) == 4 * 4
    sleep = generate(BLOG, "default/sleep", "duplicate")
    row = frame[(frame["proxy"] == sleep.proxy.proxy) & (frame["xds_type"] == "clusters")].iloc[0]
    assert row["resources"] == len(sleep.clusters)
    assert row["bytes"] == sum(len(c.SerializeToString()) for c in sleep.clusters)


def test_dual_stack_costs_more_under_duplicate_than_under_additional_addresses() -> None:
    totals = {d: config_sizes(BLOG, d)["bytes"].sum() for d in ("single-stack", "duplicate", "additional-addresses")}
    assert totals["duplicate"] > totals["additional-addresses"] > totals["single-stack"]


def test_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="valid methods: vectorized, protobuf"):
        config_sizes(BLOG, "duplicate", method="guess")

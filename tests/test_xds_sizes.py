"""Per-type size in Istio's metric, by real serialization."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from dsim import UnknownNameError, config_counts, config_sizes, generate
from dsim.designs import design_names
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


@pytest.mark.parametrize("measure", [config_sizes, config_counts])
def test_both_methods_of_the_api_agree_on_all_or_some_proxies(measure: Callable[..., pd.DataFrame]) -> None:
    for design in design_names():
        for proxies in (None, [2, 0]):
            fast = measure(BLOG, design, method="vectorized", proxies=proxies)
            slow = measure(BLOG, design, method="protobuf", proxies=proxies)
            keys = [c for c in ("proxy", "xds_type") if c in fast]
            assert sorted(set(fast["proxy"])) == ([0, 2] if proxies else [0, 1, 2, 3])
            pd.testing.assert_frame_equal(
                fast.sort_values(keys, ignore_index=True), slow.sort_values(keys, ignore_index=True), check_dtype=False
            )

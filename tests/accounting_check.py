"""The vectorized accounting against its slow twin: equal on every (proxy, type) and count."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsim.accounting.proxies import vectorized_sizes
from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import ProxyConfig
from dsim.xds.sizes import protobuf_sizes_and_counts
from dsim.xds.view import index_for


def assert_methods_agree(
    cluster: Cluster, design: str, proxies: Sequence[int] | None = None, *, fast_first: bool = False
) -> int:
    """Raise unless both methods give identical sizes and counts; return the rows compared.
    ``fast_first``: the accounting before the messages, so it finds none of theirs cached."""
    rows = list(range(len(cluster.proxies))) if proxies is None else [int(p) for p in proxies]
    # Each method computes both tables at once (the messages are the slow part); the public API's
    # ``method=`` argument reaches these same functions (test_xds_sizes).
    chosen = get_design(design)
    if fast_first:
        fast_tables = vectorized_sizes(cluster, chosen)
    slow_tables = protobuf_sizes_and_counts(index_for(cluster), chosen, rows)
    if not fast_first:
        fast_tables = vectorized_sizes(cluster, chosen)
    for table, fast, slow in zip(("sizes", "counts"), fast_tables, slow_tables, strict=True):
        keys = ["design", "proxy", "xds_type"] if "xds_type" in fast else ["design", "proxy"]
        fast = fast[fast["proxy"].isin(np.asarray(rows))].sort_values(keys, ignore_index=True)
        slow = slow.sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=False, obj=f"{table} {design}")
    return len(fast)


def assert_exact_every_design(cluster: Cluster) -> None:
    """:func:`assert_methods_agree` on every proxy under every design."""
    from dsim import design_names

    for design in design_names():
        assert assert_methods_agree(cluster, design) == len(cluster.proxies)


def assert_envoy_accepts_every_proxy(cluster: Cluster) -> None:
    """The real Envoy accepts every proxy's config under every design."""
    from dsim import validate_configs

    verdicts = validate_configs(cluster, sample=len(cluster.proxies))
    assert verdicts["accepted"].all(), verdicts[~verdicts["accepted"]].to_string()


def assert_live_over_ads(config: ProxyConfig) -> None:
    """The real Envoy takes ``config`` over ADS (from an in-process server, at Istio's stats profile)
    and goes live: it holds more than it did idle."""
    from dsim.calibration.measure import measure
    from dsim.xds.envoy import envoy_binary

    taken = measure(config, profile="istio", concurrency=1, binary=envoy_binary())
    assert taken.allocated_bytes > taken.idle_allocated_bytes

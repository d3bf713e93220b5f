"""The vectorized accounting against its slow twin: equal on every (proxy, type) and count."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dsim import config_counts, config_sizes
from dsim.cluster import Cluster


def assert_methods_agree(cluster: Cluster, design: str, proxies: Sequence[int] | None = None) -> int:
    """Raise unless both methods give identical sizes and counts; return the rows compared."""
    for measure in (config_sizes, config_counts):
        fast = measure(cluster, design, method="vectorized", proxies=proxies)
        slow = measure(cluster, design, method="protobuf", proxies=proxies)
        keys = ["design", "proxy", "xds_type"] if "xds_type" in fast else ["design", "proxy"]
        fast = fast.sort_values(keys, ignore_index=True)
        slow = slow.sort_values(keys, ignore_index=True)
        pd.testing.assert_frame_equal(fast, slow, check_dtype=False, obj=f"{measure.__name__} {design}")
    return len(fast)

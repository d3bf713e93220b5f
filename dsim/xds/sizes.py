"""Config size in Istio's metric, by real serialization: per xDS type, the number of resources
and the sum of their serialized bytes (``len(Any.value)``; Istio's ``kb/msg`` is this / 1000)."""

from __future__ import annotations

import pandas as pd

from dsim.designs.base import Design
from dsim.xds.generate import XDS_TYPES, ProxyConfig, proxy_config
from dsim.xds.view import ClusterIndex

SIZE_COLUMNS = ["design", "proxy", "xds_type", "resources", "bytes"]


def config_size_rows(config: ProxyConfig) -> list[dict[str, object]]:
    """One row per xDS type of one proxy's config."""
    return [
        {
            "design": config.design,
            "proxy": config.proxy.proxy,
            "xds_type": xds_type,
            "resources": len(config.resources(xds_type)),
            "bytes": sum(message.ByteSize() for message in config.resources(xds_type)),
        }
        for xds_type in XDS_TYPES
    ]


def protobuf_config_sizes(index: ClusterIndex, design: Design, proxies: list[int]) -> pd.DataFrame:
    """Sizes of ``proxies``' configs under ``design``, by building and serializing every message."""
    rows = [row for proxy in proxies for row in config_size_rows(proxy_config(index, proxy, design))]
    return pd.DataFrame(rows, columns=SIZE_COLUMNS)

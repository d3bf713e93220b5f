"""Config size in Istio's metric, by real serialization: per xDS type, the number of resources
and the sum of their serialized bytes (``len(Any.value)``; Istio's ``kb/msg`` is this / 1000)."""

from __future__ import annotations

import pandas as pd

from dsim.designs.base import Design
from dsim.xds.access_logs import access_log_counts
from dsim.xds.cluster_objects import clusters_objects
from dsim.xds.failover import all_failover_priorities
from dsim.xds.generate import ProxyConfig, proxy_config
from dsim.xds.listeners import chain_count
from dsim.xds.routes import vhost_objects
from dsim.xds.view import ClusterIndex
from dsim.xds.vocabulary import COUNT_COLUMNS, XDS_TYPES

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


def config_count_row(config: ProxyConfig) -> dict[str, object]:
    """The object counts Envoy's memory depends on, read off one proxy's real messages
    (RDS route configurations and EDS endpoint sets; inline and static ones are not counted)."""
    vhosts = [v for r in config.routes for v in r.virtual_hosts]
    access_logs = [access_log_counts(x) for x in config.listeners]
    groups = [g for a in config.endpoints for g in a.endpoints]
    lbs = [lb for g in groups for lb in g.lb_endpoints]
    return {
        "design": config.design,
        "proxy": config.proxy.proxy,
        "listeners": len(config.listeners),
        "listener_additional_addresses": sum(len(x.additional_addresses) for x in config.listeners),
        "filter_chains": sum(chain_count(x) for x in config.listeners),
        "access_logs": sum(logs for logs, _ in access_logs),
        "access_log_operators": sum(operators for _, operators in access_logs),
        "clusters": len(config.clusters),
        **clusters_objects(config.clusters, config.endpoints),
        "route_configurations": len(config.routes),
        "virtual_hosts": len(vhosts),
        "domains": sum(len(v.domains) for v in vhosts),
        **vhost_objects(vhosts),
        "locality_groups": len(groups),
        "failover_priorities": all_failover_priorities(config.clusters, config.endpoints),
        "endpoints": len(lbs),
        "endpoint_additional_addresses": sum(len(lb.endpoint.additional_addresses) for lb in lbs),
    }


def protobuf_sizes_and_counts(
    index: ClusterIndex, design: Design, proxies: list[int]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sizes and object counts of ``proxies``' configs, from real messages."""
    configs = [proxy_config(index, proxy, design) for proxy in proxies]
    sizes = pd.DataFrame([row for c in configs for row in config_size_rows(c)], columns=SIZE_COLUMNS)
    counts = pd.DataFrame([config_count_row(c) for c in configs], columns=["design", "proxy", *COUNT_COLUMNS])
    return sizes, counts

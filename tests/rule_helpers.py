"""Building DestinationRules in tests, and reading back what a proxy's clusters took from them."""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import cluster_pb2

from dsim.cluster import Cluster
from dsim.designs import get_design
from dsim.xds.generate import proxy_config
from dsim.xds.view import index_for


def dr(name: str, namespace: str, host: str, selector: dict[str, str] | None = None, **spec: Any) -> Any:
    body: dict[str, Any] = {"host": host, **spec}
    if selector is not None:
        body["workloadSelector"] = {"matchLabels": selector}
    return {"name": name, "namespace": namespace, "spec": body}


def pool(connections: int) -> dict[str, Any]:
    return {"connectionPool": {"tcp": {"maxConnections": connections}}}


def clusters_of(cluster: Cluster, proxy: str, design: str = "single-stack") -> dict[str, cluster_pb2.Cluster]:
    index = index_for(cluster)
    config = proxy_config(index, index.find_proxy(proxy), get_design(design))
    return {c.name: c for c in config.clusters}


def pool_of(found: cluster_pb2.Cluster) -> int | None:
    thresholds = found.circuit_breakers.thresholds
    return thresholds[0].max_connections.value if thresholds else None


def rule_of(found: cluster_pb2.Cluster) -> str:
    fields = found.metadata.filter_metadata["istio"].fields if "istio" in found.metadata.filter_metadata else {}
    return fields["config"].string_value.rsplit("/", 1)[-1] if "config" in fields else ""

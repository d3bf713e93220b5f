"""Clusters as column tables: explicit and synthetic objects, addresses, proxies."""

from dsim.cluster.build import build_cluster, require_sidecars
from dsim.cluster.tables import SCHEMA, Cluster

__all__ = ["SCHEMA", "Cluster", "build_cluster", "require_sidecars"]

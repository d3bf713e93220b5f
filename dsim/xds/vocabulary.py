"""The names dsim's tables give xDS types and Envoy's objects, apart from the builders.

This module imports nothing, so the report and the push model name a column without loading
every Envoy message class the builders need.
"""

from __future__ import annotations

XDS_TYPES = ("listeners", "clusters", "routes", "endpoints")
"""The four resource kinds, in the order dsim reports them (LDS, CDS, RDS, EDS)."""

XDS_SHORT = {"listeners": "lds", "clusters": "cds", "routes": "rds", "endpoints": "eds"}
"""Each resource kind's short name (Istio's metric labels: ``type=eds``)."""

COUNT_COLUMNS = [
    "listeners",
    "listener_additional_addresses",
    "filter_chains",
    "clusters",
    "route_configurations",
    "virtual_hosts",
    "domains",
    "routes",
    "weighted_clusters",
    "header_matchers",
    "regex_matchers",
    "locality_groups",
    "endpoints",
    "endpoint_additional_addresses",
]
"""The object counts Envoy's memory depends on, per proxy."""

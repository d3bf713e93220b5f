"""The names dsim's tables give xDS types and Envoy's objects, apart from the builders.

This module imports nothing, so the report and the push model name a column without loading
every Envoy message class the builders need.
"""

from __future__ import annotations

XDS_TYPES = ("listeners", "clusters", "routes", "endpoints")
"""The four resource kinds, in the order dsim reports them (LDS, CDS, RDS, EDS)."""

XDS_SHORT = {"listeners": "lds", "clusters": "cds", "routes": "rds", "endpoints": "eds"}
"""Each resource kind's short name (Istio's metric labels: ``type=eds``)."""

ROUTE_ACTIONS = (
    "header_additions",
    "header_removals",
    "faults",
    "cors_policies",
    "mirror_policies",
    "retry_policies",
    "retry_priorities",
)
"""What a route does beside forwarding that Envoy builds an object for (:mod:`dsim.xds.routes`
counts them): each header it, or one of its weighted destinations, adds or sets, request or
response (a formatter each); each header it removes; a fault filter config; a CORS filter config;
each request mirror policy; its retry policy (every route to a service's cluster has one, unless its
VirtualService's ``retries`` or the mesh's ``defaultHttpRetryPolicy`` say ``attempts: 0``; a
catch-all has none); the retry priority a retry policy with ``retryRemoteLocalities`` carries (Envoy
keeps its own copy of the priority's config for each; a retry policy's other fields measured within
the noise of one run, docs/istio-objects.md 1.7a). Measured,
they are not small beside a route (``bench/route_actions_memory.py``, ``bench/mesh_defaults_memory.py``)."""

CLUSTER_OBJECTS = ("plaintext_clusters", "dns_clusters", "outlier_detectors", "hash_rings", "keepalive_options")
"""What a cluster holds, by what shaped it (:mod:`dsim.xds.cluster_objects` counts them): no TLS
context (``plaintext_clusters``: outbound clusters with neither a TLS transport socket nor Istio's
auto-mTLS matches), DNS resolution in place of an EDS subscription (STRICT_DNS and LOGICAL_DNS
clusters), an outlier detector, a consistent-hash ring; and the socket options its TCP keepalive
makes Envoy build (``keepalive_options``, any cluster: ``SO_KEEPALIVE``, and one for each of the
probes, time and interval set; the mesh's ``tcpKeepalive`` gives every cluster but the black hole
one, a DestinationRule's its own clusters, a Sidecar's ``inboundConnectionPool`` its inbound ones)."""


COUNT_COLUMNS = [
    "listeners",
    "listener_additional_addresses",
    "filter_chains",
    "access_logs",
    "access_log_operators",
    "clusters",
    *CLUSTER_OBJECTS,
    "route_configurations",
    "virtual_hosts",
    "domains",
    "routes",
    "weighted_clusters",
    "header_matchers",
    "regex_matchers",
    *ROUTE_ACTIONS,
    "locality_groups",
    "failover_priorities",
    "endpoints",
    "endpoint_additional_addresses",
]
"""The object counts Envoy's memory depends on, per proxy."""

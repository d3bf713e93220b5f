"""Words for the tables' identifiers, shared by plots and findings (no plotting here, so the
findings never import matplotlib)."""

from __future__ import annotations

# Kinds whose plain name is ambiguous next to the headline's xDS resources: an "endpoint" here
# is one address Envoy balances to, not an EDS resource (a cluster's whole set of them).
_EXACT = {
    "endpoints": "endpoints (LbEndpoints)",
    "locality_groups": "locality groups (LocalityLbEndpoints)",
    # Priced beside the clusters they are: what a cluster without a TLS context saves (negative),
    # what a DNS cluster costs against an EDS one, what an outlier detector or a hash ring adds.
    "plaintext_clusters": "clusters without TLS (their saving)",
    "dns_clusters": "DNS clusters (against an EDS one)",
    "hash_rings": "consistent-hash rings",
    # Envoy builds one for SO_KEEPALIVE and one per keepalive field set, and keeps them on the cluster.
    "keepalive_options": "TCP keepalive socket options",
    # A route's fault and CORS policies are per-route filter configs.
    "faults": "fault filter configs",
    "cors_policies": "CORS filter configs",
    # Named by the Istio field that asks for it: users set retryRemoteLocalities, and Envoy builds a
    # retry priority (a copy of its config per route) from it.
    "retry_priorities": "retry priorities (retryRemoteLocalities)",
    # Outlier detection turns on locality failover: each priority past the first is a host set more.
    "failover_priorities": "endpoint priorities past the first (locality failover)",
    # Each operator of an access log's format is a formatter of its own in Envoy.
    "access_log_operators": "access log format operators",
}


def object_label(column: str) -> str:
    """An Envoy object kind (a ``config_counts`` column or ``envoy_memory_by_object`` row) in
    words: ``filter_chains`` → ``filter chains``, ``endpoints`` → ``endpoints (LbEndpoints)``."""
    return _EXACT.get(column, column.replace("_", " "))

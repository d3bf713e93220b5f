"""Words for the tables' identifiers, shared by plots and findings (no plotting here, so the
findings never import matplotlib)."""

from __future__ import annotations

# Kinds whose plain name is ambiguous next to the headline's xDS resources: an "endpoint" here
# is one address Envoy balances to, not an EDS resource (a cluster's whole set of them).
_EXACT = {
    "endpoints": "endpoints (LbEndpoints)",
    "locality_groups": "locality groups (LocalityLbEndpoints)",
}


def object_label(column: str) -> str:
    """An Envoy object kind (a ``config_counts`` column or ``envoy_memory_by_object`` row) in
    words: ``filter_chains`` → ``filter chains``, ``endpoints`` → ``endpoints (LbEndpoints)``."""
    return _EXACT.get(column, column.replace("_", " "))

"""Words for the tables' identifiers, shared by plots and findings (no plotting here, so the
findings never import matplotlib)."""

from __future__ import annotations


def object_label(column: str) -> str:
    """An Envoy object kind (a ``config_counts`` column or ``envoy_memory_by_object`` row) in
    words: ``filter_chains`` → ``filter chains``."""
    return column.replace("_", " ")

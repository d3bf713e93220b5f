"""Exact config sizes for every proxy, computed on columns (no message per proxy or endpoint)."""

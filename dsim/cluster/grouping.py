"""Ragged columns split by key."""

from __future__ import annotations

import numpy as np


def grouped(keys: np.ndarray, values: np.ndarray, count: int) -> list[np.ndarray]:
    """For each key ``0..count-1``: its values, ascending (a ragged column split by key)."""
    order = np.lexsort((values, keys))
    keys, values = keys[order], values[order]
    bounds = np.searchsorted(keys, np.arange(count + 1))
    return [values[bounds[i] : bounds[i + 1]] for i in range(count)]

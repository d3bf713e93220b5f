"""One independent random stream per named component, all from the scenario's seed.

Streams are keyed by name rather than spawned in sequence, so adding a component never
changes the numbers another component draws.
"""

from __future__ import annotations

import zlib

import numpy as np


def generator(seed: int, component: str) -> np.random.Generator:
    """The random stream of ``component`` for ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(component.encode())]))

"""Envoy memory: what a sidecar's ``/memory`` says against what dsim's calibrated model predicts.

``/memory`` prints tcmalloc's counters as JSON strings (``allocated``, ``heap_size``,
``pageheap_unmapped``, ``pageheap_free``, ``total_thread_cache``, ``total_physical_bytes``).
The model predicts ``allocated`` (the bytes Envoy's objects hold) from the proxy's object counts,
the same prediction ``dsim run`` makes (:func:`dsim.api.envoy_costs`), so that is what is compared.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from dsim.api import envoy_costs
from dsim.calibration.model import Calibration
from dsim.check.archive import ArchiveError
from dsim.cluster import Cluster
from dsim.errors import CalibrationError

MEMORY_COLUMNS = ["proxy", "allocated_bytes", "heap_size_bytes", "predicted_bytes", "error_bytes", "relative_error"]


def read_memory(data: bytes | str, where: str) -> dict[str, int]:
    """``/memory``'s counters as integers (Envoy prints them as strings)."""
    try:
        document = json.loads(data)
        counters = {str(key): int(value) for key, value in document.items()}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError, ValueError) as e:
        raise ArchiveError(f"{where}: not Envoy's /memory JSON ({e})") from None
    if "allocated" not in counters:
        raise ArchiveError(f'{where}: Envoy\'s /memory without "allocated"')
    return counters


def predicted_memory(
    cluster: Cluster, design: str, rows: Sequence[int], *, calibration: Calibration | None = None
) -> tuple[dict[int, int], str]:
    """dsim's predicted allocated bytes per proxy row, and why there is none (empty when there is):
    a calibration that does not apply to this mesh (another Envoy concurrency) is a finding of
    the check, not a failure of it."""
    if not rows:
        return {}, ""
    try:
        costs = envoy_costs(cluster, design, calibration=calibration, proxies=list(rows))
    except CalibrationError as e:
        return {}, str(e)
    return {int(p): int(m) for p, m in zip(costs["proxy"], costs["envoy_memory_bytes"], strict=True)}, ""


def memory_table(observed: dict[str, dict[str, int]], predicted: dict[str, int]) -> pd.DataFrame:
    """Per proxy with a memory file: observed allocated and heap bytes, dsim's prediction, the error."""
    rows = []
    for proxy, counters in sorted(observed.items()):
        allocated = counters["allocated"]
        guess = predicted.get(proxy)
        error = None if guess is None else guess - allocated
        rows.append(
            {
                "proxy": proxy,
                "allocated_bytes": allocated,
                "heap_size_bytes": counters.get("heap_size"),
                "predicted_bytes": guess,
                "error_bytes": error,
                "relative_error": None if error is None or not allocated else error / allocated,
            }
        )
    return pd.DataFrame(rows, columns=MEMORY_COLUMNS)
